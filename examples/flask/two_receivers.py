"""Two receivers in one app: production and staging, each with its own secret and URL.

Run: ``WRENN_WEBHOOK_SECRET=... WRENN_STAGING_SECRET=...
flask --app examples.flask.two_receivers run --port 8000``.
"""

from __future__ import annotations

import os

from flask import Flask, current_app

from wrenn_webhooks import CapsulePause
from wrenn_webhooks.flask import WrennWebhooks

production = WrennWebhooks()  # WRENN_WEBHOOK_* keys, POST /webhooks/wrenn
staging = WrennWebhooks(name="wrenn_staging", config_prefix="WRENN_STAGING")


@production.on("capsule.pause", outcome="error")
def page_on_call(event: CapsulePause) -> None:
    current_app.logger.error("capsule %s failed to pause: %s", event.capsule_id, event.error)


@staging.on("capsule.pause", outcome="error")
def note_in_staging(event: CapsulePause) -> None:
    current_app.logger.info("staging: capsule %s failed to pause", event.capsule_id)


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.update(
        WRENN_WEBHOOK_SECRET=os.environ.get("WRENN_WEBHOOK_SECRET"),
        WRENN_STAGING_SECRET=os.environ.get("WRENN_STAGING_SECRET"),
        WRENN_STAGING_URL_PREFIX="/webhooks/staging",
    )
    production.init_app(app)
    staging.init_app(app)
    return app
