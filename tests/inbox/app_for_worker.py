"""A receiver in inbox mode for the worker and multi-host process tests, from the environment.

The inbox is on Redis at ``WRENN_TEST_REDIS`` when it is set (every receiver and
worker process shares it), else in ``inbox.db`` in ``WRENN_TEST_DIR``.
``WRENN_TEST_DIR`` holds the log of handler runs (``runs.log``: one ``pid handler
resource`` line per run) and the flag files: a ``capsule.pause`` whose metadata has
``block`` makes ``second`` touch ``started-<pid>`` and wait for ``go``.
``WRENN_TEST_LEASE`` sets the lease. ``app`` serves the receiver, for gunicorn.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from flask import Flask

from tests.vectors import SECRET
from wrenn_webhooks import Event, WebhookReceiver
from wrenn_webhooks.flask import blueprint
from wrenn_webhooks.inbox import SQLiteInbox

DIR = Path(os.environ["WRENN_TEST_DIR"])
LEASE = float(os.environ.get("WRENN_TEST_LEASE", "60"))

if os.environ.get("WRENN_TEST_REDIS"):
    from wrenn_webhooks.redis import RedisInbox

    inbox: SQLiteInbox | RedisInbox = RedisInbox(
        os.environ["WRENN_TEST_REDIS"], lease=LEASE, retry_delays=(0.1,)
    )
else:
    inbox = SQLiteInbox(DIR / "inbox.db", lease=LEASE, retry_delays=(0.1,))
receiver = WebhookReceiver(SECRET, inbox=inbox)
app = Flask(__name__)
app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")


def record(name: str, event: Event) -> None:
    # One short append per line: lines from several processes never interleave.
    with (DIR / "runs.log").open("a") as log:
        log.write(f"{os.getpid()} {name} {event.resource.id}\n")


@receiver.on("capsule.pause")
def first(event: Event) -> None:
    record("first", event)


@receiver.on("capsule.pause")
def second(event: Event) -> None:
    if "block" in event.metadata:
        record("second-started", event)
        (DIR / f"started-{os.getpid()}").touch()
        deadline = time.monotonic() + 30
        while not (DIR / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    record("second", event)
