"""The inbox console on an app in inbox mode: operators see and act on its inbox.

Serve it with ``flask --app examples.console.app run``. Set ``WRENN_WEBHOOK_SECRET``,
``SECRET_KEY`` (it signs the session and the console's forms) and ``WRENN_INBOX_DB``.
"""

from __future__ import annotations

import os

from flask import Flask, Request, session

from wrenn_webhooks import CapsulePause, WebhookReceiver
from wrenn_webhooks.flask import blueprint, console
from wrenn_webhooks.inbox import SQLiteInbox

inbox = SQLiteInbox(os.environ.get("WRENN_INBOX_DB", "wrenn-inbox.db"))
receiver = WebhookReceiver(os.environ["WRENN_WEBHOOK_SECRET"], inbox=inbox)


@receiver.on("capsule.pause", outcome="error")
def page_on_call(event: CapsulePause) -> None:
    print(f"capsule {event.capsule_id} failed to pause: {event.error}")


def is_operator(request: Request) -> bool:
    """Your app's own check; here, a role its login view stored in the session."""
    return session.get("role") == "operator"


app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
app.register_blueprint(console(inbox, authorize=is_operator), url_prefix="/ops/inbox")
