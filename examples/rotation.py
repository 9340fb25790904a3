"""Secret rotation: accept the new and the old secret, and see which one signed.

``WRENN_WEBHOOK_SECRET="new,old"`` during a rotation, ``"new"`` once it is over.
"""

from __future__ import annotations

import logging
import os

from flask import Flask, request

from wrenn_webhooks import WebhookReceiver

log = logging.getLogger("examples.rotation")

receiver = WebhookReceiver(secret=os.environ["WRENN_WEBHOOK_SECRET"].split(","))

app = Flask(__name__)


@app.post("/webhooks/wrenn")
def wrenn_webhook():
    response = receiver.handle(request.get_data(), request.headers)
    delivery = response.delivery
    if delivery is not None and delivery.secret_index > 0:
        log.warning("delivery %s was signed with an old secret", delivery.delivery_id)
    return response.body, response.status_code, response.headers
