"""One process that answers Wrenn and runs the handlers too, for small deployments.

Serve it with ``flask --app "examples.inbox.in_process:create_app()" run``, or with
``gunicorn "examples.inbox.in_process:create_app()"``: each gunicorn process then
runs its own worker thread.
"""

from __future__ import annotations

from flask import Flask

from examples.inbox.app import app, receiver
from wrenn_webhooks.inbox import Worker


def create_app() -> Flask:
    """The app, with a worker thread handling stored events in the background."""
    # Start it here, in the serving process, not at import: a thread does not survive a fork.
    app.extensions["wrenn_inbox_worker"] = Worker.start_in_background(receiver)
    return app
