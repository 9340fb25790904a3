"""The Flask adapter: a blueprint over ``WebhookReceiver.handle()``, and an extension.

Two ways to mount it::

    app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")

or, with configuration from ``app.config``::

    webhooks = WrennWebhooks()          # register handlers with @webhooks.on(...)
    webhooks.init_app(app)              # reads WRENN_WEBHOOK_SECRET, mounts the route
"""

from __future__ import annotations

import json
import json.encoder
import logging
from collections.abc import Callable, Sequence
from typing import Any

from blinker import NamedSignal, Namespace
from flask import Blueprint, Flask, Request, current_app, request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from ._headers import DELIVERY, SIGNATURE_AS_SENT, TIMESTAMP
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

    The raw body is read before anything parses it (``Content-Length`` bytes
    off the WSGI input, or ``request.get_data()`` when chunked or already
    read), and never past ``max_body_bytes``. Handlers run inside the request's
    application context, so ``current_app`` and ``g`` work in them.

    Args:
        receiver: The receiver, or a function returning it (looked up per request).
        name: The blueprint's name, unique within an app.
        path: The route inside the blueprint's ``url_prefix``. By default the
            prefix itself, with or without a trailing slash: Wrenn does not
            follow redirects, so a slash redirect would lose every delivery.
    """
    bp = Blueprint(name, __name__)
    view = _view(receiver)

    def register(state: BlueprintSetupState) -> None:
        rule = path if path is not None else "" if state.url_prefix else "/"
        state.add_url_rule(
            rule, endpoint="receive", view_func=view, methods=["POST"], strict_slashes=False
        )

    bp.record(register)
    return bp


def _view(
    receiver: WebhookReceiver | Callable[[], WebhookReceiver],
) -> Callable[[], ResponseReturnValue]:
    if isinstance(receiver, WebhookReceiver):
        fixed = receiver
        return lambda: _receive(fixed)
    return lambda: _receive(receiver())


def _receive(receiver: WebhookReceiver) -> ResponseReturnValue:
    limit = receiver.max_body_bytes
    # The request itself, once: each attribute read through the proxy costs
    # a context lookup, about as much as this whole view's own work.
    req: Request = request._get_current_object()  # type: ignore[attr-defined]
    environ = req.environ
    # The raw header, not request.content_length: werkzeug's property also
    # parses Transfer-Encoding, which costs more than verifying the signature.
    # A chunked body's Content-Length, if a client sends both, means nothing.
    declared = None if "HTTP_TRANSFER_ENCODING" in environ else environ.get("CONTENT_LENGTH")
    size = int(declared) if declared and declared.isdigit() else None
    if delivery_received.receivers:
        _send(delivery_received, body_size=size)
    try:
        if size is not None and size > limit:
            raise RequestEntityTooLarge
        if size is not None and "stream" not in req.__dict__:
            # The declared length, read from the server's stream as PEP 3333
            # has it: werkzeug's request.stream and get_data() cost more than
            # verifying the signature. Not when something (a before_request
            # hook, say) already went through request.stream.
            body = _read(environ["wsgi.input"], size)
        else:
            if size is None:
                # No Content-Length (chunked): werkzeug stops one byte past the
                # limit (silently truncated), so a longer body shows as limit + 1.
                req.max_content_length = limit + 1
            body = req.get_data(cache=False)
        if len(body) > limit:
            raise RequestEntityTooLarge
    except RequestEntityTooLarge:
        error = PayloadTooLargeError(f"body is larger than the {limit} bytes this receiver accepts")
        response = Response(413, {"ok": False, "error": str(error)}, error=error)
    else:
        # Wrenn's three headers straight from the WSGI environ: the same values
        # as request.headers, which would first build a case-folding view.
        headers: dict[str, Any] = {
            SIGNATURE_AS_SENT: environ.get("HTTP_X_WRENN_SIGNATURE"),
            TIMESTAMP: environ.get("HTTP_X_WRENN_TIMESTAMP"),
            DELIVERY: environ.get("HTTP_X_WRENN_DELIVERY"),
        }
        response = receiver.handle(body, headers)
    status = response.status_code
    signal = (
        delivery_handled
        if status < 300
        else delivery_failed
        if status >= 500
        else delivery_rejected
    )
    if signal.receivers:
        _send(signal, response=response)
    return _dumps(response.body), status, response.headers


def _read(stream: Any, size: int) -> bytes:
    """``size`` bytes off a WSGI input, or fewer if the client stops early."""
    body: bytes = stream.read(size)
    if len(body) < size:  # a raw stream may return less than asked for
        buffer = bytearray(body)
        while len(buffer) < size and (part := stream.read(size - len(buffer))):
            buffer += part
        body = bytes(buffer)
    return body


def _json_encoder() -> Callable[[dict[str, Any]], str]:
    # The standard library's C encoder, built once: json.dumps builds a new one
    # on every call, which costs more than encoding an answer's few fields.
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the C accelerator
        return json.dumps

    def unserialisable(value: object) -> None:
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    escape = json.encoder.encode_basestring_ascii
    # (markers, default, encoder, indent, key and item separators, sort_keys,
    # skipkeys, allow_nan): what json.dumps passes for its defaults.
    encode = make(None, unserialisable, escape, None, ": ", ", ", False, False, True)
    return lambda body: "".join(encode(body, 0))


_dumps = _json_encoder()


def _send(signal: NamedSignal, **data: Any) -> None:
    # A failing metrics receiver must not turn a handled delivery into a 500
    # that makes Wrenn retry: log it and answer as the pipeline decided.
    try:
        signal.send(current_app._get_current_object(), **data)  # type: ignore[attr-defined]
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
