"""``wrenn-webhooks worker`` and ``wrenn-webhooks inbox``: run workers, operate an inbox."""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import click
from click.core import ParameterSource

from .._text import printable
from ..errors import WrennWebhookError
from ..inbox import InboxItem, SQLiteInbox, Worker
from ..receiver import WebhookReceiver

if TYPE_CHECKING:
    from ..redis import RedisInbox

__all__ = ["inbox", "worker"]

DB_ENV = "WRENN_INBOX_DB"
REDIS_ENV = "WRENN_INBOX_REDIS"
_CHUNK = 500
"""Dead items retried per transaction by ``retry --dead``; more show a progress bar."""
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_DB_FILE = click.Path(exists=True, dir_okay=False)
_OPTIONS = {"db": "--db", "redis_url": "--redis"}
F = TypeVar("F", bound=Callable[..., Any])


# --- worker -------------------------------------------------------------------


def _import(import_path: str) -> Any:
    """Import the module of ``module:attribute`` and return the attribute (or the module)."""
    module_name, _, attribute = import_path.partition(":")
    if os.getcwd() not in sys.path:  # as `celery -A` and `flask --app` do
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module: say what failed, in one line
        reason = f"{type(exc).__name__}: {exc}"
        raise click.ClickException(f"cannot import {module_name!r}: {reason}") from None
    return getattr(module, attribute, None) if attribute else module


def load_receiver(import_path: str) -> WebhookReceiver:
    """Import ``module:attribute`` (or a module holding one receiver) and return the receiver."""
    module_name, _, attribute = import_path.partition(":")
    module = _import(module_name)
    if attribute:
        found = getattr(module, attribute, None)
    else:
        receivers = [v for v in vars(module).values() if isinstance(v, WebhookReceiver)]
        found = receivers[0] if len(receivers) == 1 else None
    if not isinstance(found, WebhookReceiver):
        raise click.ClickException(
            f"{import_path} is not a WebhookReceiver; give module:attribute,"
            " such as examples.receiver:receiver"
        )
    return found


@click.command()
@click.argument("import_path")
@click.option(
    "--flask-app",
    metavar="MODULE:APP",
    default=None,
    help="Run handlers inside this Flask app's context (current_app and g work).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve Prometheus metrics (handler runs, inbox gauges) on this port (the metrics extra).",
)
@click.option(
    "--metrics-addr",
    default="127.0.0.1",
    show_default=True,
    help="The address --metrics-port listens on; 0.0.0.0 for a scraper on another host.",
)
def worker(
    import_path: str, flask_app: str | None, metrics_port: int | None, metrics_addr: str
) -> None:
    """Handle the stored events of the receiver at IMPORT_PATH until SIGTERM or Ctrl-C.

    IMPORT_PATH is module:attribute, such as examples.receiver:receiver; the
    receiver must have an inbox. SIGTERM or Ctrl-C lets the running handler
    finish, gives unstarted events back and exits; a second one quits at once.
    """
    receiver = load_receiver(import_path)
    context = None
    if flask_app is not None:
        app = _import(flask_app)
        context = getattr(app, "app_context", None)
        if not callable(context):
            raise click.ClickException(f"{flask_app} is not a Flask app")
    try:
        runner = Worker(receiver, context=context)
    except WrennWebhookError as exc:
        raise click.ClickException(f"{import_path}: {exc}") from None
    if metrics_port is not None:
        _serve_metrics(receiver, metrics_port, metrics_addr)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        runner.stop()
        signal.signal(signum, signal.SIG_DFL)  # a second signal quits at once

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    click.echo(
        f"wrenn-webhooks worker {runner.worker_id}: {len(receiver.routes)} handlers,"
        f" inbox {receiver.inbox!r} (SIGTERM or Ctrl-C to stop)"
    )
    try:
        runner.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        close = getattr(receiver.inbox, "close", None)
        if callable(close):
            close()
    click.echo(f"wrenn-webhooks worker {runner.worker_id} stopped")


def _serve_metrics(receiver: WebhookReceiver, port: int, addr: str) -> None:
    """Serve the receiver's metrics (a ``Metrics`` it has, or a new one) on ``addr:port``."""
    try:  # imported here: prometheus_client is an extra, needed by this option only
        from ..metrics import InboxStats, Metrics, start_http_server
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    found = [o for o in receiver.observers if isinstance(o, Metrics)]
    inbox = receiver.inbox if isinstance(receiver.inbox, InboxStats) else None
    metrics = found[0] if found else Metrics(inbox=inbox)
    receiver.add_observer(metrics)
    try:
        start_http_server(metrics, port, addr=addr)
    except OSError as exc:
        raise click.ClickException(f"cannot serve metrics on {addr}:{port}: {exc}") from None
    click.echo(f"wrenn-webhooks worker: metrics on http://{addr}:{port}/metrics")


# --- inbox ----------------------------------------------------------------------


