"""The ``wrenn-webhooks`` command line (click, which Flask already brings).

``send`` delivers events exactly as Wrenn's Go sender does, ``serve`` is a
local receiver that prints what arrives, ``verify`` checks a captured request,
``events`` lists the event types, ``secret`` makes a new secret. ``worker`` and
``inbox`` (in ``wrenn_webhooks.cli.inbox``) run workers and operate an inbox.
"""

from __future__ import annotations

import http.client
import json
import secrets as _secrets
import sys
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from .. import __version__, _headers
from .._text import printable
from ..encoding import encode_event, format_event_time
from ..errors import SignatureError, WrennWebhookError
from ..events import EVENT_CLASSES, LEGACY_EVENT_TYPES, Event, EventType, parse_event
from ..signature import DEFAULT_TOLERANCE, parse_timestamp, sign, verify
from . import inbox as inbox_commands

__all__ = ["cli", "main"]

SECRET_ENV = "WRENN_WEBHOOK_SECRET"
WRENN_TIMEOUT = 10.0
"""Seconds Wrenn's HTTP client waits for an answer."""
WRENN_RETRY_DELAYS = (10.0, 30.0)
"""Seconds Wrenn waits before its second and third attempts."""

F = TypeVar("F", bound=Callable[..., Any])


def _secret_option(f: F) -> F:
    return click.option(
        "--secret",
        envvar=SECRET_ENV,
        required=True,
        help=f"The channel secret (or ${SECRET_ENV}).",
    )(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wrenn-webhooks")
def cli() -> None:
    """Receive, send and inspect Wrenn webhooks."""


# --- send -------------------------------------------------------------------


def _metadata(pairs: Sequence[str]) -> dict[str, str]:
    metadata = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--metadata")
        metadata[key] = value
    return metadata


def _delays(value: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter("give seconds separated by commas, such as 10,30") from None
    if any(delay < 0 for delay in delays):
        raise click.BadParameter("delays cannot be negative")
    return delays


def post_like_wrenn(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float = WRENN_TIMEOUT
) -> tuple[int | None, str]:
    """POST once as Wrenn's client does: JSON, a timeout, no redirects followed.

    Returns the status (``None`` when no answer came) and a short description.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(f"{url!r} is not an http(s) URL", param_hint="URL")
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(
            "POST", path, body=body, headers={"Content-Type": "application/json", **headers}
        )
        response = connection.getresponse()
        text = response.read(2048).decode("utf-8", "replace").strip()
        # The answer's text goes to the terminal: escaped, as whatever a server sends.
        return response.status, printable(f"{response.status} {response.reason} {text}", 2100)
    except TimeoutError:
        return None, f"no answer within {timeout:g} s"
    except OSError as exc:
        return None, f"connection failed: {exc.strerror or exc}"
    finally:
        connection.close()


def _event_overrides(
    event_type: str,
    outcome: str | None,
    metadata: tuple[str, ...],
    error_message: str | None,
    team_id: str | None,
) -> dict[str, Any]:
    """The fields ``send`` gives each event it builds; usage errors for those that do not fit."""
    cls = EVENT_CLASSES.get(event_type)
    if error_message is not None and outcome == "success":
        raise click.UsageError("--error goes with --outcome error")
    if (outcome or error_message is not None) and cls is not None and not cls.has_outcome:
        raise click.UsageError(f"{event_type} events carry no outcome or error")
    if error_message is not None:
        outcome = "error"
    overrides: dict[str, Any] = {}
    if metadata:
        overrides["metadata"] = _metadata(metadata)
    if team_id is not None:
        overrides["team_id"] = team_id
    if outcome is not None:
        overrides["outcome"] = outcome
    return overrides


def _deliver(
    url: str,
    body: bytes,
    secret: str,
    *,
    name: str,
    delays: tuple[float, ...],
    timeout: float,
) -> bool:
    """Post ``body`` after each of ``delays`` until an answer is 2xx; ``False`` if none was."""
    for attempt, delay in enumerate(delays, start=1):
        if delay:
            click.echo(f"  retrying in {delay:g} s")
            time.sleep(delay)
        headers = sign(body, secret)
        status, description = post_like_wrenn(url, body, headers, timeout=timeout)
        click.echo(f"{name} attempt {attempt}: {description}")
        if status is not None and 200 <= status < 300:
            return True
    return False


@cli.command()
@click.argument("url")
@_secret_option
@click.option(
    "--event",
    "event_type",
    default="capsule.pause",
    show_default=True,
    help="The event type; see `wrenn-webhooks events`. Unknown types are sent as given.",
)
@click.option(
    "--outcome",
    type=click.Choice(["success", "error"]),
    default=None,
    help="Default: success for types that have an outcome (error with --error).",
)
@click.option(
    "--metadata",
    "metadata",
    multiple=True,
    metavar="KEY=VALUE",
    help="Replace the event's metadata; repeat for several keys.",
)
@click.option(
    "--error", "error_message", default=None, help="The failure reason (implies --outcome error)."
)
@click.option("--team-id", default=None, help="Default: a realistic random team id.")
@click.option(
    "--body-file",
    type=click.File("rb"),
    default=None,
    help="Send these exact bytes instead of a built event ('-' for stdin).",
)
@click.option(
    "--count",
    default=1,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="How many distinct events to send, one after another.",
)
@click.option("--retry", is_flag=True, help="Retry failures after 10 s and 30 s, as Wrenn does.")
@click.option(
    "--retry-delays",
    default="10,30",
    show_default=True,
    callback=lambda ctx, param, value: _delays(value),
    help="Seconds between attempts with --retry.",
)
@click.option(
    "--timeout",
    default=WRENN_TIMEOUT,
    show_default=True,
    type=float,
    help="Seconds to wait for each answer, as Wrenn's client does.",
)
def send(
    url: str,
    secret: str,
    event_type: str,
    outcome: str | None,
    metadata: tuple[str, ...],
    error_message: str | None,
    team_id: str | None,
    body_file: Any,
    count: int,
    retry: bool,
    retry_delays: tuple[float, ...],
    timeout: float,
) -> None:
    """Deliver realistic events to URL exactly as Wrenn does (like `stripe trigger`).

    Same JSON bytes as Go's encoding/json, same headers, a 10 s timeout, no
    redirects followed. Every attempt is signed afresh with a new delivery id.
    """
    from ..testing import make_event

    overrides = _event_overrides(event_type, outcome, metadata, error_message, team_id)
    fixed_body = body_file.read() if body_file is not None else None
    delays = (0.0, *retry_delays) if retry else (0.0,)
    failed = 0
    for number in range(1, count + 1):
        if fixed_body is not None:
            body, label = fixed_body, f"{len(fixed_body)} bytes from file"
        else:
            event = make_event(event_type, **overrides)
            if error_message is not None:
                event = event.model_copy(update={"error": error_message})
            body, label = encode_event(event), f"{event.event} {event.outcome or ''}".strip()
        name = f"event {number}/{count} ({label})"
        if not _deliver(url, body, secret, name=name, delays=delays, timeout=timeout):
            failed += 1
    if failed:
        raise click.ClickException(f"{failed} of {count} events were not accepted")


# --- serve ------------------------------------------------------------------


def describe_event(event: Event, delivery_id: str | None = None) -> str:
    """Render an event as a readable block of text, one line per field.

    Every value comes from the body: each is escaped (``printable``), so a
    control character or a terminal escape sequence in it shows as ``\\x1b``
    and cannot add a line or drive the terminal.
    """
    actor = event.actor
    who = " ".join(printable(part) for part in (actor.type, actor.id, actor.name) if part)
    heading = f"── {printable(event.event)}  {printable(event.outcome or '')}"
    lines = [
        f"{heading}  {format_event_time(event.timestamp)}".rstrip()
        + (f"  (delivery {printable(delivery_id)})" if delivery_id else ""),
        f"   team      {printable(event.team_id)}",
        f"   actor     {who}",
        f"   resource  {printable(event.resource.type)} {printable(event.resource.id)}",
    ]
    if event.metadata:
        pairs = ", ".join(
            f"{printable(key)}={printable(value)}" for key, value in sorted(event.metadata.items())
        )
        lines.append(f"   metadata  {pairs}")
    if event.error:
        lines.append(f"   error     {printable(event.error, 1000)}")
    return "\n".join(lines)


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but 127.0.0.1 exposes it to the network.",
)
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port).",
)
@click.option("--path", default="/", show_default=True, help="Where to accept deliveries.")
@_secret_option
def serve(host: str, port: int, path: str, secret: str) -> None:
    """Run a local receiver that verifies every delivery and prints each event."""
    from flask import Flask
    from werkzeug.serving import make_server

    from ..flask import blueprint, delivery_rejected
    from ..receiver import Response, WebhookReceiver
    from ..signature import Delivery

    receiver = WebhookReceiver(secret)

    @receiver.on("*")
    def show(event: Event, delivery: Delivery) -> None:
        click.echo(describe_event(event, delivery.delivery_id))

    path = "/" + path.strip("/")
    app = Flask("wrenn_webhooks.serve")
    app.register_blueprint(blueprint(receiver), url_prefix=None if path == "/" else path)

    def rejected(sender: Flask, response: Response, **_: Any) -> None:
        reason = printable(response.body["error"], 1000)
        click.echo(f"✗ rejected ({response.status_code}): {reason}", err=True)

    delivery_rejected.connect(rejected, app)
    server = make_server(host, port, app, threaded=True)
    click.echo(f"Listening on http://{host}:{server.server_port}{path}  (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()


# --- verify -----------------------------------------------------------------


@cli.command("verify")
@_secret_option
@click.option("--timestamp", required=True, help="The X-Wrenn-Timestamp value.")
@click.option("--signature", required=True, help="The X-Wrenn-Signature value.")
@click.option(
    "--tolerance",
    default=DEFAULT_TOLERANCE,
    show_default=True,
    type=float,
    help="Seconds the timestamp may be off from now.",
)
@click.option("--ignore-age", is_flag=True, help="Check the signature of an old capture.")
@click.argument("body_file", type=click.File("rb"), default="-")
def verify_command(
    secret: str,
    timestamp: str,
    signature: str,
    tolerance: float,
    ignore_age: bool,
    body_file: Any,
) -> None:
    """Say whether a captured request's signature is valid, or exactly why not.

    BODY_FILE holds the exact raw body ('-', the default, reads stdin).
    """
    body = body_file.read()
    headers = {_headers.SIGNATURE: signature, _headers.TIMESTAMP: timestamp}
    try:
        now = parse_timestamp(timestamp) if ignore_age else None
        delivery = verify(body, headers, secret, tolerance=tolerance, now=now)
    except SignatureError as exc:
        raise click.ClickException(f"invalid: {exc}") from None
    click.echo(f"valid: signed at {format_event_time(delivery.timestamp)}")
    try:
        event = parse_event(body)
    except WrennWebhookError as exc:
        click.echo(f"but the body is not a valid event: {exc}")
    else:
        click.echo(describe_event(event))


# --- events and secret ------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def events(as_json: bool) -> None:
    """List the event types, their outcomes, resource types and metadata keys."""
    rows = [
        (
            kind,
            ["success", "error"] if cls.has_outcome else None,
            cls.resource_type,
            list(cls.metadata_keys),
            cls.subscribable,
            list(EventType(kind).older_names),
        )
        for kind, cls in EVENT_CLASSES.items()
    ]
    if as_json:
        fields = ("event", "outcomes", "resource", "metadata", "subscribable", "older_names")
        click.echo(json.dumps([dict(zip(fields, row, strict=True)) for row in rows], indent=2))
        return
    click.echo(f"{'EVENT':<26} {'OUTCOME':<14} {'RESOURCE':<9} {'METADATA':<16} WEBHOOKS")
    for kind, outcomes, resource, keys, subscribable, _ in rows:
        outcome = "/".join(outcomes) if outcomes else "-"
        click.echo(
            f"{kind:<26} {outcome:<14} {resource:<9} {','.join(keys) or '-':<16} "
            f"{'yes' if subscribable else 'no'}"
        )
    click.echo(f"\nFrom 0.1.x servers (parsed as Event): {', '.join(sorted(LEGACY_EVENT_TYPES))}")


@cli.command()
def secret() -> None:
    """Print a new secret in Wrenn's format: 64 hex characters (32 random bytes)."""
    click.echo(_secrets.token_hex(32))


cli.add_command(inbox_commands.worker)
cli.add_command(inbox_commands.inbox)


def main() -> None:
    """Run the command line; errors are one line on stderr, never a traceback."""
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (WrennWebhookError, OSError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
