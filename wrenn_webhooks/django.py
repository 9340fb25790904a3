"""The Django adapter: a view over ``WebhookReceiver``, and the URL patterns that serve it.

In the project's URL configuration::

    from wrenn_webhooks.django import urls
    from .webhooks import router        # a Router with the handlers

    urlpatterns = [*urls(router, "webhooks/wrenn"), ...]

The receiver is built once, from Django's settings (``WRENN_WEBHOOK_SECRET``
and the other keys of the Flask extension), when the URL configuration is
imported; ``urls(receiver, ...)`` serves a receiver built by hand instead. The
patterns answer the path with and without its trailing slash, so
``CommonMiddleware`` never redirects a delivery for ``APPEND_SLASH``: Wrenn does
not follow redirects (protocol notes, "Transport"), and a 3xx answer would fail
the attempt and its retries. The view is CSRF-exempt (Wrenn sends no token; the
signature is what proves a delivery genuine), answers ``POST`` only, and reads
the raw body within ``max_body_bytes``.

Django is imported by this module only (the ``django`` extra). Django ships no
type hints: without django-stubs its classes in the signatures here are ``Any``
to mypy, and the view's own use of a request is checked against ``_Request``.
"""

# mypy: disable-error-code="import-untyped"

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol

try:
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIRequest
    from django.http import HttpRequest, HttpResponse
    from django.urls import URLPattern
    from django.urls import path as url_path
    from django.views.decorators.common import no_append_slash
    from django.views.decorators.csrf import csrf_exempt
except ImportError as exc:
    raise ImportError(
        "wrenn_webhooks.django needs Django: pip install 'wrenn-webhooks[django]'"
    ) from exc

from . import _headers
from ._settings import config_secrets, options_from_config
from .errors import ConfigurationError, RequestError
from .receiver import Response, WebhookReceiver
from .routing import Router

__all__ = [
    "AsyncView",
    "View",
    "async_webhook_view",
    "receiver_from_settings",
    "urls",
    "webhook_view",
]

SETTINGS_PREFIX = "WRENN_WEBHOOK"
"""The default start of the settings' names: ``WRENN_WEBHOOK_SECRET`` and the rest."""
DEFAULT_PATH = "webhooks/wrenn"
"""Where ``urls()`` answers when given no path and ``WRENN_WEBHOOK_URL_PREFIX`` is unset."""

View = Callable[[HttpRequest], HttpResponse]
"""What ``webhook_view()`` returns: a plain Django view."""
AsyncView = Callable[[HttpRequest], Coroutine[Any, Any, HttpResponse]]
"""What ``async_webhook_view()`` returns: an ``async def`` Django view."""

logger = logging.getLogger("wrenn_webhooks")

_BAD_LENGTH = "Content-Length must be 1 to 19 ASCII digits"
_UNREADABLE = "the request body could not be read"
_NO_LENGTH = (
    "send the body with a Content-Length: under WSGI, Django passes on no body without one"
    " (chunked)"
)
# The answers are flat dicts built here and in the receiver: no cycles to look for.
_encode = json.JSONEncoder(check_circular=False).encode


class _Request(Protocol):
    """What the views use of Django's ``HttpRequest``."""

    @property
    def method(self) -> str | None: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def read(self, size: int, /) -> bytes: ...


def receiver_from_settings(
    settings_prefix: str = SETTINGS_PREFIX, **options: Any
) -> WebhookReceiver:
    """Build a receiver from Django's settings, with the keys of the Flask extension.

    ``WRENN_WEBHOOK_SECRET`` (required: a string is one secret, never split; a
    list gives several), ``WRENN_WEBHOOK_PREVIOUS_SECRET`` (during a rotation,
    the secret it replaces, accepted too), ``WRENN_WEBHOOK_TOLERANCE`` (seconds),
    ``WRENN_WEBHOOK_MAX_BODY_BYTES`` and ``WRENN_WEBHOOK_STORE`` (a store URL or
    an ``IdempotencyStore``), read as the Flask extension reads them.

    Args:
        settings_prefix: What the settings' names start with; another one, such as
            ``"WRENN_STAGING"``, for a second receiver with its own keys.
        **options: Passed to ``WebhookReceiver``, over the settings
            (``secret=`` replaces both secret settings).

    Raises:
        ConfigurationError: No secret set, a blank one or one that is neither a
            string nor a list (the message names the setting, never a secret); a
            number that is not one (or not positive and finite); an unknown store
            URL.

    Warns:
        WeakSecretWarning: A secret shorter than 32 characters.
    """
    names = ("SECRET", "PREVIOUS_SECRET", "TOLERANCE", "MAX_BODY_BYTES", "STORE")
    config = {
        key: getattr(settings, key, None) for key in (f"{settings_prefix}_{n}" for n in names)
    }
    secret = options.pop("secret", None)
    if secret is None:
        secret = config_secrets(config, settings_prefix)
    return WebhookReceiver(secret, **options_from_config(config, settings_prefix, options))


def webhook_view(
    receiver: WebhookReceiver | Router, *, settings_prefix: str = SETTINGS_PREFIX
) -> View:
    """Return a CSRF-exempt view that runs ``receiver.handle()`` on each ``POST``'s raw body.

    It works under WSGI and ASGI alike. Handlers run in the request's thread, as
    the code of any plain Django view does: the ORM works in them as usual.
    Mount it with ``urls()``, which answers both spellings of the path.

    Args:
        receiver: The receiver; or a ``Router`` with the handlers, for which a
            receiver is built now from the settings (``receiver_from_settings``).
        settings_prefix: The settings' prefix, for a receiver built here.

    Raises:
        ConfigurationError: ``receiver`` is neither, or the settings are wrong.
    """
    served = _receiver(receiver, settings_prefix)

    def receive(request: HttpRequest) -> HttpResponse:
        body = _body(served, request)
        if isinstance(body, Response):
            return _answer(body)
        return _answer(served.handle(body, request.headers))

    view: View = csrf_exempt(no_append_slash(receive))
    return view


