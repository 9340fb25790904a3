"""The Django adapter beyond the shared contract (``tests/adapters/django*_client.py``).

The path and its slash whatever ``APPEND_SLASH`` and ``DEBUG`` say, CSRF, sizes,
the async view and where handlers run (the ORM included), settings, and the
module's imports. Django is configured once for the process
(``tests/django_setup.py``); each test mounts its own URL configuration.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.adapters.django_client import urlconf
from tests.conftest import Clock, signed
from tests.django_setup import SECRET as SETTINGS_SECRET
from tests.django_setup import configure
from tests.vectors import SAMPLE_BODY, SECRET
from wrenn_webhooks import (
    CapsulePause,
    ConfigurationError,
    Router,
    SQLiteIdempotencyStore,
    WebhookReceiver,
)
from wrenn_webhooks.testing import adeliver, deliver, make_event, signed_request

configure()

from django.core.checks import run_checks  # noqa: E402
from django.core.exceptions import SynchronousOnlyOperation  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.db import close_old_connections, connection, connections  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.test import AsyncClient, Client, RequestFactory  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.urls import include, path, reverse  # noqa: E402

from wrenn_webhooks.django import (  # noqa: E402
    async_webhook_view,
    receiver_from_settings,
    urls,
    webhook_view,
)

PATH = "/webhooks/wrenn"


def module(patterns: list[Any]) -> ModuleType:
    """A URL configuration module holding ``patterns``."""
    urlconf_module = ModuleType("tests.test_django_urlconf")
    urlconf_module.urlpatterns = patterns  # type: ignore[attr-defined]
    return urlconf_module


def post(client: Client, url: str, body: bytes, headers: dict[str, str], **extra: Any) -> Any:
    return client.generic(
        "POST", url, body, content_type="application/json", headers=headers, **extra
    )


@pytest.fixture
def receiver(clock: Clock) -> WebhookReceiver:
    receiver = WebhookReceiver(SECRET, clock=clock)
    receiver.on(CapsulePause)(lambda event: None)
    return receiver


@pytest.fixture
def mounted(receiver: WebhookReceiver) -> Iterator[WebhookReceiver]:
    with override_settings(ROOT_URLCONF=urlconf(receiver)):
        yield receiver


# --- the path, its slash, CSRF ---------------------------------------------------


@pytest.mark.parametrize("append_slash", [True, False])
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("slash", ["", "/"])
def test_both_spellings_are_answered_whatever_append_slash_and_debug_say(
    mounted: WebhookReceiver, clock: Clock, append_slash: bool, debug: bool, slash: str
) -> None:
    # With DEBUG, CommonMiddleware raises for a POST it would redirect: none is.
    with override_settings(APPEND_SLASH=append_slash, DEBUG=debug):
        reply = post(Client(), PATH + slash, *signed(SAMPLE_BODY, clock))
    assert reply.status_code == 200, reply.content


def test_the_view_is_never_slash_redirected_even_mounted_by_hand(
    receiver: WebhookReceiver, clock: Clock
) -> None:
    def other(request: HttpRequest) -> HttpResponse:
        return HttpResponse("form")

    patterns = [path("hooks/", webhook_view(receiver)), path("other/", other)]
    with override_settings(ROOT_URLCONF=module(patterns)):
        client = Client()
        assert client.get("/other").status_code == 301  # APPEND_SLASH is at work here
        assert post(client, "/hooks", *signed(SAMPLE_BODY, clock)).status_code == 404
        assert post(client, "/hooks/", *signed(SAMPLE_BODY, clock)).status_code == 200


def test_only_the_webhook_is_csrf_exempt(receiver: WebhookReceiver, clock: Clock) -> None:
    def form(request: HttpRequest) -> HttpResponse:
        return HttpResponse("form")

    patterns = [*urls(receiver, PATH), path("form", form)]
    with override_settings(ROOT_URLCONF=module(patterns)):
        client = Client(enforce_csrf_checks=True)
        assert post(client, "/form", *signed(SAMPLE_BODY, clock)).status_code == 403
        assert post(client, PATH, *signed(SAMPLE_BODY, clock)).status_code == 200


def test_the_patterns_pass_djangos_url_checks_and_reverse(receiver: WebhookReceiver) -> None:
    patterns = [*urls(receiver, "/webhooks/wrenn/"), *urls(receiver, "", name="root")]
    with override_settings(ROOT_URLCONF=module(patterns)):
        assert run_checks(tags=["urls"]) == []
        assert (reverse("wrenn_webhooks"), reverse("root")) == (PATH, "/")
    assert [str(p.pattern) for p in patterns] == ["webhooks/wrenn", "webhooks/wrenn/", ""]


@pytest.mark.parametrize("slash", ["", "/"])
def test_the_patterns_keep_both_spellings_in_an_include(
    receiver: WebhookReceiver, clock: Clock, slash: str
) -> None:
    patterns = [path("api/", include(urls(receiver, "webhooks/wrenn")))]
    with override_settings(ROOT_URLCONF=module(patterns)):
        reply = post(Client(), "/api/webhooks/wrenn" + slash, *signed(SAMPLE_BODY, clock))
    assert reply.status_code == 200


def test_deliver_posts_the_raw_body_with_djangos_client(
    mounted: WebhookReceiver, clock: Clock
) -> None:
    first, again = deliver(Client(), make_event(CapsulePause), SECRET, attempts=2, clock=clock)
    assert (first.status_code, first.body["handled"]) == (200, 1)
    assert again.duplicate


# --- sizes and framing -----------------------------------------------------------


def test_a_declared_oversize_is_413_before_reading_and_a_bad_length_400(
    mounted: WebhookReceiver, clock: Clock
) -> None:
    body, headers = signed(SAMPLE_BODY, clock)
    client = Client()
    # Reading would fail: the test client's input holds fewer bytes than declared.
    big = post(client, PATH, body, headers, CONTENT_LENGTH=str(10 * 1024 * 1024))
    assert big.status_code == 413 and b"1048576 bytes" in big.content
    bad = post(client, PATH, body, headers, CONTENT_LENGTH="-1")
    assert bad.status_code == 400 and b"Content-Length" in bad.content


def test_data_upload_max_memory_size_plays_no_part(mounted: WebhookReceiver, clock: Clock) -> None:
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=16):
        reply = post(Client(), PATH, *signed(SAMPLE_BODY, clock))
    assert reply.status_code == 200  # max_body_bytes is the view's one limit


def test_a_chunked_body_under_wsgi_is_411_not_a_misleading_401(
    mounted: WebhookReceiver, clock: Clock
) -> None:
    _, headers = signed(SAMPLE_BODY, clock)
    # No data: the test client then sends no Content-Length, as a chunked request has none.
    reply = post(Client(), PATH, b"", {**headers, "Transfer-Encoding": "chunked"})
    assert reply.status_code == 411 and b"Content-Length" in reply.content


def test_a_body_the_server_cannot_read_is_400(receiver: WebhookReceiver, clock: Clock) -> None:
    class Broken:
        def read(self, size: int = -1) -> bytes:
            raise ConnectionResetError("reset by peer")

        readline = read

    body, headers = signed(SAMPLE_BODY, clock)
    broken = RequestFactory().generic(
        "POST",
        PATH,
        body,
        content_type="application/json",
        headers=headers,
        **{"wsgi.input": Broken()},
    )
    reply = webhook_view(receiver)(broken)
    assert reply.status_code == 400 and b"could not be read" in reply.content


# --- the async view, and where handlers run --------------------------------------


def test_the_async_view_awaits_async_handlers_on_the_loop_and_threads_plain_ones(
    clock: Clock,
) -> None:
    receiver = WebhookReceiver(SECRET, clock=clock)
    seen: dict[str, Any] = {}

    @receiver.on(CapsulePause)
    async def on_loop(event: CapsulePause) -> None:
        seen["loop"] = asyncio.get_running_loop()

    @receiver.on(CapsulePause)
    def in_thread(event: CapsulePause) -> None:
        seen["thread"] = threading.current_thread()

    async def run() -> tuple[list[Any], asyncio.AbstractEventLoop]:
        with override_settings(ROOT_URLCONF=urlconf(receiver, asynchronous=True)):
            results = await adeliver(
                AsyncClient(), make_event(CapsulePause), SECRET, attempts=2, clock=clock
            )
        return results, asyncio.get_running_loop()

    (first, again), loop = asyncio.run(run())
    assert (first.status_code, first.body["handled"], again.duplicate) == (200, 2, True)
    assert seen["loop"] is loop
    assert seen["thread"] is not threading.current_thread()


def test_a_chunked_header_under_asgi_reads_what_django_received(clock: Clock) -> None:
    receiver = WebhookReceiver(SECRET, clock=clock)
    _, headers = signed(SAMPLE_BODY, clock)

    async def run() -> Any:
        with override_settings(ROOT_URLCONF=urlconf(receiver, asynchronous=True)):
            return await AsyncClient().post(
                PATH, b"", content_type="application/json", headers=headers
            )

    assert asyncio.run(run()).status_code == 401  # the whole (empty) body, signed otherwise


def test_a_client_that_goes_away_cancels_the_async_views_handler(clock: Clock) -> None:
    """Django's ASGI handler cancels the view on a disconnect: the claim is given back."""
    receiver = WebhookReceiver(SECRET, clock=clock)
    runs: list[str] = []

    @receiver.on(CapsulePause)
    async def slow(event: CapsulePause) -> None:
        runs.append("started")
        if len(runs) == 1:  # the first attempt outlasts its client, as past Wrenn's 10 s
            started.set()
            await asyncio.sleep(60)
        runs.append("finished")

    body, headers = signed(SAMPLE_BODY, clock)
    scope = {
        "type": "http",
        "method": "POST",
        "path": PATH,
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await started.wait()  # the client leaves once the handler runs
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        runs.append(message["type"])

    async def run() -> None:
        with override_settings(ROOT_URLCONF=urlconf(receiver, asynchronous=True)):
            await ASGIHandler()(scope, receive, send)

    started = asyncio.Event()
    asyncio.run(run())
    assert runs == ["started"]  # cancelled: no answer sent, nothing finished
    # The claim was given back (no 409): the retry runs the handler again.
    retry = receiver.handle(*signed(SAMPLE_BODY, clock))
    assert (retry.status_code, runs) == (200, ["started", "started", "finished"])


def select_one() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return int(cursor.fetchone()[0])


def test_the_sync_view_runs_orm_handlers_as_any_view(clock: Clock) -> None:
    receiver = WebhookReceiver(SECRET, clock=clock)
    results: list[int] = []
    receiver.on(CapsulePause)(lambda event: results.append(select_one()))
    with override_settings(ROOT_URLCONF=urlconf(receiver)):
        [answer] = deliver(Client(), make_event(CapsulePause), SECRET, clock=clock)
    close_old_connections()
    assert (answer.status_code, results) == (200, [1])


def test_in_the_async_view_orm_calls_belong_in_plain_handlers(clock: Clock) -> None:
    receiver = WebhookReceiver(SECRET, clock=clock)
    found: dict[str, Any] = {}

    @receiver.on(CapsulePause)
    async def on_loop(event: CapsulePause) -> None:
        try:
            select_one()
        except SynchronousOnlyOperation as exc:
            found["on the loop"] = exc
            raise

    @receiver.on(CapsulePause)
    def in_thread(event: CapsulePause) -> None:
        close_old_connections()  # what Django does around a request, in this thread
        try:
            found["in a thread"] = select_one()
            found["connection"] = connections["default"]
        finally:
            close_old_connections()

    async def run() -> list[Any]:
        with override_settings(ROOT_URLCONF=urlconf(receiver, asynchronous=True)):
            return await adeliver(AsyncClient(), make_event(CapsulePause), SECRET, clock=clock)

    [answer] = asyncio.run(run())
    assert answer.status_code == 500  # the async handler failed: Wrenn retries that one
    assert isinstance(found["on the loop"], SynchronousOnlyOperation)
    assert found["in a thread"] == 1
    assert found["connection"].connection is None  # closed: the thread holds none open


# --- settings --------------------------------------------------------------------


def test_receiver_from_settings_reads_the_flask_extensions_keys(tmp_path: Path) -> None:
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
    for secret in (comma_secret, SECRET):
        body, headers = signed_request(make_event(CapsulePause), secret)
        assert receiver.handle(body, headers).status_code == 200
    receiver.store.close()


def test_keyword_options_win_over_the_settings() -> None:
    with override_settings(WRENN_WEBHOOK_PREVIOUS_SECRET="p" * 64, WRENN_WEBHOOK_TOLERANCE=9):
        receiver = receiver_from_settings(secret=SECRET, tolerance=30)
    assert (receiver.secret_count, receiver.tolerance) == (1, 30)


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [
        ("WRENN_WEBHOOK_SECRET", None, "set WRENN_WEBHOOK_SECRET to the channel's secret"),
        ("WRENN_WEBHOOK_SECRET", "", "set WRENN_WEBHOOK_SECRET to the channel's secret"),
        ("WRENN_WEBHOOK_SECRET", b"bytes", "WRENN_WEBHOOK_SECRET must be a string"),
        ("WRENN_WEBHOOK_TOLERANCE", "5m", "WRENN_WEBHOOK_TOLERANCE must be a positive"),
        ("WRENN_WEBHOOK_MAX_BODY_BYTES", 2048.0, "WRENN_WEBHOOK_MAX_BODY_BYTES must be"),
        ("WRENN_WEBHOOK_STORE", 42, "WRENN_WEBHOOK_STORE must be a store URL"),
    ],
)
def test_a_wrong_setting_is_a_configuration_error_naming_it(
    setting: str, value: object, words: str
) -> None:
    with override_settings(**{setting: value}), pytest.raises(ConfigurationError, match=words):
        receiver_from_settings()


