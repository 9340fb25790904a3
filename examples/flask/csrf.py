"""CSRF protection for the app's forms (Flask-WTF), with the webhook route exempt.

Wrenn cannot send a CSRF token: the signature is what proves a delivery genuine.
Run: ``WRENN_WEBHOOK_SECRET=... FLASK_SECRET_KEY=... flask --app examples.flask.csrf run``.
"""

from __future__ import annotations

import os
import secrets

from flask import Flask
from flask_wtf.csrf import CSRFProtect  # type: ignore[import-untyped]

from wrenn_webhooks import ChannelTest, WebhookReceiver
from wrenn_webhooks.flask import blueprint

csrf = CSRFProtect()
receiver = WebhookReceiver(os.environ["WRENN_WEBHOOK_SECRET"])
webhooks_bp = blueprint(receiver)
csrf.exempt(webhooks_bp)  # every other POST still needs a token


@receiver.on("channel.test")
def wired_up(event: ChannelTest) -> None:
    print("test delivery received: the channel is wired up")


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("FLASK_SECRET_KEY") or secrets.token_hex(32)
    csrf.init_app(app)
    app.register_blueprint(webhooks_bp, url_prefix="/webhooks/wrenn")

    @app.post("/settings")
    def save_settings() -> dict[str, bool]:
        return {"saved": True}

    return app
