"""The blueprint, mounted under a prefix; handlers use ``current_app`` and ``g``.

Run: ``WRENN_WEBHOOK_SECRET=... flask --app examples.flask.app run --port 8000``.
"""

from __future__ import annotations

import os
import sqlite3

from flask import Flask, current_app, g

from wrenn_webhooks import CapsulePause, Delivery, WebhookReceiver
from wrenn_webhooks.flask import blueprint

receiver = WebhookReceiver(os.environ["WRENN_WEBHOOK_SECRET"])


def get_db() -> sqlite3.Connection:
    """One connection per app context, closed when the context ends."""
    if "db" not in g:
        g.db = sqlite3.connect(current_app.config["INCIDENTS_DB"])
        g.db.execute(
            "CREATE TABLE IF NOT EXISTS incidents (capsule TEXT, error TEXT, delivery TEXT)"
        )
    db: sqlite3.Connection = g.db
    return db


def close_db(exc: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


@receiver.on("capsule.pause", outcome="error")
def record_incident(event: CapsulePause, delivery: Delivery) -> None:
    # Runs inside the request's app context: current_app and g work here.
    with get_db() as db:
        db.execute(
            "INSERT INTO incidents VALUES (?, ?, ?)",
            (event.capsule_id, event.error, delivery.delivery_id),
        )


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["INCIDENTS_DB"] = os.environ.get("INCIDENTS_DB", "incidents.db")
    app.teardown_appcontext(close_db)
    # POST /webhooks/wrenn and POST /webhooks/wrenn/ are both answered, neither redirects.
    app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
    return app