def test_urls_of_a_router_builds_the_receiver_from_settings_once(clock: Clock) -> None:
    router = Router()
    seen: list[str] = []
    router.on(CapsulePause)(lambda event: seen.append(event.capsule_id))
    with override_settings(WRENN_WEBHOOK_MAX_BODY_BYTES=2048):
        patterns = urls(router, PATH)
    with pytest.raises(ConfigurationError, match="include_router"):
        router.on(CapsulePause)(lambda event: None)  # register first, as with Flask
    with override_settings(ROOT_URLCONF=module(patterns), WRENN_WEBHOOK_SECRET="changed" * 8):
        client = Client()
        # The settings were read once, by urls(): the secret then, the limit then.
        body, headers = signed_request(make_event(CapsulePause), SETTINGS_SECRET)
        assert post(client, PATH + "/", body, headers).status_code == 200
        assert post(client, PATH, *signed_request(b" " * 2049, SETTINGS_SECRET)).status_code == 413
    assert len(seen) == 1


def test_urls_reads_the_path_and_a_second_receivers_keys() -> None:
    with override_settings(WRENN_WEBHOOK_URL_PREFIX="/hooks/wrenn"):
        assert str(urls(Router())[0].pattern) == "hooks/wrenn"
    assert str(urls(Router())[0].pattern) == "webhooks/wrenn"
    with override_settings(WRENN_STAGING_SECRET=SECRET, WRENN_STAGING_URL_PREFIX="staging/"):
        [only] = urls(Router(), settings_prefix="WRENN_STAGING")[:1]
    assert str(only.pattern) == "staging"
    with (
        override_settings(WRENN_WEBHOOK_URL_PREFIX=["hooks"]),
        pytest.raises(ConfigurationError, match="WRENN_WEBHOOK_URL_PREFIX must be a path"),
    ):
        urls(Router())


