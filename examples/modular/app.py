"""The app: the Flask extension, configured from ``app.config``, with both routers.

Run: ``WRENN_WEBHOOK_SECRET=... flask --app examples.modular.app run``.
"""

from __future__ import annotations

import os

from flask import Flask

from examples.modular import capsules, hosts
from wrenn_webhooks.flask import WrennWebhooks

webhooks = WrennWebhooks()
webhooks.include_router(capsules.router)
webhooks.include_router(hosts.router)


def create_app(secret: str | None = None) -> Flask:
    """Build the app; the secret comes from the argument or WRENN_WEBHOOK_SECRET."""
    app = Flask(__name__)
    app.config["WRENN_WEBHOOK_SECRET"] = secret or os.environ.get("WRENN_WEBHOOK_SECRET")
    webhooks.init_app(app)
    return app
