"""The Flask blueprint, through Flask's test client."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from flask import Flask

from tests.adapters.contract import PATH, Answer, Client, lower
from wrenn_webhooks import WebhookReceiver
from wrenn_webhooks.flask import blueprint


class _FlaskClient:
    def __init__(self, app: Flask) -> None:
        self.client = app.test_client()

    def request(
        self,
        method: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        slash: bool = False,
    ) -> Answer:
        reply = self.client.open(
            PATH + "/" * slash, method=method, data=body, headers=dict(headers or {})
        )
        text = reply.get_data()
        return Answer(
            reply.status_code, json.loads(text) if reply.is_json else None, lower(reply.headers)
        )


@contextmanager
def make_client(receiver: WebhookReceiver) -> Iterator[Client]:
    app = Flask(__name__)
    app.register_blueprint(blueprint(receiver), url_prefix=PATH)
    yield _FlaskClient(app)
