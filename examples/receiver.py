"""An example Wrenn webhook receiver: alerts, audit logs and host tracking.

Run it with ``make run`` (``python -m examples.receiver --dev``), then send it an
event from another terminal with the command it prints.

Configuration, from the environment:

- ``WRENN_WEBHOOK_SECRET`` (required): the channel's secret, always one: a comma
  in it is part of it. Without it the module refuses to load, under any server;
  only ``python -m examples.receiver --dev`` falls back to ``DEV_SECRET``, a secret
  printed in the documentation that anyone can sign with.
- ``WRENN_WEBHOOK_PREVIOUS_SECRET``: during a rotation, the secret the current one
  replaces; deliveries signed with either are accepted. Unset (or empty) otherwise.
- ``WRENN_WEBHOOK_STORE``: ``sqlite:///wrenn-idempotency.db`` to share
  deduplication between worker processes (see ``examples/gunicorn.conf.py``).
- ``WRENN_INBOX_DB``: a file such as ``dev-inbox.db`` to store events in a durable
  inbox and answer 202 (run ``wrenn-webhooks worker examples.receiver:receiver`` to
  handle them). With ``--dev`` a worker runs in the process too, and the inbox console
  is served on ``/inbox/`` to requests from 127.0.0.1.
- ``HOST``, ``PORT``: where ``python -m examples.receiver`` listens.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
import threading
from collections.abc import Sequence

from flask import Flask, Request

from wrenn_webhooks import (
    CapsuleCreate,
    CapsuleDestroy,
    CapsulePause,
    CapsuleResume,
    ChannelTest,
    Delivery,
    Event,
    HostDown,
    HostUp,
    SnapshotCreate,
    SnapshotDelete,
    VolumeCreate,
    VolumeDelete,
    WebhookReceiver,
)
from wrenn_webhooks.flask import blueprint, console
from wrenn_webhooks.inbox import SQLiteInbox, Worker
from wrenn_webhooks.stores import store_from_url

# For `make run` only: Wrenn generates a secret like this per channel. It is public
# (printed here, in the docs and by `make run`), so anyone can sign events with it.
DEV_SECRET = "d3v5ecre7d3v5ecre7d3v5ecre7d3v5ecre7d3v5ecre7d3v5ecre7d3v5ecre7a"
NO_SECRET = "set WRENN_WEBHOOK_SECRET to the channel's secret (make run uses a development secret)"
PUBLIC_SECRET = "{} holds the public development secret: set the channel's own secret"
SECRET_VARIABLES = ("WRENN_WEBHOOK_SECRET", "WRENN_WEBHOOK_PREVIOUS_SECRET")
"""The current secret, then the one it replaces: the Flask extension's keys, read alike."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.receiver",
        description="Serve the example receiver with Flask's development server.",
    )
    parser.add_argument(
        "--dev",
        action="store_true",
        help="without WRENN_WEBHOOK_SECRET, accept the public DEV_SECRET (make run)",
    )
    return parser.parse_args(argv)


def secrets_from_env(*, dev: bool) -> list[str]:
    """The secret, then the previous one if set; ``DEV_SECRET`` without them only when ``dev``.

    Each variable holds one secret, never split: a team's own secret may hold a comma.
    """
    current, previous = (os.environ.get(name, "") for name in SECRET_VARIABLES)
    if not current:
        if dev:
            return [DEV_SECRET]
        raise RuntimeError(NO_SECRET)
    if not dev:
        for name, value in zip(SECRET_VARIABLES, (current, previous), strict=True):
            # Anywhere in it: "new,<DEV_SECRET>" (the comma-separated list older
            # versions of this example read) was meant to accept the public secret.
            if DEV_SECRET in value:
                raise RuntimeError(PUBLIC_SECRET.format(name))
    return [current, previous] if previous else [current]


# Imported by a server (gunicorn, flask run, ...), this module is never __main__: only
# `python -m examples.receiver --dev` can fall back to the development secret.
DEV = __name__ == "__main__" and parse_args().dev
try:
    SECRETS = secrets_from_env(dev=DEV)
except RuntimeError as error:
    if __name__ == "__main__":
        sys.exit(str(error))  # one line, no traceback
    raise  # a RuntimeError, not SystemExit: gunicorn stops instead of respawning workers
STORE = os.environ.get("WRENN_WEBHOOK_STORE")
INBOX = SQLiteInbox(os.environ["WRENN_INBOX_DB"]) if os.environ.get("WRENN_INBOX_DB") else None

log = logging.getLogger("examples.receiver")

receiver = WebhookReceiver(
    SECRETS, idempotency=store_from_url(STORE) if STORE else None, inbox=INBOX
)


class HostBoard:
    """Which hosts are down right now (a real app would use its database)."""

    def __init__(self) -> None:
        self._down: set[str] = set()
        self._lock = threading.Lock()

    def mark(self, host_id: str, *, up: bool) -> None:
        with self._lock:
            (self._down.discard if up else self._down.add)(host_id)

    def down(self) -> list[str]:
        with self._lock:
            return sorted(self._down)


