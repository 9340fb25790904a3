"""The ``wrenn-webhooks`` command line (click, which Flask already brings).

``send`` delivers events exactly as Wrenn's Go sender does, ``serve`` is a
local receiver that prints what arrives, ``verify`` checks a captured request,
``events`` lists the event types, ``secret`` makes a new secret. ``worker`` and
``inbox`` (in ``wrenn_webhooks.cli.inbox``) run workers and operate an inbox.
"""

from __future__ import annotations

import difflib
import http.client
import json
import logging
import secrets as _secrets
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar, cast

import click
from click.core import ParameterSource

from .. import __version__, _headers
from .._text import printable
from ..encoding import encode_event, format_event_time
from ..errors import (
    ConfigurationError,
    MalformedHeaderError,
    SignatureError,
    SignatureMismatchError,
    TimestampOutsideToleranceError,
    WrennWebhookError,
)
from ..events import EVENT_CLASSES, Event, EventType, parse_event
from ..signature import DEFAULT_TOLERANCE, parse_timestamp, sign, verify
from . import inbox as inbox_commands

__all__ = ["cli", "main"]

SECRET_ENV = "WRENN_WEBHOOK_SECRET"
WRENN_TIMEOUT = 10.0
"""Seconds Wrenn's HTTP client waits for an answer."""
WRENN_RETRY_DELAYS = (10.0, 30.0)
"""Seconds Wrenn waits before its second and third attempts."""
WRENN_VERSIONS = ("0.2", "0.1.5")
"""The Wrenn versions whose events ``send`` can build; ``make_event`` builds them."""

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


def _signing_time(value: str | None) -> datetime | None:
    """``--timestamp``: POSIX seconds or an RFC 3339 time, cut to whole seconds as Wrenn's are."""
    if value is None:
        return None
    moment: datetime | None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parse_timestamp(value.strip())
        except MalformedHeaderError:
            moment = None
    else:
        try:
            moment = datetime.fromtimestamp(seconds, timezone.utc)
        except (OverflowError, OSError, ValueError):  # inf, nan, or past year 9999
            moment = None
    if moment is None:
        raise click.BadParameter(
            f"{value!r}: give POSIX seconds or an RFC 3339 time, such as 1779657037 or"
            " 2026-05-24T21:10:37Z"
        )
    return moment.replace(microsecond=0)


def _warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def _check_event_type(event_type: str, wrenn_version: str) -> None:
    """Refuse a 0.1.5 name in a 0.2 event; warn about a near miss of a known type.

    A type nobody knows is sent as given, as a newer Wrenn's would be; for
    0.1.5, ``make_event`` refuses every type that version does not send.
    """
    if wrenn_version != "0.2" or event_type in EVENT_CLASSES:
        return
    current = next((m.value for m in EventType if event_type in m.older_names), None)
    if current is not None:
        raise click.UsageError(
            f"{event_type} is what Wrenn 0.1.5 sends for {current}: add --wrenn-version 0.1.5"
            f" to send it as 0.1.5 does, or send {current}"
        )
    close = difflib.get_close_matches(event_type, list(EVENT_CLASSES), n=1)
    if close:
        _warn(
            f"{event_type!r} is not an event type this SDK knows; did you mean {close[0]!r}?"
            " Sending it as given, as a newer Wrenn's type would be."
        )


def _event_overrides(
    event_type: str,
    outcome: str | None,
    metadata: tuple[str, ...],
    error_message: str | None,
    team_id: str | None,
    wrenn_version: str,
) -> dict[str, Any]:
    """The fields ``send`` gives each event it builds; usage errors for those that do not fit."""
    cls = EVENT_CLASSES.get(event_type)
    if wrenn_version == "0.1.5":
        given = [
            option
            for option, value in (("--outcome", outcome), ("--error", error_message))
            if value is not None
        ] + (["--metadata"] if metadata else [])
        if given:
            raise click.UsageError(
                f"Wrenn 0.1.5 sends no outcome, metadata or error: drop {', '.join(given)},"
                " or send as 0.2 (the default --wrenn-version)"
            )
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