def _duration(value: str) -> float:
    match = _DURATION.fullmatch(value.strip())
    if match is None:
        raise click.BadParameter(f"{value!r} is not a duration such as 30s, 15m, 12h or 7d")
    return float(match[1]) * _UNITS[match[2]]


@dataclass
class _Where:
    """Where the inbox is, as given: ``db`` and ``redis_url`` values by where they came from.

    ``before`` and ``after`` the subcommand on the command line
    (``inbox --db F stats``, ``inbox stats --db F``), or from the ``environment``.
    """

    before: dict[str, str] = field(default_factory=dict)
    after: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)


_DB_HELP = f"The inbox file (or ${DB_ENV}); before or after the command."
_REDIS_HELP = (
    f"Or a Redis inbox, such as redis://127.0.0.1:6379/0 (or ${REDIS_ENV});"
    " before or after the command."
)


@click.group()
@click.option("--db", envvar=DB_ENV, type=click.Path(dir_okay=False), help=_DB_HELP)
@click.option("--redis", "redis_url", envvar=REDIS_ENV, metavar="URL", help=_REDIS_HELP)
@click.pass_context
def inbox(ctx: click.Context, db: str | None, redis_url: str | None) -> None:
    """Look into a durable inbox and act on it: stats, list, show, retry, purge.

    Give the inbox with --db or --redis, before or after the command.
    """
    where = ctx.ensure_object(_Where)
    for name, value in (("db", db), ("redis_url", redis_url)):
        if value is not None:
            from_env = ctx.get_parameter_source(name) is ParameterSource.ENVIRONMENT
            (where.environment if from_env else where.before)[name] = value


def _given_after(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """Record ``--db`` or ``--redis`` given after the subcommand."""
    if value is not None and param.name is not None:
        ctx.ensure_object(_Where).after[param.name] = value


def _inbox_options(command: F) -> F:
    """``--db`` and ``--redis`` after the subcommand too, as every other command takes them."""
    db = click.option(
        "--db",
        type=click.Path(dir_okay=False),
        help=_DB_HELP,
        expose_value=False,
        callback=_given_after,
    )
    redis = click.option(
        "--redis",
        "redis_url",
        metavar="URL",
        help=_REDIS_HELP,
        expose_value=False,
        callback=_given_after,
    )
    return db(redis(command))


def _located(ctx: click.Context) -> tuple[str, str]:
    """``("db", path)`` or ``("redis_url", url)``: the one inbox given, else a usage error.

    The command line wins over the environment; an option given both before
    and after the subcommand must have the same value in both places.
    """
    where = ctx.ensure_object(_Where)
    for name in where.before.keys() & where.after.keys():
        if where.before[name] != where.after[name]:
            raise click.UsageError(
                f"{_OPTIONS[name]} is given before and after {ctx.info_name!r} with different"
                " values: give it once",
                ctx,
            )
    given = {**where.before, **where.after}
    if not given:
        given = where.environment
        if len(given) > 1:
            raise click.UsageError(
                f"both ${DB_ENV} and ${REDIS_ENV} are set: unset one, or pass --db PATH or"
                " --redis URL",
                ctx,
            )
    if not given:
        raise click.UsageError(
            f"no inbox given: pass --db PATH or --redis URL (or set ${DB_ENV} or ${REDIS_ENV})",
            ctx,
        )
    if len(given) > 1:
        raise click.UsageError("both --db and --redis given: pass only one", ctx)
    ((name, value),) = given.items()
    if name == "db":
        hint = "--db" if given is not where.environment else f"${DB_ENV}"
        try:
            _DB_FILE.convert(value, None, ctx)
        except click.BadParameter as exc:
            raise click.BadParameter(exc.message, ctx, param_hint=f"'{hint}'") from None
    return name, value


def _redis_inbox(url: str) -> RedisInbox:
    try:
        from ..redis import RedisInbox
    except ImportError as exc:  # its message names the extra to install
        raise click.ClickException(str(exc)) from None
    return RedisInbox(url)


@contextmanager
def _opened(ctx: click.Context, *, read_only: bool = False) -> Iterator[SQLiteInbox | RedisInbox]:
    """Open the group's inbox; its errors become one line on stderr.

    ``read_only`` for the commands that only look: a SQLite file is then never
    created, switched to WAL, migrated or written, and must already hold an inbox.
    """
    name, where = _located(ctx)
    try:
        if name == "redis_url":
            box: SQLiteInbox | RedisInbox = _redis_inbox(where)
        else:
            box = SQLiteInbox(where, read_only=read_only)
        try:
            yield box
        finally:
            box.close()
    except WrennWebhookError as exc:
        raise click.ClickException(str(exc)) from None


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{datetime.fromtimestamp(seconds, timezone.utc):%Y-%m-%d %H:%M:%S}"


def _state(item: InboxItem, now: float) -> str:
    if item.lease_until is not None and item.lease_until > now:
        return "in flight"
    return "failed" if item.failed else item.status


@inbox.command()
@_inbox_options
@click.pass_context
def stats(ctx: click.Context) -> None:
    """Count events by state, and the age of the oldest pending one."""
    with _opened(ctx, read_only=True) as box:
        counts = box.stats(now=time.time())
    for name, value in counts.items():
        shown = "-" if value is None else f"{value:.1f} s" if isinstance(value, float) else value
        click.echo(f"{name:<20} {shown}")


@inbox.command("list")
@_inbox_options
@click.option("--status", type=click.Choice(["pending", "failed", "dead", "done"]))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1))
@click.pass_context
def list_command(ctx: click.Context, status: str | None, limit: int) -> None:
    """List events, oldest first ("failed": pending after a failed attempt)."""
    chosen = cast('Literal["pending", "failed", "dead", "done"] | None', status)
    now = time.time()
    with _opened(ctx, read_only=True) as box:
        items = box.list(chosen, limit=limit)
    if not items:
        click.echo("no events")
        return
    click.echo(
        f"{'ID':>6}  {'STATE':<9}  {'TRIES':>5}  {'RECEIVED (UTC)':<19}  {'EVENT':<24}  RESOURCE"
    )
    for item in items:
        line = (
            f"{item.id:>6}  {_state(item, now):<9}  {item.attempts:>5}  "
            f"{_when(item.received_at)}  {printable(item.event_type):<24}  "
            f"{printable(item.resource_id)}"
        )
        for name, error in item.last_errors.items():
            line += f"\n{'':>8}{printable(name)}: {printable(error, 120)}"
        click.echo(line)


