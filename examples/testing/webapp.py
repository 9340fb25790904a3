"""A Flask app that receives Wrenn webhooks on ``/webhooks/wrenn``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from billing import Ledger, register
from flask import Flask, request

from wrenn_webhooks import WebhookReceiver


def create_app(secret: str, ledger: Ledger, *, clock: Callable[[], float] = time.time) -> Flask:
    app = Flask(__name__)
    receiver = WebhookReceiver(secret, clock=clock)
    register(receiver, ledger)

    @app.post("/webhooks/wrenn")
    def wrenn_webhook() -> tuple[dict[str, Any], int, dict[str, str]]:
        response = receiver.handle(request.get_data(), request.headers)
        return response.body, response.status_code, response.headers

    return app
