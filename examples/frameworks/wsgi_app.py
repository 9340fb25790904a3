"""A Wrenn webhook receiver as a plain WSGI app: the standard library only.

Serve it with any WSGI server, for example ``gunicorn examples.frameworks.wsgi_app:app``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from wrenn_webhooks import ChannelTest, WebhookReceiver

receiver = WebhookReceiver(secret=os.environ["WRENN_WEBHOOK_SECRET"])


@receiver.on("channel.test")
def channel_test(event: ChannelTest) -> None:
    print("test delivery received")


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["REQUEST_METHOD"] != "POST":
        start_response("405 Method Not Allowed", [("Allow", "POST"), ("Content-Length", "0")])
        return [b""]
    # Read at most one byte past the limit: handle() answers 413 for an oversized body.
    length = min(int(environ.get("CONTENT_LENGTH") or 0), receiver.max_body_bytes + 1)
    body = environ["wsgi.input"].read(length)
    # WSGI spells headers as HTTP_X_WRENN_SIGNATURE; handle() folds case, not underscores.
    headers = {
        key[5:].replace("_", "-"): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    response = receiver.handle(body, headers)
    payload = json.dumps(response.body).encode()
    status = HTTPStatus(response.status_code)
    start_response(
        f"{status.value} {status.phrase}",
        [*response.headers.items(), ("Content-Length", str(len(payload)))],
    )
    return [payload]


if __name__ == "__main__":
    from wsgiref.simple_server import make_server

    with make_server("127.0.0.1", 8000, app) as server:
        print("listening on http://127.0.0.1:8000/")
        server.serve_forever()
