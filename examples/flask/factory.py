"""The ``WrennWebhooks`` extension in an app factory, configured from ``app.config``.

Run: ``WRENN_WEBHOOK_SECRET=... flask --app examples.flask.factory run --port 8000``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app

from wrenn_webhooks import HostDown, HostUp
from wrenn_webhooks.flask import WrennWebhooks

webhooks = WrennWebhooks()


@webhooks.on("host.down")
def host_down(event: HostDown) -> None:
    current_app.logger.warning("host %s is down", event.host_id)


@webhooks.on("host.up")
def host_up(event: HostUp) -> None:
    current_app.logger.info("host %s is back", event.host_id)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(
        # One secret each (a string is never split); during a rotation, the previous
        # secret beside the current one. A list, ["new", "old"], works too.
        WRENN_WEBHOOK_SECRET=os.environ.get("WRENN_WEBHOOK_SECRET"),
        WRENN_WEBHOOK_PREVIOUS_SECRET=os.environ.get("WRENN_WEBHOOK_PREVIOUS_SECRET"),
        WRENN_WEBHOOK_URL_PREFIX="/webhooks/wrenn",
        WRENN_WEBHOOK_TOLERANCE=300,
        WRENN_WEBHOOK_MAX_BODY_BYTES=1024 * 1024,
        # "sqlite:///wrenn-idempotency.db" to share deduplication between workers.
        WRENN_WEBHOOK_STORE=os.environ.get("WRENN_WEBHOOK_STORE", "memory://"),
    )
    if config:
        app.config.update(config)
    webhooks.init_app(app)
    return app
