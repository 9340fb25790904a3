"""A Wrenn webhook receiver in FastAPI, with an async handler that posts to a chat.

Serve it with an ASGI server::

    WRENN_WEBHOOK_SECRET=... ALERT_URL=https://chat.example.com/hooks/... \\
        uvicorn examples.asgi.fastapi_app:app

and give Wrenn ``https://<your host>/webhooks/wrenn`` (with or without the
trailing slash). Failed pauses are posted to ``ALERT_URL`` (printed when it is
not set) with the HTTP client the app opens at start-up.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from wrenn_webhooks import CapsulePause, HostDown, WebhookReceiver
from wrenn_webhooks.asgi import routes

ALERT_URL = os.environ.get("ALERT_URL")

receiver = WebhookReceiver(os.environ["WRENN_WEBHOOK_SECRET"])


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
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # One client for the app's whole life, made on the loop that serves the requests.
    # Its timeout stays well inside the 10 s Wrenn waits for an answer.
    async with httpx.AsyncClient(timeout=5, headers={"User-Agent": "wrenn-alerts"}) as chat:
        app.state.chat = chat
        yield


app = FastAPI(lifespan=lifespan)
# POST /webhooks/wrenn and /webhooks/wrenn/, both answered directly. Not app.mount():
# a mount answers the path without the slash with a redirect, which Wrenn does not follow.
app.router.routes.extend(routes(receiver, "/webhooks/wrenn"))


@app.get("/healthz")
async def healthz() -> dict[str, bool]:
    return {"ok": True}
