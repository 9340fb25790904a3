"""A Wrenn webhook receiver in FastAPI.

Serve it with an ASGI server, for example ``uvicorn examples.frameworks.fastapi_app:app``.
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from wrenn_webhooks import CapsulePause, WebhookReceiver

receiver = WebhookReceiver(secret=os.environ["WRENN_WEBHOOK_SECRET"])


@receiver.on("capsule.pause", outcome="error")
def pause_failed(event: CapsulePause) -> None:
    print(f"capsule {event.capsule_id} failed to pause: {event.error}")


app = FastAPI()


def refuse(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": reason}, status)


@app.post("/webhooks/wrenn")
async def wrenn_webhook(request: Request) -> JSONResponse:
    limit = receiver.max_body_bytes
    length = request.headers.get("content-length")
    if length is not None:
        # 1-19 ASCII digits: int() alone would take "²" or "-1", and raise on 5,000 digits.
        length = length.strip(" \t")
        if not (0 < len(length) <= 19 and length.isascii() and length.isdigit()):
            return refuse(400, "Content-Length must be 1 to 19 ASCII digits")
        if int(length) > limit:  # answered at once, not after the client sent it all
            return refuse(413, f"body is larger than the {limit} bytes this receiver accepts")
    # The raw bytes (verification needs them untouched), never much more than limit + 1:
    # handle() answers 413 for a longer body. Not request.body(), which reads it all.
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                del body[limit + 1 :]
                break
    except ClientDisconnect:
        return refuse(400, "the body ended before its Content-Length")
    if length is not None and len(body) < int(length):
        return refuse(400, "the body ended before its Content-Length")
    # handle() is synchronous (HMAC, store, your handlers): keep it off the event loop.
    response = await run_in_threadpool(receiver.handle, bytes(body), request.headers)
    return JSONResponse(response.body, response.status_code, response.headers)
