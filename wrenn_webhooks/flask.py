"""The Flask adapter: a blueprint over ``WebhookReceiver.handle()``, and an extension.

Two ways to mount it::

    app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")

or, with configuration from ``app.config``::

    webhooks = WrennWebhooks()          # register handlers with @webhooks.on(...)
    webhooks.init_app(app)              # reads WRENN_WEBHOOK_SECRET, mounts the route
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

from blinker import NamedSignal, Namespace
from flask import Blueprint, Flask, request
from flask.blueprints import BlueprintSetupState
from flask.sansio.app import App
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.wsgi import get_content_length

from . import _headers
from .errors import ConfigurationError
from .receiver import Response, WebhookReceiver
from .routing import Router
from .stores import IdempotencyStore, store_from_url

__all__ = [
    "WrennWebhooks",
    "blueprint",
    "delivery_failed",
    "delivery_handled",
    "delivery_received",
    "delivery_rejected",
]

EXTENSION_KEY = "wrenn_webhooks"
logger = logging.getLogger("wrenn_webhooks")

_signals = Namespace()
delivery_received = _signals.signal("wrenn-delivery-received")
"""Sent before verification with ``body_size``; sender is the app."""
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
        name: The blueprint's name, unique within an app.
        path: The route inside the blueprint's ``url_prefix``. By default the
            prefix itself, with or without a trailing slash: Wrenn does not
            follow redirects, so a slash redirect would lose every delivery.
    """
    bp = Blueprint(name, __name__)

    def register(state: BlueprintSetupState) -> None:
        rule = path if path is not None else "" if state.url_prefix else "/"
        # One view per app it is registered on: the app is the signals' sender.
        view = _view(receiver, state.app)
        state.add_url_rule(
            rule, endpoint="receive", view_func=view, methods=["POST"], strict_slashes=False
        )

    bp.record(register)
    return bp


def _view(
    receiver: WebhookReceiver | Callable[[], WebhookReceiver], app: App
) -> Callable[[], ResponseReturnValue]:
    if isinstance(receiver, WebhookReceiver):
        fixed = receiver
        return lambda: _receive(fixed, app)
    return lambda: _receive(receiver(), app)


def _receive(receiver: WebhookReceiver, app: App) -> ResponseReturnValue:
    limit = receiver.max_body_bytes
    environ = request.environ
    # None when chunked: a Content-Length sent along with Transfer-Encoding means nothing.
    # werkzeug's own reading of it, straight from the environ (request.content_length
    # goes through the case-folding header view to find the same two values).
    size = get_content_length(environ)
    if delivery_received.receivers:
        _send(app, delivery_received, body_size=size)
    # werkzeug reads a Content-Length it cannot parse ("abc", "-1", "²", 5,000 digits)
    # as 0 and the next server may do anything with it: a broken framing is a 400 here.
    # An empty value is an absent one (PEP 3333).
    declared = environ.get("CONTENT_LENGTH") if size is not None else None
    if declared and not _headers.is_content_length(declared):
        return _answer(app, Response(400, {"ok": False, "error": _BAD_LENGTH}))
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
        response = receiver.too_large(request.headers)
    except ClientDisconnected:
        # The stream ended before Content-Length: there is no whole body to verify.
        response = Response(400, {"ok": False, "error": "the body ended before its Content-Length"})
    except Exception as exc:
        # The server's own input stream refused the body: gunicorn raises its parse
        # errors (a bad chunk size, a chunk without its CRLF) from wsgi.input's read(),
        # and they are neither OSError nor ValueError, which werkzeug turns into
        # ClientDisconnected. The client's framing is broken: 400, not the app's 500.
        # Only the error's type is logged: its message quotes what the client sent.
        logger.warning("request body unreadable (%s): answered 400", type(exc).__name__)
        response = Response(400, {"ok": False, "error": _UNREADABLE})
    else:
        response = receiver.handle(body, request.headers)
    return _answer(app, response)


_BAD_LENGTH = "Content-Length must be 1 to 19 ASCII digits"
_UNREADABLE = "the request body could not be read: its framing is invalid"


def _answer(app: App, response: Response) -> ResponseReturnValue:
    """Send the signal the status calls for and return the view's answer."""
    status = response.status_code
    signal = (
        delivery_handled
        if status < 300
        else delivery_failed
        if status >= 500
        else delivery_rejected
    )
    if signal.receivers:
        _send(app, signal, response=response)
    return _encode(response.body), status, response.headers


# The answers are flat dicts built here and in the receiver: no cycles to look for.
_encode = json.JSONEncoder(check_circular=False).encode


def _send(app: App, signal: NamedSignal, **data: Any) -> None:
    # A failing metrics receiver must not turn a handled delivery into a 500
    # that makes Wrenn retry: log it and answer as the pipeline decided.
    try:
        signal.send(app, **data)
    except Exception:
        logger.exception("a receiver of the %s signal failed", signal.name)


