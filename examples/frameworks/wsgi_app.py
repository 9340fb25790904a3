"""A Wrenn webhook receiver as a plain WSGI app: the standard library only.

Serve it with any WSGI server, for example ``gunicorn examples.frameworks.wsgi_app:app``,
or with ``wsgiref`` by running this file (``PORT`` to change the port, 8000 by default).
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


class BodyError(Exception):
    """The request cannot be read as a body: answer ``status`` and say why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The raw body, at most ``limit + 1`` bytes: ``handle()`` answers 413 past ``limit``."""
    length = environ.get("CONTENT_LENGTH", "").strip(" \t")
    if length:
        # 1-19 ASCII digits. int() alone would take "-1" (read to the end of the stream)
        # or "²", and raise on "abc" or 5,000 digits.
        if not (len(length) <= 19 and length.isascii() and length.isdigit()):
            raise BodyError(400, "Content-Length must be 1 to 19 ASCII digits")
        size = int(length)
        if size > limit:  # refused before a byte of it is read
            raise BodyError(413, f"body is larger than the {limit} bytes this receiver accepts")
    elif environ.get("wsgi.input_terminated"):
        size = limit + 1  # a chunked body that the server ends itself (gunicorn does)
    else:
        # No length, and a server that would not say where the body ends.
        raise BodyError(411, "send the body with a Content-Length")
    stream = environ["wsgi.input"]
    chunks: list[bytes] = []
    received = 0
    while received < size:
        try:
            chunk = stream.read(min(size - received, 65536))
        except Exception:  # the server's own parse errors, such as a bad chunk size
            raise BodyError(
                400, "the request body could not be read: its framing is invalid"
            ) from None
        if not chunk:
            break
        chunks.append(chunk)
        received += len(chunk)
    if length and received < size:
        raise BodyError(400, "the body ended before its Content-Length")
    return b"".join(chunks)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["REQUEST_METHOD"] != "POST":
        return respond(start_response, 405, {"ok": False, "error": "use POST"}, [("Allow", "POST")])
    try:
        body = read_body(environ, receiver.max_body_bytes)
    except BodyError as error:
        return respond(start_response, error.status, {"ok": False, "error": str(error)})
    # WSGI spells headers as HTTP_X_WRENN_SIGNATURE; handle() folds case, not underscores.
    headers = {
        key[5:].replace("_", "-"): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    response = receiver.handle(body, headers)
    return respond(start_response, response.status_code, response.body, response.headers.items())


def respond(
    start_response: Callable[..., Any],
    code: int,
    answer: dict[str, Any],
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    payload = json.dumps(answer).encode()
    status = HTTPStatus(code)
    fields = {"Content-Type": "application/json", **dict(headers)}
    start_response(
        f"{status.value} {status.phrase}",
        [*fields.items(), ("Content-Length", str(len(payload)))],
    )
    return [payload]


if __name__ == "__main__":
    from wsgiref.simple_server import make_server

    port = int(os.environ.get("PORT", "8000"))
    with make_server("127.0.0.1", port, app) as server:
        print(f"listening on http://127.0.0.1:{port}/")
        server.serve_forever()
