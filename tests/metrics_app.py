"""A receiver watched by ``Metrics``, for the server tests of ``tests/test_metrics.py``.

Web mode (``gunicorn -w 2 tests.metrics_app:app``): the receiver answers at
``/webhooks/wrenn``, ``/metrics`` serves its metrics, and every answer names the
worker process that gave it in ``X-Worker-Pid``. Set ``PROMETHEUS_MULTIPROC_DIR``
for several workers.

Worker mode (``WRENN_METRICS_INBOX=FILE``, ``wrenn-webhooks worker
tests.metrics_app:receiver --metrics-port N``): the receiver stores events in that
SQLite inbox, and the command adds the ``Metrics`` itself.
"""

from __future__ import annotations

import os
import time

from flask import Flask, request
from flask import Response as FlaskResponse

from wrenn_webhooks import Event, WebhookReceiver
from wrenn_webhooks.flask import blueprint
from wrenn_webhooks.inbox import SQLiteInbox
from wrenn_webhooks.metrics import Metrics, flask_blueprint

INBOX = os.environ.get("WRENN_METRICS_INBOX")

receiver = WebhookReceiver(
    os.environ["WRENN_WEBHOOK_SECRET"], inbox=SQLiteInbox(INBOX) if INBOX else None
)


@receiver.on("capsule.pause")
def note_pause(event: Event) -> None:
    # Holds a sync worker a moment, so that concurrent requests reach both.
    time.sleep(0.005)


app = Flask(__name__)
app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
if not INBOX:
    metrics = Metrics()
    receiver.add_observer(metrics)
    app.register_blueprint(flask_blueprint(metrics))


@app.before_request
def hold_a_scrape() -> None:
    if request.path == "/metrics":
        time.sleep(0.02)  # as note_pause does: concurrent scrapes reach both workers


@app.after_request
def name_the_worker(response: FlaskResponse) -> FlaskResponse:
    response.headers["X-Worker-Pid"] = str(os.getpid())
    return response