class WrennWebhooks(Router):
    """Flask extension: a receiver configured from ``app.config``, mounted by ``init_app``.

    Register handlers on the extension (``@webhooks.on(...)``) before
    ``init_app``. Configuration keys:

    - ``WRENN_WEBHOOK_SECRET`` (required): the secret, or a list during rotation.
    - ``WRENN_WEBHOOK_URL_PREFIX``: where to mount, default ``/webhooks/wrenn``.
    - ``WRENN_WEBHOOK_TOLERANCE``: seconds, default 300: a number, or a string of
      ASCII digits with an optional fraction (``"300"``, ``"2.5"``).
    - ``WRENN_WEBHOOK_MAX_BODY_BYTES``: default 1 MiB: an ``int``, or a string of
      ASCII digits.
    - ``WRENN_WEBHOOK_STORE``: an ``IdempotencyStore``, ``"memory://"`` (default),
      ``"sqlite:///path/to/file.db"`` (shared by every worker process) or
      ``"redis://host:6379/0"`` (shared by every host; the ``redis`` extra).

    Keyword arguments given here override the configuration for every app.
    """

    def __init__(self, app: Flask | None = None, **receiver_options: Any) -> None:
        super().__init__()
        self._options = receiver_options
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> WebhookReceiver:
        """Build the app's receiver from its config, store it, and mount the route.

        Raises:
            ConfigurationError: No secret configured, a blank one, a number that
                is not one (or not positive and finite), or an unknown store URL.

        Warns:
            WeakSecretWarning: A secret shorter than 32 characters.
        """
        config = app.config
        options: dict[str, Any] = dict(self._options)
        for key, option, whole in (
            ("WRENN_WEBHOOK_TOLERANCE", "tolerance", False),
            ("WRENN_WEBHOOK_MAX_BODY_BYTES", "max_body_bytes", True),
        ):
            if option not in options and config.get(key) is not None:
                options[option] = config_number(key, config[key], whole=whole)
        if "idempotency" not in options:
            options["idempotency"] = store_from_config(config.get("WRENN_WEBHOOK_STORE"))
        secret: str | Sequence[str] | None = options.pop("secret", None) or config.get(
            "WRENN_WEBHOOK_SECRET"
        )
        if not secret:
            raise ConfigurationError(
                "set app.config['WRENN_WEBHOOK_SECRET'] to the channel's secret"
                " (a list of secrets during a rotation)"
            )
        receiver = WebhookReceiver(secret, **options)
        receiver.include_router(self)
        app.extensions[EXTENSION_KEY] = receiver
        prefix = config.get("WRENN_WEBHOOK_URL_PREFIX", "/webhooks/wrenn")
        app.register_blueprint(blueprint(receiver), url_prefix=prefix)
        return receiver

    @staticmethod
    def receiver_for(app: Flask) -> WebhookReceiver:
        """Return the receiver ``init_app`` built for ``app``."""
        receiver: WebhookReceiver = app.extensions[EXTENSION_KEY]
        return receiver


def config_number(key: str, value: object, *, whole: bool) -> float:
    """A positive, finite number from ``app.config``, or a string of one (as the environment gives).

    A string is ASCII digits with, unless ``whole``, an optional fraction
    (``"300"``, ``"2.5"``), surrounding whitespace ignored: no sign, exponent,
    ``inf`` or ``nan``. A ``whole`` number is an ``int``; ``bool`` is neither.

    Raises:
        ConfigurationError: Anything else, naming ``key``.
    """
    number = _config_number(value, whole=whole)
    if number is None or not 0 < number < math.inf:
        what = "whole number of bytes" if whole else "finite number of seconds"
        example = '1048576 or "1048576"' if whole else '300 or "300" or "2.5"'
        raise ConfigurationError(
            f"{key} must be a positive {what}, such as {example}, not {value!r}"
        )
    return number


def _config_number(value: object, *, whole: bool) -> float | None:
    if isinstance(value, str):
        digits, dot, fraction = value.strip().partition(".")
        if not (digits.isascii() and digits.isdecimal()):
            return None
        if not dot:
            return int(digits)
        if whole or not (fraction.isascii() and fraction.isdecimal()):
            return None
        return float(f"{digits}.{fraction}")
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
        return None
    return value


def store_from_config(value: object) -> IdempotencyStore | None:
    """Turn ``WRENN_WEBHOOK_STORE`` into a store (``None``: the receiver's default)."""
    if value is None or isinstance(value, IdempotencyStore):
        return value
    if isinstance(value, str):
        return store_from_url(value)
    raise ConfigurationError("WRENN_WEBHOOK_STORE must be a store URL or an IdempotencyStore")