def _event_body(
    event_type: str,
    overrides: dict[str, Any],
    error_message: str | None,
    wrenn_version: str,
    moment: datetime | None,
) -> tuple[bytes, str]:
    """A new event's exact body, as the Wrenn version marshals it, and its label for the output."""
    from ..testing import make_event

    version = cast('Literal["0.2", "0.1.5"]', wrenn_version)  # one of WRENN_VERSIONS
    try:
        event = make_event(event_type, now=moment, wrenn_version=version, **overrides)
    except ConfigurationError as exc:  # a type or field that version never sends
        raise click.UsageError(str(exc)) from None
    if error_message is not None:
        event = event.model_copy(update={"error": error_message})
    return encode_event(event), f"{event.sent_as} {event.outcome or ''}".strip()


_BUILDING_OPTIONS = (
    "event_type",
    "outcome",
    "metadata",
    "error_message",
    "team_id",
    "wrenn_version",
)
"""The options of ``send`` that shape the event it builds, and so mean nothing with --body-file."""


def _warn_ignored(ctx: click.Context) -> None:
    """Warn about each option given that ``--body-file`` makes ``send`` ignore."""
    given = [
        param.opts[0]
        for param in ctx.command.params
        if param.name in _BUILDING_OPTIONS
        and ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE
    ]
    if given:
        names = " and ".join([", ".join(given[:-1]), given[-1]] if len(given) > 1 else given)
        verb = "are" if len(given) > 1 else "is"
        _warn(f"{names} {verb} ignored: --body-file sends the file's bytes as they are")


def _deliver(
    url: str,
    body: bytes,
    secret: str,
    *,
    name: str,
    delays: tuple[float, ...],
    timeout: float,
    signed_at: datetime | None = None,
) -> bool:
    """Post ``body`` after each of ``delays`` until an answer is 2xx; ``False`` if none was.

    Each attempt is signed afresh, at ``signed_at`` if given, else at the current time.
    """
    for attempt, delay in enumerate(delays, start=1):
        if delay:
            click.echo(f"  retrying in {delay:g} s")
            time.sleep(delay)
        headers = sign(body, secret, timestamp=signed_at)
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
    help="The event type; see `wrenn-webhooks events`. Unknown types are sent as given"
    " (a near miss of a known one gets a warning).",
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
    "--wrenn-version",
    type=click.Choice(WRENN_VERSIONS),
    default="0.2",
    show_default=True,
    help="Build events as this Wrenn version sends them: 0.1.5 uses its names (capsule.paused"
    " for capsule.pause) and sends no outcome, metadata or error.",
)
@click.option(
    "--timestamp",
    "signed_at",
    metavar="TIME",
    callback=lambda ctx, param, value: _signing_time(value),
    help="Sign at this time instead of now (POSIX seconds or RFC 3339), to test stale or"
    " future signatures; a built event happened then too.",
)
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
@click.pass_context
def send(
    ctx: click.Context,
    url: str,
    secret: str,
    event_type: str,
    outcome: str | None,
    metadata: tuple[str, ...],
    error_message: str | None,
    team_id: str | None,
    wrenn_version: str,
    signed_at: datetime | None,
    body_file: Any,
    count: int,
    retry: bool,
    retry_delays: tuple[float, ...],
    timeout: float,
) -> None:
    """Deliver realistic events to URL exactly as Wrenn does (like `stripe trigger`).

    Same JSON bytes as Go's encoding/json, same headers, a 10 s timeout, no
    redirects followed. Every attempt is signed afresh with a new delivery id.
    --wrenn-version 0.1.5 sends the bodies of Wrenn 0.1.5, the latest public release.
    """
    fixed: bytes | None = None
    overrides: dict[str, Any] = {}
    if body_file is not None:
        _warn_ignored(ctx)
        fixed = body_file.read()
    else:
        _check_event_type(event_type, wrenn_version)
        overrides = _event_overrides(
            event_type, outcome, metadata, error_message, team_id, wrenn_version
        )
    delays = (0.0, *retry_delays) if retry else (0.0,)
    failed = 0
    for number in range(1, count + 1):
        if fixed is not None:
            body, label = fixed, f"{len(fixed)} bytes from file"
        else:
            body, label = _event_body(
                event_type, overrides, error_message, wrenn_version, signed_at
            )
        name = f"event {number}/{count} ({label})"
        if not _deliver(
            url, body, secret, name=name, delays=delays, timeout=timeout, signed_at=signed_at
        ):
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
    """Run a local receiver that verifies every delivery and prints each event.

    Each delivery gets one log line on stderr (its id, event, status, duration
    and, when refused, why); each event handled is printed in full on stdout.
    """
    from flask import Flask
    from werkzeug.serving import make_server

    from ..flask import blueprint
    from ..receiver import WebhookReceiver
    from ..signature import Delivery

    receiver = WebhookReceiver(secret)

    @receiver.on("*")
    def show(event: Event, delivery: Delivery) -> None:
        click.echo(describe_event(event, delivery.delivery_id))

    path = "/" + path.strip("/")
    app = Flask("wrenn_webhooks.serve")
    app.register_blueprint(blueprint(receiver), url_prefix=None if path == "/" else path)
    server = make_server(host, port, app, threaded=True)
    click.echo(f"Listening on http://{host}:{server.server_port}{path}  (Ctrl-C to stop)")
    try:
        with _one_line_per_delivery():
            server.serve_forever()  # werkzeug's returns on Ctrl-C
    except KeyboardInterrupt:  # one that came before werkzeug's loop was running
        pass
    finally:
        server.server_close()
    click.echo("stopped")