@inbox.command()
@_inbox_options
@click.argument("item_id", metavar="ID", type=int)
@click.pass_context
def show(ctx: click.Context, item_id: int) -> None:
    """Show one event: where it stands, its handlers' errors, and its body."""
    with _opened(ctx, read_only=True) as box:
        item = box.get(item_id)
    if item is None:
        raise click.ClickException(f"no event {item_id} in the inbox")
    rows = {
        "id": item.id,
        "state": _state(item, time.time()),
        "event": printable(item.event_type),
        "resource": printable(item.resource_id),
        "delivery": printable(item.delivery_id or "-"),
        "signed at": _when(item.signed_at),
        "received at": _when(item.received_at),
        "attempts": item.attempts,
        "next attempt": _when(item.next_attempt_at),
        "finished at": _when(item.finished_at),
        "lease": f"{item.lease_owner} until {_when(item.lease_until)}" if item.lease_until else "-",
        "key": item.key,
        "completed": ", ".join(sorted(item.completed)) or "-",
    }
    for name, value in rows.items():
        click.echo(f"{name:<13} {value}")
    for name, error in item.last_errors.items():
        click.echo(f"error         {printable(name)}: {printable(error, None)}")
    click.echo("body")
    try:
        text = json.dumps(json.loads(item.body), indent=2, ensure_ascii=False)
    except ValueError:
        text = item.body.decode("utf-8", "replace")
    # JSON escapes C0 controls only: DEL, C1, U+2028/9 and bidi controls stay raw.
    click.echo("\n".join(printable(line, None) for line in text.split("\n")))


@inbox.command()
@_inbox_options
@click.argument("item_id", metavar="[ID]", type=int, required=False)
@click.option("--dead", is_flag=True, help="Retry every dead event.")
@click.pass_context
def retry(ctx: click.Context, item_id: int | None, dead: bool) -> None:
    """Make event ID due now, or every dead event with --dead.

    Handlers that completed do not run again; a dead event gets one more attempt.
    """
    if (item_id is None) == (not dead):
        raise click.UsageError("give an event ID or --dead, not both")
    with _opened(ctx) as box:
        if item_id is not None:
            if not box.retry(item_id):
                item = box.get(item_id)
                state = "is done" if item is not None else "is not in the inbox"
                raise click.ClickException(f"event {item_id} {state}: nothing to retry")
            click.echo(f"event {item_id} is due now")
            return
        total = int(box.stats(now=time.time())["dead"] or 0)
        if total <= _CHUNK:
            retried = box.retry_dead()
        else:
            retried = 0
            with click.progressbar(length=total, label="retrying dead events") as bar:
                while moved := box.retry_dead(limit=_CHUNK):
                    retried += moved
                    bar.update(moved)
    click.echo(f"{retried} dead events are due now")


@inbox.command()
@_inbox_options
@click.option(
    "--older-than",
    required=True,
    callback=lambda ctx, param, value: _duration(value),
    help="Finished longer ago than this: 30s, 15m, 12h, 7d.",
)
@click.pass_context
def purge(ctx: click.Context, older_than: float) -> None:
    """Delete done events finished longer ago than --older-than (dead ones stay)."""
    with _opened(ctx) as box:
        purged = box.purge(older_than, now=time.time())
    click.echo(f"purged {purged} done events")
