"""A receiver in inbox mode on Redis for the multi-host tests, set up from the environment.

``WRENN_TEST_REDIS`` is the Redis URL every receiver and worker process shares.
``WRENN_TEST_DIR`` holds the log of handler runs (``runs.log``: one ``pid handler
resource`` line per run) and the flag files: a ``capsule.pause`` whose metadata has
``block`` makes ``second`` touch ``started-<pid>`` and wait for ``go``.
``WRENN_TEST_LEASE`` sets the lease.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from flask import Flask

from tests.vectors import SECRET
from wrenn_webhooks import Event, WebhookReceiver
from wrenn_webhooks.flask import blueprint
from wrenn_webhooks.redis import RedisInbox

DIR = Path(os.environ["WRENN_TEST_DIR"])

inbox = RedisInbox(
    os.environ["WRENN_TEST_REDIS"],
    lease=float(os.environ.get("WRENN_TEST_LEASE", "60")),
    retry_delays=(0.1,),
)
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
