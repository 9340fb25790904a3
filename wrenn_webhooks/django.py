"""Django adapter: a view over a ``WebhookReceiver``, and URL patterns for it.

    # urls.py
    from wrenn_webhooks.django import urls
    from .webhooks import receiver       # a WebhookReceiver with its handlers

    urlpatterns = [*urls(receiver, "webhooks/wrenn")]

``urls()`` answers the path with and without its trailing slash, so Django's
``APPEND_SLASH`` never redirects a delivery (Wrenn does not follow redirects).
The view is CSRF-exempt (the signature is what proves a delivery genuine),
answers ``POST`` only, and reads at most ``max_body_bytes + 1`` bytes of the
raw body. ``receiver_from_settings()`` builds a receiver from the same keys as
the Flask extension, read from Django's settings. Django is imported here only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings  # type: ignore[import-untyped]
from django.http import HttpResponse  # type: ignore[import-untyped]
from django.urls import re_path  # type: ignore[import-untyped]
from django.views.decorators.csrf import csrf_exempt  # type: ignore[import-untyped]

from . import _headers
from ._settings import config_secrets, receiver_options
from .receiver import Response, WebhookReceiver

__all__ = ["async_webhook_view", "receiver_from_settings", "urls", "webhook_view"]

_BAD_LENGTH = "Content-Length must be 1 to 19 ASCII digits"

View = Callable[..., Any]
"""A Django view: a request in, an ``HttpResponse`` out (awaited for the async one)."""


def receiver_from_settings(prefix: str = "WRENN_WEBHOOK", **options: Any) -> WebhookReceiver:
    """A receiver configured from Django's settings, with the Flask extension's keys.

    ``{prefix}_SECRET`` (required; a string is one secret, a list several),
    ``{prefix}_PREVIOUS_SECRET`` (during a rotation), ``{prefix}_TOLERANCE``,
    ``{prefix}_MAX_BODY_BYTES`` and ``{prefix}_STORE`` (a store URL or an
    ``IdempotencyStore``). ``options`` are passed to ``WebhookReceiver`` and win
    over the settings. Call it once, at import of the module that registers the
    handlers.

    Raises:
        ConfigurationError: A missing secret or a setting of the wrong form.
    """
    config = {name: getattr(settings, name) for name in dir(settings) if name.startswith(prefix)}
    secret = options.get("secret") or config_secrets(config, prefix)
    return WebhookReceiver(secret, **receiver_options(config, prefix, options))


def webhook_view(receiver: WebhookReceiver) -> View:
    """A CSRF-exempt view that runs ``receiver.handle()`` on the raw body of a POST."""

    def view(request: Any) -> Any:
        refused = _refusal(receiver, request)
        if refused is not None:
            return _answer(refused)
        body = request.read(receiver.max_body_bytes + 1)
        if len(body) > receiver.max_body_bytes:
            return _answer(receiver.too_large(request.headers))
        return _answer(receiver.handle(body, request.headers))

    exempt: View = csrf_exempt(view)  # Wrenn sends no CSRF token: the signature proves it
    return exempt


def async_webhook_view(receiver: WebhookReceiver) -> View:
    """The async view: ``await receiver.handle_async()``, for Django served over ASGI.

    ``async def`` handlers run on the server's event loop; plain ones (the ORM's
    synchronous calls included) in worker threads.
    """

    async def view(request: Any) -> Any:
        refused = _refusal(receiver, request)
        if refused is not None:
            return _answer(refused)
        body = request.read(receiver.max_body_bytes + 1)  # Django has buffered it already
        if len(body) > receiver.max_body_bytes:
            return _answer(receiver.too_large(request.headers))
        return _answer(await receiver.handle_async(body, request.headers))

    exempt: View = csrf_exempt(view)  # keeps the view a coroutine function, as Django needs
    return exempt


def urls(receiver: WebhookReceiver, path: str, *, asynchronous: bool = False) -> list[Any]:
    """URL patterns answering ``path`` with and without its trailing slash, never redirecting.

    Args:
        receiver: The receiver, with its handlers registered.
        path: Where to answer, such as ``"webhooks/wrenn"`` (no leading slash, as
            in Django's ``path()``).
        asynchronous: Use ``async_webhook_view`` (Django served over ASGI).
    """
    view = (async_webhook_view if asynchronous else webhook_view)(receiver)
    pattern = rf"^{re.escape(path.strip('/'))}/?$"
    return [re_path(pattern, view, name="wrenn_webhooks")]


def _refusal(receiver: WebhookReceiver, request: Any) -> Response | None:
    """The answer to a request refused before its body is read, if it is one."""
    if request.method != "POST":
        return Response(
            405,
            {"ok": False, "error": "only POST is accepted here"},
            {"Content-Type": "application/json", "Allow": "POST"},
        )
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared and not _headers.is_content_length(declared):
        return Response(400, {"ok": False, "error": _BAD_LENGTH})
    if declared and int(declared) > receiver.max_body_bytes:
        return receiver.too_large(request.headers)
    return None


def _answer(response: Response) -> Any:
    answer = HttpResponse(json.dumps(response.body), status=response.status_code)
    for name, value in response.headers.items():
        answer[name] = value
    return answer
