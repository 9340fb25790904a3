"""A minimal Wrenn webhook receiver: ``make run`` serves it on 127.0.0.1:8000."""

from __future__ import annotations

import os

from flask import Flask, request

from wrenn_webhooks import SignatureError, WrennWebhookError, parse_event, verify

DEV_SECRET = "dev-secret-change-me"
SECRET = os.environ.get("WRENN_WEBHOOK_SECRET", DEV_SECRET)

app = Flask(__name__)


@app.post("/webhooks/wrenn")
def receive() -> tuple[dict[str, object], int]:
    body = request.get_data()
    try:
        verify(body, request.headers, SECRET)
        event = parse_event(body)
    except SignatureError as exc:
        return {"error": str(exc)}, exc.status_code
    except WrennWebhookError as exc:
        return {"error": str(exc)}, exc.status_code
    app.logger.warning("received %s (%s)", event.event, event.outcome)
    return {"ok": True}, 200


if __name__ == "__main__":
    print("Wrenn webhook receiver on http://127.0.0.1:8000/webhooks/wrenn")
    print(f"expecting secret: {'$WRENN_WEBHOOK_SECRET' if SECRET != DEV_SECRET else SECRET}")
    app.run(host="127.0.0.1", port=8000)
