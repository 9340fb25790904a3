"""A Wrenn webhook receiver in FastAPI.

Serve it with an ASGI server, for example ``uvicorn examples.frameworks.fastapi_app:app``.
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from wrenn_webhooks import CapsulePause, WebhookReceiver

receiver = WebhookReceiver(secret=os.environ["WRENN_WEBHOOK_SECRET"])


@receiver.on("capsule.pause", outcome="error")
def pause_failed(event: CapsulePause) -> None:
    print(f"capsule {event.capsule_id} failed to pause: {event.error}")


app = FastAPI()


@app.post("/webhooks/wrenn")
async def wrenn_webhook(request: Request) -> JSONResponse:
    body = await request.body()  # the raw bytes: verification needs them untouched
    # handle() is synchronous (HMAC, store, your handlers): keep it off the event loop.
    response = await run_in_threadpool(receiver.handle, body, request.headers)
    return JSONResponse(response.body, response.status_code, response.headers)
