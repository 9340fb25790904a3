"""Delivery metrics from the blueprint's signals, served at ``/metrics``.

Run: ``WRENN_WEBHOOK_SECRET=... flask --app examples.flask.metrics run --port 8000``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from typing import Any

from flask import Flask

from wrenn_webhooks import Response, WebhookReceiver
from wrenn_webhooks.flask import (
    blueprint,
    delivery_failed,
    delivery_handled,
    delivery_received,
    delivery_rejected,
)

log = logging.getLogger("examples.flask.metrics")
receiver = WebhookReceiver(os.environ["WRENN_WEBHOOK_SECRET"])


class DeliveryMetrics:
    """Counts answers by kind, status and event type, in Prometheus' text format."""

    def __init__(self) -> None:
        self.answers: Counter[tuple[str, int, str]] = Counter()
        self.bytes_received = 0
        self._lock = threading.Lock()

    def init_app(self, app: Flask) -> None:
        # Connected for this app only. Blinker keeps bound methods weakly: they
        # stay connected as long as this object lives.
        delivery_received.connect(self.received, app)
        delivery_handled.connect(self.handled, app)
        delivery_failed.connect(self.failed, app)
        delivery_rejected.connect(self.rejected, app)
        app.add_url_rule("/metrics", "metrics", self.render)

    def received(self, app: Flask, *, body_size: int | None, **extra: Any) -> None:
        with self._lock:
            self.bytes_received += body_size or 0  # None: a chunked body, size unknown

    def handled(self, app: Flask, *, response: Response, **extra: Any) -> None:
        self._count("handled", response)

    def failed(self, app: Flask, *, response: Response, **extra: Any) -> None:
        self._count("failed", response)
        log.error("delivery failed with %d: %s", response.status_code, response.error)

    def rejected(self, app: Flask, *, response: Response, **extra: Any) -> None:
        self._count("rejected", response)

    def _count(self, kind: str, response: Response) -> None:
        event = response.event.event if response.event is not None else "-"
        with self._lock:
            self.answers[(kind, response.status_code, event)] += 1

    def render(self) -> tuple[str, int, dict[str, str]]:
        with self._lock:
            lines = [
                f'wrenn_deliveries_total{{kind="{kind}",status="{status}",event="{event}"}} {n}'
                for (kind, status, event), n in sorted(self.answers.items())
            ]
            lines.append(f"wrenn_received_bytes_total {self.bytes_received}")
        return "\n".join(lines) + "\n", 200, {"Content-Type": "text/plain; version=0.0.4"}


metrics = DeliveryMetrics()


def create_app() -> Flask:
    app = Flask(__name__)
    app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
    metrics.init_app(app)
    return app