hosts = HostBoard()


@receiver.on(CapsuleCreate)
def capsule_created(event: CapsuleCreate) -> None:
    if event.outcome == "error":
        log.error("capsule %s failed to start: %s", event.capsule_id, event.error)
    else:
        log.info("capsule %s started from template %s", event.capsule_id, event.template)


@receiver.on(CapsulePause, outcome="error")
def alert_failed_pause(event: CapsulePause, delivery: Delivery) -> None:
    # Page someone: a capsule that cannot pause keeps costing money.
    log.error(
        "ALERT capsule %s failed to pause (%s): %s [delivery %s%s]",
        event.capsule_id,
        event.reason or "requested",
        event.error,
        delivery.delivery_id,
        ", redelivery" if delivery.redelivery else "",
    )


@receiver.on(CapsulePause, outcome="success")
def capsule_paused(event: CapsulePause) -> None:
    log.info("capsule %s paused (%s)", event.capsule_id, event.reason or "by request")


@receiver.on(CapsuleResume)
def capsule_resumed(event: CapsuleResume) -> None:
    level = logging.ERROR if event.outcome == "error" else logging.INFO
    log.log(level, "capsule %s resume: %s %s", event.capsule_id, event.outcome, event.error or "")


@receiver.on(CapsuleDestroy)
def audit_destroy(event: CapsuleDestroy) -> None:
    who = event.actor.name or event.actor.id or event.actor.type
    log.info("AUDIT capsule %s destroyed by %s, reason: %s", event.capsule_id, who, event.reason)


@receiver.on([SnapshotCreate, SnapshotDelete])
def snapshots(event: SnapshotCreate | SnapshotDelete) -> None:
    log.info("template %s: %s %s", event.template_name, event.event, event.outcome)


@receiver.on(HostUp)
def host_up(event: HostUp) -> None:
    hosts.mark(event.host_id, up=True)
    log.info("host %s is up; down now: %s", event.host_id, hosts.down())


@receiver.on(HostDown)
def host_down(event: HostDown) -> None:
    hosts.mark(event.host_id, up=False)
    log.warning("host %s is DOWN; down now: %s", event.host_id, hosts.down())


@receiver.on(ChannelTest)
def channel_test(event: ChannelTest) -> None:
    log.info("channel test received: the webhook is wired up")


@receiver.on([VolumeCreate, VolumeDelete])
def volumes(event: VolumeCreate | VolumeDelete) -> None:
    name = event.volume_name
    log.info("volume %s (%s): %s %s", event.volume_id, name, event.event, event.outcome)


@receiver.on("*", outcome="error")
def count_failures(event: Event) -> None:
    log.debug("failure of %s on %s", event.event, event.resource.id)


def local_developer(request: Request) -> bool:
    """The console's ``authorize`` for ``--dev`` only: requests from this machine."""
    return DEV and request.remote_addr == "127.0.0.1"


def create_app() -> Flask:
    """The Flask app: the webhook route, a health check, and in development the console."""
    app = Flask(__name__)
    app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
    if INBOX is not None and DEV:
        # A key per run: the console's forms are signed with it, and expire with the process.
        app.config["SECRET_KEY"] = secrets.token_hex(32)
        app.register_blueprint(console(INBOX, authorize=local_developer), url_prefix="/inbox")

    @app.get("/healthz")
    def healthz() -> dict[str, object]:
        return {"ok": True, "hosts_down": hosts.down()}

    return app


app = create_app()


def main() -> None:
    """Serve the example on 127.0.0.1:8000 (``HOST``/``PORT`` to change)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8000"))
    url = f"http://{host}:{port}/webhooks/wrenn"
    dev_secret = SECRETS == [DEV_SECRET]
    rotating = " and $WRENN_WEBHOOK_PREVIOUS_SECRET" if len(SECRETS) > 1 else ""
    shown = DEV_SECRET if dev_secret else f"(from $WRENN_WEBHOOK_SECRET{rotating})"
    if dev_secret:
        print(
            "WARNING: development secret, public: anyone can sign events for this receiver."
            " Never expose it; deploy with WRENN_WEBHOOK_SECRET set.",
            file=sys.stderr,
            flush=True,
        )
    print(f"Wrenn webhook receiver listening on {url}", flush=True)
    print(f"Expecting secret: {shown}", flush=True)
    if INBOX is not None and DEV:
        Worker.start_in_background(receiver)
        print(f"Inbox {INBOX.path}: console on http://{host}:{port}/inbox/", flush=True)
    if dev_secret:
        print(
            f"Try: .venv/bin/wrenn-webhooks send {url} --secret {DEV_SECRET} "
            "--event capsule.pause --outcome error",
            flush=True,
        )
    app.run(host=host, port=port)


if __name__ == "__main__":
    main()
