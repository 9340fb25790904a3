"""The async Django view, through Django's ``AsyncClient`` (CSRF and APPEND_SLASH on)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from tests.adapters.contract import PATH, Answer, Client
from tests.adapters.django_client import answer, urlconf
from tests.django_setup import configure
from wrenn_webhooks import WebhookReceiver

configure()

from django.test import AsyncClient  # noqa: E402
from django.test.utils import override_settings  # noqa: E402


class _DjangoAsyncClient:
    def __init__(self) -> None:
        self.client = AsyncClient(enforce_csrf_checks=True)

    def request(
        self,
        method: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        slash: bool = False,
    ) -> Answer:
        reply = asyncio.run(
            self.client.generic(
                method,
                PATH + "/" * slash,
                body,
                content_type="application/json",
                headers=dict(headers or {}),
            )
        )
        return answer(reply)


@contextmanager
def make_client(receiver: WebhookReceiver) -> Iterator[Client]:
    with override_settings(ROOT_URLCONF=urlconf(receiver, asynchronous=True)):
        yield _DjangoAsyncClient()