@contextmanager
def _one_line_per_delivery() -> Iterator[None]:
    """Show the SDK's log line of each delivery on stderr, and no other line about it.

    That line carries the delivery id, event, status, duration and error;
    werkzeug's access line would only repeat the status, so its logger is
    kept to warnings and errors while serving.
    """
    sdk, werkzeug = logging.getLogger("wrenn_webhooks"), logging.getLogger("werkzeug")
    saved = (sdk.level, sdk.propagate, werkzeug.level)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    sdk.addHandler(handler)
    sdk.setLevel(logging.INFO)
    sdk.propagate = False  # a handler on the root logger would print it twice
    werkzeug.setLevel(logging.WARNING)
    try:
        yield
    finally:
        sdk.removeHandler(handler)
        sdk.setLevel(saved[0])
        sdk.propagate = saved[1]
        werkzeug.setLevel(saved[2])


# --- verify -----------------------------------------------------------------


def _verifies(body: bytes, headers: dict[str, str], secret: str) -> bool:
    """Whether ``body`` carries this signature, whatever the timestamp's age."""
    try:
        verify(body, headers, secret, now=parse_timestamp(headers[_headers.TIMESTAMP]))
    except SignatureError:
        return False
    return True


def _hint(body: bytes, headers: dict[str, str], secret: str, exc: SignatureError) -> str | None:
    """What most likely went wrong when only the age or a trailing newline is off.

    Says only whether a variant verifies: never a signature, nor the secret.
    """
    if not isinstance(exc, (TimestampOutsideToleranceError, SignatureMismatchError)):
        return None  # a malformed or missing header: the message says it all
    if isinstance(exc, TimestampOutsideToleranceError) and _verifies(body, headers, secret):
        if exc.skew > 0:
            return "the signature is valid; to check an old capture, add --ignore-age"
        return "the signature is valid; the timestamp is ahead of this clock: check both clocks"
    stripped = body[:-2] if body.endswith(b"\r\n") else body[:-1] if body.endswith(b"\n") else None
    if stripped is not None and _verifies(stripped, headers, secret):
        return (
            "the body verifies without its trailing newline: the capture gained one"
            " (editors and `echo` add one); save the raw bytes, or use printf '%s'"
        )
    if _verifies(body + b"\n", headers, secret):
        return (
            "the body verifies with a trailing newline added: the capture lost the one the"
            " request ended with"
        )
    return None


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
        hint = _hint(body, headers, secret, exc)
        raise click.ClickException(
            f"invalid: {exc}" + (f"\nhint: {hint}" if hint else "")
        ) from None
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
    click.echo(f"{'EVENT':<26} {'OUTCOME':<14} {'RESOURCE':<9} {'METADATA':<16} SUBSCRIBABLE")
    for kind, outcomes, resource, keys, subscribable, _ in rows:
        outcome = "/".join(outcomes) if outcomes else "-"
        click.echo(
            f"{kind:<26} {outcome:<14} {resource:<9} {','.join(keys) or '-':<16} "
            f"{_subscribable(kind, subscribable)}"
        )
    click.echo("\nWrenn 0.1.5 servers send older names, parsed into the current name's class:")
    for member in EventType:
        for name in member.older_names:
            click.echo(f"  {name:<26} -> {member.value}")


def _subscribable(kind: str, subscribable: bool) -> str:
    """The SUBSCRIBABLE column of ``events``: whether a webhook channel receives the type."""
    if kind == EventType.CHANNEL_TEST:  # no channel subscribes to it, and every channel gets it
        return "no, but sent whenever the channel's test button is pressed"
    return "yes" if subscribable else "no"


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
