"""The floor over HTTP: a bare Flask view doing only the standard library's work.

HMAC-SHA256 hexdigest of ``timestamp + "." + body``, ``hmac.compare_digest``
and ``json.loads``: what ``benchmarks.bench_core`` calls the floor, behind the
same Flask and gunicorn as the example receiver, on the same path. Served by
``benchmarks.bench_http`` as ``gunicorn benchmarks.bare_app:app``; the secret
comes from ``WRENN_WEBHOOK_SECRET`` (the first one, if several).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os

from flask import Flask, request
from flask.typing import ResponseReturnValue

# The example receiver's development secret, when none is configured.
DEV_SECRET = "d3v5ecre7d3v5ecre7d3v5ecre7d3v5ecre7d3v5ecre7d3v5ecre7d3v5ecre7a"
JSON = {"Content-Type": "application/json"}


def create_app(secret: str) -> Flask:
    """A Flask app with one ``POST /webhooks/wrenn`` view doing the floor's work."""
    key = secret.encode()
    app = Flask(__name__)

    @app.post("/webhooks/wrenn")
    def receive() -> ResponseReturnValue:
        body = request.get_data(cache=False)
        stamp = request.headers.get("X-Wrenn-Timestamp", "")
        digest = hmac.new(key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        signature = request.headers.get("X-Wrenn-Signature", "")
        if not hmac.compare_digest("sha256=" + digest, signature):
            return json.dumps({"ok": False}), 401, JSON
        event = json.loads(body)
        return json.dumps({"ok": True, "event": event["event"], "handled": 1}), 200, JSON

    return app


app = create_app(os.environ.get("WRENN_WEBHOOK_SECRET", DEV_SECRET).split(",")[0])
