"""The Flask adapter: a blueprint over ``WebhookReceiver.handle()``, and an extension.

Two ways to mount it::

    app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")

or, with configuration from ``app.config``::

    webhooks = WrennWebhooks()          # register handlers with @webhooks.on(...)
    webhooks.init_app(app)              # reads WRENN_WEBHOOK_SECRET, mounts the route

Once per app and name: a second receiver in one app (another URL, another secret)
takes another name, ``blueprint(receiver, name=...)`` or ``WrennWebhooks(name=...,
config_prefix=...)``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Protocol

from blinker import NamedSignal, Namespace
from flask import Blueprint, Flask, request
from flask.blueprints import BlueprintSetupState
from flask.sansio.app import App
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.wsgi import get_content_length

from . import _headers
from ._console import console
from ._settings import config_secrets, options_from_config
from .errors import ConfigurationError, RequestError
from .observe import DeliveryReport, Observer
from .receiver import Response, WebhookReceiver
from .routing import Router

__all__ = [
    "WrennWebhooks",
    "blueprint",
    "console",
    "delivery_failed",
    "delivery_handled",
    "delivery_received",
    "delivery_rejected",
]

EXTENSION_KEY = "wrenn_webhooks"
"""The default name: of the blueprint, and of the receiver's key in ``app.extensions``."""
CONFIG_PREFIX = "WRENN_WEBHOOK"
"""The default start of the extension's ``app.config`` keys."""
logger = logging.getLogger("wrenn_webhooks")

_signals = Namespace()
delivery_received = _signals.signal("wrenn-delivery-received")
"""Sent before verification with ``body_size`` (``None`` if refused unread); sender is the app."""
delivery_handled = _signals.signal("wrenn-delivery-handled")
"""Sent for 2xx answers (handled, no handler, duplicate) with ``response``."""
delivery_failed = _signals.signal("wrenn-delivery-failed")
"""Sent for 5xx answers (a handler or the store failed) with ``response``."""
delivery_rejected = _signals.signal("wrenn-delivery-rejected")
"""Sent for 4xx answers (too large, bad signature, invalid body, in flight) with ``response``."""


def blueprint(
    receiver: WebhookReceiver | Callable[[], WebhookReceiver],
    *,
    name: str = "wrenn_webhooks",
    path: str | None = None,
) -> Blueprint:
    """Return a blueprint with one ``POST`` route that runs ``receiver.handle()``.

    The raw body is read with ``request.get_data(cache=False)`` before anything
    parses it, and never past ``max_body_bytes``. Handlers run inside the
    request's application context, so ``current_app`` and ``g`` work in them.

    Args:
        receiver: The receiver, or a function returning it (looked up per request).
        name: The blueprint's name, unique within an app: another one for a
            second receiver in the same app.
        path: The route inside the blueprint's ``url_prefix``. By default the
            prefix itself, with or without a trailing slash: Wrenn does not
            follow redirects, so a slash redirect would lose every delivery.

    Registering a second blueprint under a name already taken in the app
    raises ``ConfigurationError`` (a ``ValueError``, as Flask's own is).
    """
    bp = _ReceiverBlueprint(name, __name__)

    def register(state: BlueprintSetupState) -> None:
        rule = path if path is not None else "" if state.url_prefix else "/"
        # One view per app it is registered on: the app is the signals' sender.
        view = _view(receiver, state.app)
        state.add_url_rule(
            rule, endpoint="receive", view_func=view, methods=["POST"], strict_slashes=False
        )

    bp.record(register)
    return bp


class _ReceiverBlueprint(Blueprint):
    """A blueprint that says in plain words when its name is already taken in an app."""

    def register(self, app: App, options: dict[str, Any]) -> None:
        """Register as ``Blueprint.register`` does, after checking that the name is free."""
        # The name Flask registers it under (a nested blueprint's is dotted).
        name = f"{options.get('name_prefix', '')}.{options.get('name', self.name)}".lstrip(".")
        taken = app.blueprints.get(name)
        if isinstance(taken, _ReceiverBlueprint):
            raise _already_initialised(name)
        if taken is not None:
            raise ConfigurationError(
                f"this app has another blueprint named {name!r}: give the webhook receiver"
                " another name, blueprint(receiver, name=...) or WrennWebhooks(name=...)"
            )
        super().register(app, options)


def _already_initialised(name: str) -> ConfigurationError:
    return ConfigurationError(
        f"this app is already initialised with wrenn-webhooks: a receiver named {name!r} is"
        " mounted; call init_app, or register the blueprint, once per app. For a deliberate"
        " second receiver, on another URL with another secret, give it another name:"
        " WrennWebhooks(name='wrenn_other', config_prefix='WRENN_OTHER') (configured by"
        " WRENN_OTHER_SECRET, WRENN_OTHER_URL_PREFIX, ...) or blueprint(receiver,"
        " name='wrenn_other') with another url_prefix"
    )


