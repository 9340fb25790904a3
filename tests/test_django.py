"""The Django adapter beyond the shared contract: settings, the async view, the test kit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import Clock
from tests.django_setup import configure
from tests.vectors import SECRET
from wrenn_webhooks import CapsulePause, ConfigurationError, SQLiteIdempotencyStore, WebhookReceiver
from wrenn_webhooks.testing import adeliver, deliver, make_event, signed_request

configure()

from django.test import AsyncClient, Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from wrenn_webhooks.django import receiver_from_settings, urls  # noqa: E402


def urlconf(receiver: WebhookReceiver, *, asynchronous: bool = False) -> ModuleType:
    module = ModuleType("tests.test_django_urlconf")
    module.urlpatterns = urls(receiver, "webhooks/wrenn", asynchronous=asynchronous)  # type: ignore[attr-defined]
    return module


@pytest.fixture
def receiver(clock: Clock) -> WebhookReceiver:
    receiver = WebhookReceiver(SECRET, clock=clock)
    receiver.on(CapsulePause)(lambda event: None)
    return receiver


@pytest.fixture
def mounted(receiver: WebhookReceiver) -> Iterator[WebhookReceiver]:
    with override_settings(ROOT_URLCONF=urlconf(receiver)):
        yield receiver


def test_deliver_posts_the_raw_body_with_djangos_client(
    mounted: WebhookReceiver, clock: Clock
) -> None:
    first, again = deliver(Client(), make_event(CapsulePause), SECRET, attempts=2, clock=clock)
    assert (first.status_code, first.body["handled"]) == (200, 1)
    assert again.duplicate


def test_a_declared_oversized_body_is_413_and_a_bad_length_400(mounted: WebhookReceiver) -> None:
    body, headers = signed_request(make_event(CapsulePause), SECRET)
    client = Client()
    big = client.generic(
        "POST",
        "/webhooks/wrenn",
        body,
        content_type="application/json",
        headers=headers,
        CONTENT_LENGTH=str(10 * 1024 * 1024),
    )
    assert big.status_code == 413
    bad = client.generic(
        "POST",
        "/webhooks/wrenn",
        body,
        content_type="application/json",
        headers=headers,
        CONTENT_LENGTH="-1",
    )
    assert bad.status_code == 400 and b"Content-Length" in bad.content


def test_the_async_view_awaits_async_handlers(clock: Clock) -> None:
    receiver = WebhookReceiver(SECRET, clock=clock)
    loops: list[Any] = []

    @receiver.on(CapsulePause)
    async def remember(event: CapsulePause) -> None:
        loops.append(asyncio.get_running_loop())

    async def test() -> list[Any]:
        with override_settings(ROOT_URLCONF=urlconf(receiver, asynchronous=True)):
            results = await adeliver(
                AsyncClient(), make_event(CapsulePause), SECRET, attempts=2, clock=clock
            )
        return [results, asyncio.get_running_loop()]

    (first, again), loop = asyncio.run(test())
    assert (first.status_code, first.body["handled"], again.duplicate) == (200, 1, True)
    assert loops == [loop]


def test_receiver_from_settings_reads_the_flask_extensions_keys(tmp_path: Any) -> None:
    comma_secret = "team,own,secret-" + "x" * 40
    with override_settings(
        WRENN_WEBHOOK_SECRET=comma_secret,
        WRENN_WEBHOOK_PREVIOUS_SECRET=SECRET,
        WRENN_WEBHOOK_TOLERANCE="120",
        WRENN_WEBHOOK_MAX_BODY_BYTES=4096,
        WRENN_WEBHOOK_STORE=f"sqlite:///{tmp_path / 'store.db'}",
    ):
        receiver = receiver_from_settings()
    assert receiver.secret_count == 2  # the comma secret is one secret, then the previous one
    assert (receiver.tolerance, receiver.max_body_bytes) == (120.0, 4096)
    assert isinstance(receiver.store, SQLiteIdempotencyStore)
    body, headers = signed_request(make_event(CapsulePause), comma_secret)
    assert receiver.handle(body, headers).status_code == 200
    receiver.store.close()  # type: ignore[attr-defined]


def test_receiver_from_settings_needs_a_secret() -> None:
    with (
        override_settings(WRENN_WEBHOOK_SECRET=None),
        pytest.raises(ConfigurationError, match="set WRENN_WEBHOOK_SECRET to the channel's secret"),
    ):
        receiver_from_settings()


def test_the_module_imports_django_only_itself() -> None:
    import subprocess
    import sys

    code = "import sys, wrenn_webhooks, wrenn_webhooks.flask; print('django' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
