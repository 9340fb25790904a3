"""Secret rotation: accept the new and the previous secret, and see which one signed.

``WRENN_WEBHOOK_SECRET`` holds the channel's secret: always one, a comma in it is
part of it. During a rotation, ``WRENN_WEBHOOK_PREVIOUS_SECRET`` holds the secret
it replaces; unset it once deliveries come signed with the new one.
"""

from __future__ import annotations

import logging
import os

from flask import Flask

from wrenn_webhooks import Response, WebhookReceiver
from wrenn_webhooks.flask import blueprint, delivery_failed, delivery_handled

log = logging.getLogger("examples.rotation")

secrets = [os.environ["WRENN_WEBHOOK_SECRET"]]  # the current secret first: index 0
if previous := os.environ.get("WRENN_WEBHOOK_PREVIOUS_SECRET"):
    secrets.append(previous)
receiver = WebhookReceiver(secret=secrets)

app = Flask(__name__)
app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")


def report_previous_secret(sender: Flask, response: Response) -> None:
    # Sent for 2xx and 5xx answers, whose delivery says which secret matched.
    delivery = response.delivery
    if delivery is not None and delivery.secret_index > 0:
        log.warning("delivery %s was signed with the previous secret", delivery.delivery_id)


delivery_handled.connect(report_previous_secret, app)
delivery_failed.connect(report_previous_secret, app)