def _view(
    receiver: WebhookReceiver | Callable[[], WebhookReceiver], app: App
) -> Callable[[], ResponseReturnValue]:
    if isinstance(receiver, WebhookReceiver):
        fixed = receiver
        fixed.add_observer(_SIGNALS)
        return lambda: _in_app(fixed, app)

    def lookup() -> ResponseReturnValue:
        found = receiver()
        found.add_observer(_SIGNALS)  # once: a receiver keeps one of each observer
        return _in_app(found, app)

    return lookup


_app: ContextVar[App] = ContextVar("wrenn_webhooks_flask_app")
"""The app whose view runs the delivery: the signals' sender."""


def _in_app(receiver: WebhookReceiver, app: App) -> ResponseReturnValue:
    token = _app.set(app)
    try:
        response = _receive(receiver, app)
    finally:
        _app.reset(token)
    return _encode(response.body), response.status_code, response.headers


def _receive(receiver: WebhookReceiver, app: App) -> Response:
    limit = receiver.max_body_bytes
    environ = request.environ
    # None when chunked: a Content-Length sent along with Transfer-Encoding means nothing.
    # werkzeug's own reading of it, straight from the environ (request.content_length
    # goes through the case-folding header view to find the same two values).
    size = get_content_length(environ)
    # werkzeug reads a Content-Length it cannot parse ("abc", "-1", "²", 5,000 digits)
    # as 0 and the next server may do anything with it: a broken framing is a 400 here.
    # An empty value is an absent one (PEP 3333).
    declared = environ.get("CONTENT_LENGTH") if size is not None else None
    if declared and not _headers.is_content_length(declared):
        return receiver.refused(RequestError(_BAD_LENGTH), request.headers)
    try:
        if size is not None and size > limit:
            raise RequestEntityTooLarge
        if size is None or app.config["MAX_CONTENT_LENGTH"] is not None:
            # The route's limit, whatever the app's MAX_CONTENT_LENGTH says.
            # werkzeug cuts a body without a length at this maximum, silently,
            # so a longer one shows as limit + 1 bytes.
            request.max_content_length = limit + 1
        body = request.get_data(cache=False)
        if len(body) > limit:
            raise RequestEntityTooLarge
    except RequestEntityTooLarge:
        return receiver.too_large(request.headers)
    except ClientDisconnected:
        # The stream ended before Content-Length: there is no whole body to verify.
        return receiver.refused(RequestError(_CUT_SHORT), request.headers)
    except Exception as exc:
        # The server's own input stream refused the body: gunicorn raises its parse
        # errors (a bad chunk size, a chunk without its CRLF) from wsgi.input's read(),
        # and they are neither OSError nor ValueError, which werkzeug turns into
        # ClientDisconnected. The client's framing is broken: 400, not the app's 500.
        # Only the error's type is logged: its message quotes what the client sent.
        logger.warning("request body unreadable (%s): answered 400", type(exc).__name__)
        return receiver.refused(RequestError(_UNREADABLE), request.headers)
    return receiver.handle(body, request.headers)


_BAD_LENGTH = "Content-Length must be 1 to 19 ASCII digits"
_CUT_SHORT = "the body ended before its Content-Length"
_UNREADABLE = "the request body could not be read: its framing is invalid"

# The answers are flat dicts built here and in the receiver: no cycles to look for.
_encode = json.JSONEncoder(check_circular=False).encode


class _Signals(Observer):
    """Sends the blueprint's blinker signals, with the app of the view as the sender."""

    def delivery_started(self, size: int | None) -> None:
        """Send ``delivery_received``."""
        if delivery_received.receivers:
            _send(delivery_received, body_size=size)

    def delivery_finished(self, report: DeliveryReport) -> None:
        """Send the signal the status calls for."""
        status = report.status
        signal = (
            delivery_handled
            if status < 300
            else delivery_failed
            if status >= 500
            else delivery_rejected
        )
        if signal.receivers:
            _send(signal, response=report.response)


_SIGNALS = _Signals()


def _send(signal: NamedSignal, **data: Any) -> None:
    app = _app.get(None)
    if app is None:  # the receiver is serving another adapter
        return
    # A failing metrics receiver must not turn a handled delivery into a 500
    # that makes Wrenn retry: log it and answer as the pipeline decided.
    try:
        signal.send(app, **data)
    except Exception:
        logger.exception("a receiver of the %s signal failed", signal.name)


class _ReceiverLookup(Protocol):
    def __call__(self, app: Flask, name: str | None = None) -> WebhookReceiver: ...


class _ByName:
    """``receiver_for``: read from an extension, its name is the default one."""

    def __get__(self, extension: WrennWebhooks | None, owner: object = None) -> _ReceiverLookup:
        default = EXTENSION_KEY if extension is None else extension.name

        def receiver_for(app: Flask, name: str | None = None) -> WebhookReceiver:
            """Return the receiver ``init_app`` built for ``app`` under ``name``."""
            key = default if name is None else name
            receiver = app.extensions.get(key)
            if not isinstance(receiver, WebhookReceiver):
                raise ConfigurationError(
                    f"this app has no wrenn-webhooks receiver named {key!r}:"
                    " call init_app(app) first"
                )
            return receiver

        return receiver_for


