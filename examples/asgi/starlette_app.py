"""A Wrenn webhook receiver in Starlette, with a store shared by the server's workers.

Serve it with an ASGI server::

    WRENN_WEBHOOK_SECRET=... WRENN_WEBHOOK_STORE=sqlite:///wrenn-idempotency.db \\
    ALERT_URL=https://chat.example.com/hooks/... \\
        uvicorn examples.asgi.starlette_app:app --workers 2

and give Wrenn ``https://<your host>/webhooks/wrenn`` (with or without the
trailing slash). With ``--workers 2`` each worker process has its own receiver:
the SQLite store lets them agree on what was already handled (its calls run in
worker threads, off the event loop). Failed pauses are posted to ``ALERT_URL``
(printed when it is not set) with the HTTP client the app opens at start-up.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from wrenn_webhooks import CapsulePause, HostDown, WebhookReceiver
from wrenn_webhooks.asgi import routes
from wrenn_webhooks.stores import store_from_url

ALERT_URL = os.environ.get("ALERT_URL")

receiver = WebhookReceiver(
    os.environ["WRENN_WEBHOOK_SECRET"],
    idempotency=store_from_url(os.environ.get("WRENN_WEBHOOK_STORE", "memory://")),
)


@receiver.on("capsule.pause", outcome="error")
async def alert_failed_pause(event: CapsulePause) -> None:
    # Awaited on the app's event loop: the client made in lifespan() works here.
    text = f"capsule {event.capsule_id} failed to pause: {event.error}"
    if ALERT_URL is None:
        print(text)
        return
    chat: httpx.AsyncClient = app.state.chat
    reply = await chat.post(ALERT_URL, json={"text": text})
    reply.raise_for_status()  # answered 500: Wrenn sends the event again, for this handler


@receiver.on("host.down")
def host_down(event: HostDown) -> None:
    # A plain function runs in a worker thread: it may block without stalling the app.
    print(f"host {event.host_id} is down")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # One client for the app's whole life, made on the loop that serves the requests.
    # Its timeout stays well inside the 10 s Wrenn waits for an answer.
    async with httpx.AsyncClient(timeout=5, headers={"User-Agent": "wrenn-alerts"}) as chat:
        app.state.chat = chat
        yield


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


app = Starlette(
    # POST /webhooks/wrenn and /webhooks/wrenn/, both answered directly. Not a Mount:
    # it answers the path without the slash with a redirect, which Wrenn does not follow.
    routes=[*routes(receiver, "/webhooks/wrenn"), Route("/healthz", healthz)],
    lifespan=lifespan,
)
