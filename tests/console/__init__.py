"""Tests of the inbox console: the Flask blueprint, through its test client and a browser."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.inbox import body_for, put
from wrenn_webhooks.flask import console

PREFIX = "/console"
SECRET_KEY = "console-tests-secret-key"
READS = {"stats", "activity", "list", "get"}
"""The inbox methods behind the pages."""


def fill(inbox: Any) -> dict[str, int]:
    """Four events, put a few minutes ago: done, failed, dead and new; their ids by state.

    Types and resources differ: done is a capsule.destroy of sb-0, the others capsule.pause
    events of sb-1, sb-2 and sb-3.
    """
    now = time.time()
    put(inbox, body_for("sb-0", kind="capsule.destroy"), now=now - 300)
    for n in range(1, 4):
        put(inbox, body_for(f"sb-{n}", metadata={"note": f"event {n}"}), now=now - 300 + n)
    done, failed, dead = inbox.claim("w1", now=now - 200, limit=3)
    inbox.complete_handler(failed.id, "app.audit", now=now - 200)
    inbox.finish(done.id, now=now - 120)
    inbox.fail(failed.id, {"app.notify": "ConnectionError: pager unreachable"}, now=now - 100)
    inbox.fail(dead.id, {"app.bill": "ValueError: no such account"}, now=now - 100, final=True)
    return {"done": done.id, "failed": failed.id, "dead": dead.id, "pending": dead.id + 1}


def local_only(request: Any) -> bool:
    """The tests' ``authorize``: requests from 127.0.0.1 only (the test client's address)."""
    return bool(request.remote_addr == "127.0.0.1")


def make_app(inbox: Any, **options: Any) -> Flask:
    """An app with ``SECRET_KEY`` and the console of ``inbox`` under ``PREFIX``."""
    app = Flask(__name__)
    app.config["SECRET_KEY"] = SECRET_KEY
    options.setdefault("authorize", local_only)
    app.register_blueprint(console(inbox, **options), url_prefix=PREFIX)
    return app


def token(client: FlaskClient, page: str, action: str) -> str:
    """The token of the form of ``page`` that posts to ``action``."""
    html = client.get(page).get_data(as_text=True)
    found = re.search(
        rf'action="{re.escape(action)}"[^>]*>\s*<input type="hidden" name="token" value="([^"]+)"',
        html,
    )
    assert found, f"no form posting to {action} on {page}"
    return found[1]


class Recorded:
    """An inbox that records the name of each method called on it."""

    def __init__(self, inbox: Any) -> None:
        self.inbox = inbox
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.inbox, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return method(*args, **kwargs)

        return call