class WrennWebhooks(Router):
    """Flask extension: a receiver configured from ``app.config``, mounted by ``init_app``.

    Register handlers on the extension (``@webhooks.on(...)``) before
    ``init_app``. Configuration keys:

    - ``WRENN_WEBHOOK_SECRET`` (required): the channel's secret. A string is
      one secret, never split (a comma is part of it); a list or tuple gives
      several.
    - ``WRENN_WEBHOOK_PREVIOUS_SECRET``: during a rotation, the secret the
      current one replaces, accepted too (same rule; unset or ``""``: none).
    - ``WRENN_WEBHOOK_URL_PREFIX``: where to mount, default ``/webhooks/wrenn``.
    - ``WRENN_WEBHOOK_TOLERANCE``: seconds, default 300: a number, or a string of
      ASCII digits with an optional fraction (``"300"``, ``"2.5"``).
    - ``WRENN_WEBHOOK_MAX_BODY_BYTES``: default 1 MiB: an ``int``, or a string of
      ASCII digits.
    - ``WRENN_WEBHOOK_STORE``: an ``IdempotencyStore``, ``"memory://"`` (default),
      ``"sqlite:///path/to/file.db"`` (shared by every worker process) or
      ``"redis://host:6379/0"`` (shared by every host; the ``redis`` extra).

    Keyword arguments given here override the configuration for every app
    (``secret=`` replaces both secret keys).

    Args:
        app: An app to initialise at once, as ``init_app(app)`` does.
        name: The blueprint's name and the receiver's key in ``app.extensions``;
            another one for a second receiver in the same app.
        config_prefix: What the configuration keys start with, ``WRENN_WEBHOOK``
            by default; a second receiver's own, such as ``WRENN_STAGING`` for
            ``WRENN_STAGING_SECRET``, ``WRENN_STAGING_URL_PREFIX`` and the rest.
        **receiver_options: Passed to every ``WebhookReceiver`` built.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        name: str = EXTENSION_KEY,
        config_prefix: str = CONFIG_PREFIX,
        **receiver_options: Any,
    ) -> None:
        super().__init__()
        self.name = name
        self.config_prefix = config_prefix
        self._options = receiver_options
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> WebhookReceiver:
        """Build the app's receiver from its config, store it, and mount the route.

        Raises:
            ConfigurationError: The app is already initialised under this name,
                or its URL already answers ``POST``; no secret configured, a
                blank one or one that is not a string or list; a number that is
                not one (or not positive and finite), or an unknown store URL.

        Warns:
            WeakSecretWarning: A secret shorter than 32 characters.
        """
        _check_name_free(app, self.name)
        prefix_key = f"{self.config_prefix}_URL_PREFIX"
        url_prefix = app.config.get(prefix_key, "/webhooks/wrenn")
        _check_url_free(app, url_prefix, prefix_key)
        secret = self._options.get("secret")
        if secret is None:
            secret = config_secrets(app.config, self.config_prefix)
        receiver = WebhookReceiver(
            secret, **options_from_config(app.config, self.config_prefix, self._options)
        )
        receiver.include_router(self)
        app.register_blueprint(blueprint(receiver, name=self.name), url_prefix=url_prefix)
        app.extensions[self.name] = receiver
        return receiver

    receiver_for = _ByName()
    """Return the receiver ``init_app`` built for an app: ``receiver_for(app, name=None)``.

    ``WrennWebhooks.receiver_for(app)`` finds the one of the default name,
    ``WrennWebhooks.receiver_for(app, name="wrenn_staging")`` another;
    ``webhooks.receiver_for(app)``, on an extension, finds that extension's.
    Raises ``ConfigurationError`` when the app has none of that name.
    """


def _check_name_free(app: Flask, name: str) -> None:
    """Refuse a name already in ``app.extensions``: the first receiver (or extension) keeps it."""
    if isinstance(app.extensions.get(name), WebhookReceiver):
        raise _already_initialised(name)
    if name in app.extensions:
        raise ConfigurationError(
            f"app.extensions already holds {name!r} for another extension: give the webhook"
            " receiver another name, WrennWebhooks(name=...)"
        )


def _check_url_free(app: Flask, url_prefix: str, key: str) -> None:
    """Refuse a second route for ``POST`` at ``url_prefix``: Flask would never reach it."""
    path = url_prefix.rstrip("/")
    for rule in app.url_map.iter_rules():
        if rule.rule.rstrip("/") == path and "POST" in (rule.methods or ()):
            raise ConfigurationError(
                f"POST {url_prefix} is already answered by {rule.endpoint!r}:"
                f" set {key} to another URL for this receiver"
            )
