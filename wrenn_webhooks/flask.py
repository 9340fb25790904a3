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
from collections.abc import Callable, Sequence
from typing import Any

from blinker import NamedSignal, Namespace
from flask import Blueprint, Flask, request
from flask.blueprints import BlueprintSetupState
from flask.sansio.app import App
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.wsgi import get_content_length

from .errors import ConfigurationError, PayloadTooLargeError
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
    # None when chunked: a Content-Length sent along with Transfer-Encoding means nothing.
    # werkzeug's own reading of it, straight from the environ (request.content_length
    # goes through the case-folding header view to find the same two values).
    size = get_content_length(request.environ)
    if delivery_received.receivers:
        _send(app, delivery_received, body_size=size)
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
        error = PayloadTooLargeError(f"body is larger than the {limit} bytes this receiver accepts")
        response = Response(413, {"ok": False, "error": str(error)}, error=error)
    except ClientDisconnected:
        # The stream ended before Content-Length: there is no whole body to verify.
        response = Response(400, {"ok": False, "error": "the body ended before its Content-Length"})
    else:
        response = receiver.handle(body, request.headers)
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
    - ``WRENN_WEBHOOK_TOLERANCE``: seconds, default 300.
    - ``WRENN_WEBHOOK_MAX_BODY_BYTES``: default 1 MiB.
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
            ConfigurationError: No secret configured, or an unknown store URL.
        """
        config = app.config
        options: dict[str, Any] = dict(self._options)
        for key, option, kind in (
            ("WRENN_WEBHOOK_TOLERANCE", "tolerance", float),
            ("WRENN_WEBHOOK_MAX_BODY_BYTES", "max_body_bytes", int),
        ):
            if option not in options and config.get(key) is not None:
                try:
                    options[option] = kind(config[key])
                except (TypeError, ValueError):
                    raise ConfigurationError(f"{key} must be a number") from None
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


def store_from_config(value: object) -> IdempotencyStore | None:
    """Turn ``WRENN_WEBHOOK_STORE`` into a store (``None``: the receiver's default)."""
    if value is None or isinstance(value, IdempotencyStore):
        return value
    if isinstance(value, str):
        return store_from_url(value)
    raise ConfigurationError("WRENN_WEBHOOK_STORE must be a store URL or an IdempotencyStore")
