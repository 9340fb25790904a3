"""ASGI applications that the tests serve under a real uvicorn process.

Each is a factory (``uvicorn --factory tests.asgi_apps:NAME``) configured from
the environment, as a deployed app would be: ``WRENN_WEBHOOK_SECRET`` and, where
it applies, ``WRENN_WEBHOOK_STORE`` (a store URL).
"""

from __future__ import annotations

import os

from wrenn_webhooks import Event, WebhookReceiver
from wrenn_webhooks.asgi import ASGIApp, asgi_app
from wrenn_webhooks.stores import store_from_url

PATH = "/webhooks/wrenn"


def receiver_app() -> ASGIApp:
    """The adapter as the top-level application at ``PATH``, with one async handler.

    The handler prints a line per event, so a test can tell from the server's
    output whether any event reached it.
    """
    store = os.environ.get("WRENN_WEBHOOK_STORE")
    receiver = WebhookReceiver(
        os.environ["WRENN_WEBHOOK_SECRET"],
        idempotency=store_from_url(store) if store else None,
    )

    @receiver.on("*")
    async def show(event: Event) -> None:
        print(f"── handled {event.event}", flush=True)

    return asgi_app(receiver, path=PATH)