def async_webhook_view(
    receiver: WebhookReceiver | Router, *, settings_prefix: str = SETTINGS_PREFIX
) -> AsyncView:
    """Return the ``async def`` view: ``await receiver.handle_async()``, for Django on ASGI.

    ``async def`` handlers are awaited on the server's event loop: they use the
    ORM's async methods (``await Model.objects.acreate(...)``), as Django's
    synchronous ones raise ``SynchronousOnlyOperation`` there. Plain handlers run
    in worker threads, outside Django's request cycle: see "Async" in the
    Django page of the documentation. Arguments and errors are ``webhook_view``'s.
    """
    served = _receiver(receiver, settings_prefix)

    async def receive(request: HttpRequest) -> HttpResponse:
        # Under ASGI, Django has read the whole body into a file before the view
        # runs: reading from it does not wait on the client.
        body = _body(served, request)
        if isinstance(body, Response):
            return _answer(body)
        return _answer(await served.handle_async(body, request.headers))

    view: AsyncView = csrf_exempt(no_append_slash(receive))  # both keep it a coroutine function
    return view


def urls(
    receiver: WebhookReceiver | Router,
    path: str | None = None,
    *,
    asynchronous: bool = False,
    settings_prefix: str = SETTINGS_PREFIX,
    name: str = "wrenn_webhooks",
) -> list[URLPattern]:
    """Return URL patterns answering ``path`` with and without its trailing slash.

    Neither spelling is ever redirected, whatever ``APPEND_SLASH`` says, so the
    channel's URL may be written either way. Put them in ``urlpatterns``, or in
    an ``include()`` under a prefix.

    Args:
        receiver: The receiver; or a ``Router`` with the handlers, for which a
            receiver is built now, once, from the settings.
        path: Where to answer, such as ``"webhooks/wrenn"`` (a plain path: the
            view takes no converter's arguments); slashes around it make no
            difference. ``None``: the ``WRENN_WEBHOOK_URL_PREFIX`` setting,
            else ``"webhooks/wrenn"``.
        asynchronous: Serve ``async_webhook_view`` (Django on ASGI) instead of
            ``webhook_view``.
        settings_prefix: What the settings' names start with.
        name: The first pattern's name, for ``reverse()``.

    Raises:
        ConfigurationError: ``receiver`` is neither a ``WebhookReceiver`` nor a
            ``Router``, a setting is wrong (see ``receiver_from_settings``), or
            the path setting is not a string.
    """
    if path is None:
        key = f"{settings_prefix}_URL_PREFIX"
        path = getattr(settings, key, None) or DEFAULT_PATH
        if not isinstance(path, str):
            raise ConfigurationError(f"{key} must be a path such as '/webhooks/wrenn'")
    make = async_webhook_view if asynchronous else webhook_view
    view = make(receiver, settings_prefix=settings_prefix)
    # Django's routes take no leading slash (it warns about one).
    route = path.strip("/")
    if not route:
        return [url_path("", view, name=name)]
    return [url_path(route, view, name=name), url_path(f"{route}/", view)]


def _receiver(target: WebhookReceiver | Router, settings_prefix: str) -> WebhookReceiver:
    """The receiver to serve: ``target``, or one built from the settings with its handlers."""
    if isinstance(target, WebhookReceiver):
        return target
    if isinstance(target, Router):
        receiver = receiver_from_settings(settings_prefix)
        receiver.include_router(target)
        return receiver
    raise ConfigurationError(
        f"serve a WebhookReceiver, or a Router with the handlers, not {type(target).__name__}"
    )


def _body(receiver: WebhookReceiver, request: _Request) -> bytes | Response:
    """The raw body, read within ``max_body_bytes``; or the answer refusing the request.

    ``request.read()``, not ``request.body``: the read stops one byte past the
    limit, and Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (which applies to
    ``request.body`` and form parsing) plays no part; ``max_body_bytes`` is the
    limit of this view.
    """
    if request.method != "POST":
        refusal = RequestError("only POST is accepted here", status_code=405, troubleshooting="405")
        return receiver.refused(refusal, request.headers, Allow="POST")
    limit = receiver.max_body_bytes
    declared = request.headers.get("Content-Length") or ""
    if declared and not _headers.is_content_length(declared):
        return receiver.refused(RequestError(_BAD_LENGTH), request.headers)
    if declared and int(declared) > limit:
        return receiver.too_large(request.headers)  # before reading any of it
    if not declared and "Transfer-Encoding" in request.headers and isinstance(request, WSGIRequest):
        # Django's WSGI request reads no body without a Content-Length: a chunked
        # one would reach the view empty and fail its signature, misleadingly.
        refusal = RequestError(_NO_LENGTH, status_code=411, troubleshooting="411")
        return receiver.refused(refusal, request.headers)
    try:
        body = request.read(limit + 1)
    except OSError as exc:  # UnreadablePostError: the connection failed mid-body
        logger.warning("request body unreadable (%s): answered 400", type(exc).__name__)
        return receiver.refused(RequestError(_UNREADABLE), request.headers)
    if len(body) > limit:
        return receiver.too_large(request.headers)
    return body


def _answer(response: Response) -> HttpResponse:
    """The ``Response`` as Django's, its JSON body and headers as they are."""
    return HttpResponse(
        _encode(response.body), status=response.status_code, headers=response.headers
    )
