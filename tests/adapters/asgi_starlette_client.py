"""The ASGI adapter in a Starlette app, mounted with ``routes()``, in process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from starlette.applications import Starlette

from tests.adapters.asgi_client import ASGIClient
from tests.adapters.contract import PATH, Client
from wrenn_webhooks import WebhookReceiver
from wrenn_webhooks.asgi import routes


@contextmanager
def make_client(receiver: WebhookReceiver) -> Iterator[Client]:
    yield ASGIClient(Starlette(routes=routes(receiver, PATH)))
