"""The ASGI adapter as a top-level application, through httpx's ``ASGITransport``.

In process: each request runs on a new event loop (``asyncio.run``), so the
shared suite stays fast; ``tests/test_asgi.py`` runs the same app under uvicorn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx

from tests.adapters.contract import PATH, Answer, Client, lower
from wrenn_webhooks import WebhookReceiver
from wrenn_webhooks.asgi import ASGIApp, asgi_app


class ASGIClient:
    """Sends each request to an ASGI application in process."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def request(
        self,
        method: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        slash: bool = False,
    ) -> Answer:
        return asyncio.run(self.send(method, PATH + "/" * slash, body, headers))

    async def send(
        self, method: str, path: str, body: bytes, headers: Mapping[str, str] | None
    ) -> Answer:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            reply = await client.request(method, path, content=body, headers=dict(headers or {}))
        is_json = reply.headers.get("content-type", "").startswith("application/json")
        return Answer(reply.status_code, reply.json() if is_json else None, lower(reply.headers))


@contextmanager
def make_client(receiver: WebhookReceiver) -> Iterator[Client]:
    yield ASGIClient(asgi_app(receiver, path=PATH))