def test_a_missing_secret_fails_when_the_url_configuration_is_built() -> None:
    for build in (urls, webhook_view, async_webhook_view):
        with (
            override_settings(WRENN_WEBHOOK_SECRET=None),
            pytest.raises(ConfigurationError, match="set WRENN_WEBHOOK_SECRET"),
        ):
            build(Router())


def test_anything_but_a_receiver_or_router_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="not str"):
        urls("WRENN_WEBHOOK", PATH)  # type: ignore[arg-type]


# --- imports ---------------------------------------------------------------------


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_package_imports_without_django() -> None:
    out = run_python(
        "import sys; sys.modules['django'] = None\n"  # as if Django were not installed
        "import wrenn_webhooks, wrenn_webhooks.flask, wrenn_webhooks.asgi\n"
        "try:\n    import wrenn_webhooks.django\nexcept ImportError as exc:\n    print(exc)"
    )
    assert out.stdout.strip() == (
        "wrenn_webhooks.django needs Django: pip install 'wrenn-webhooks[django]'"
    ), out.stderr


def test_the_module_imports_before_django_is_configured() -> None:
    out = run_python(
        "import sys, wrenn_webhooks\nprint('django' in sys.modules)\n"
        "import wrenn_webhooks.django\nfrom django.conf import settings\n"
        "print(settings.configured)"
    )
    assert out.stdout.split() == ["False", "False"], out.stderr
