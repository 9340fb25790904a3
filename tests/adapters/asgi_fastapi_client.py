"""The ASGI adapter in a FastAPI app, its routes added to ``app.router``, in process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI

from tests.adapters.asgi_client import ASGIClient
from tests.adapters.contract import PATH, Client
from wrenn_webhooks import WebhookReceiver
from wrenn_webhooks.asgi import routes


@contextmanager
def make_client(receiver: WebhookReceiver) -> Iterator[Client]:
    app = FastAPI()
    app.router.routes.extend(routes(receiver, PATH))
    yield ASGIClient(app)
