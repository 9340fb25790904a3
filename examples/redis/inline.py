"""Inline mode on several hosts: handlers run in the request, deduplicated through Redis.

Serve ``create_app()`` on each host: ``gunicorn "examples.redis.inline:create_app()"``.
Set ``WRENN_WEBHOOK_SECRET``, and ``WRENN_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``).
"""

from __future__ import annotations

import logging
import os

from flask import Flask

from wrenn_webhooks import CapsulePause
from wrenn_webhooks.flask import WrennWebhooks

log = logging.getLogger("examples.redis")

webhooks = WrennWebhooks()


@webhooks.on("capsule.pause", outcome="error")
def page_on_call(event: CapsulePause) -> None:
    log.error("PAGE capsule %s failed to pause: %s", event.capsule_id, event.error)


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["WRENN_WEBHOOK_SECRET"] = os.environ["WRENN_WEBHOOK_SECRET"]
    # Shared by every host: Wrenn's retry of an event is a duplicate wherever it lands.
    app.config["WRENN_WEBHOOK_STORE"] = os.environ.get(
        "WRENN_REDIS_URL", "redis://127.0.0.1:6379/0"
    )
    webhooks.init_app(app)
    return app
