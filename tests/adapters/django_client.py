"""The Django view, through Django's test client (with CSRF and APPEND_SLASH middleware on)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from tests.adapters.contract import PATH, Answer, Client, lower
from tests.django_setup import configure
from wrenn_webhooks import WebhookReceiver

configure()

from django.test import Client as DjangoClient  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from wrenn_webhooks.django import urls  # noqa: E402


def answer(reply: Any) -> Answer:
    """Django's test response as the suite reads it."""
    try:
        data = json.loads(reply.content)
    except ValueError:
        data = None
    return Answer(reply.status_code, data, lower(reply.headers))


class _DjangoClient:
    def __init__(self) -> None:
        self.client = DjangoClient(enforce_csrf_checks=True)

    def request(
        self,
        method: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        slash: bool = False,
    ) -> Answer:
        reply = self.client.generic(
            method,
            PATH + "/" * slash,
            body,
            content_type="application/json",
            headers=dict(headers or {}),
        )
        return answer(reply)


def urlconf(receiver: WebhookReceiver, *, asynchronous: bool = False) -> ModuleType:
    """A URL configuration serving ``receiver`` at ``PATH`` (a module: Django caches by it)."""
    module = ModuleType("tests.adapters.django_urlconf")
    module.urlpatterns = urls(receiver, PATH, asynchronous=asynchronous)  # type: ignore[attr-defined]
    return module


@contextmanager
def make_client(receiver: WebhookReceiver) -> Iterator[Client]:
    with override_settings(ROOT_URLCONF=urlconf(receiver)):
        yield _DjangoClient()
