"""The ASGI adapter: in process (raw ASGI messages, httpx's ASGITransport) and under uvicorn.

The status contract itself runs through ``tests/adapters/asgi*_client.py``; this
file covers what only an ASGI application does: reading the body from
``receive()`` within the limit, disconnects, lifespan and WebSocket scopes, the
path and its slash, mounting in Starlette and FastAPI, and the table of hostile
requests (``tests/hostile_cases.py``) sent over real sockets to uvicorn.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.conftest import Clock, signed
from tests.hostile_cases import (
    CASES,
    Case,
    Target,
    event_body,
    exchange,
    request,
    signature_headers,
)
from tests.servers import BIN, free_port, post, serve, store_records
from tests.vectors import SAMPLE_BODY, SECRET
from wrenn_webhooks import CapsulePause, ConfigurationError, Event, WebhookReceiver, sign
from wrenn_webhooks.asgi import ASGIApp, asgi_app, routes

PATH = "/webhooks/wrenn"
LIMIT = 4096


# --- a raw ASGI client --------------------------------------------------------------


@dataclass
class Exchange:
    """What an app sent for one request, and how many body messages it asked for."""

    sent: list[MutableMapping[str, Any]] = field(default_factory=list)
    taken: int = 0

    @property
    def status(self) -> int | None:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        return starts[0]["status"] if starts else None

    @property
    def headers(self) -> dict[bytes, bytes]:
        (start,) = [m for m in self.sent if m["type"] == "http.response.start"]
        return dict(start["headers"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


def http_scope(
    headers: Sequence[tuple[bytes, bytes]] = (),
    *,
    method: str = "POST",
    path: str = PATH,
    root_path: str = "",
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": root_path,
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }


def call(
    app: ASGIApp,
    scope: dict[str, Any],
    chunks: list[bytes],
    *,
    then: str = "disconnect",
) -> Exchange:
    """Run one request through ``app``: ``chunks`` as body messages, then ``then``.

    ``then="disconnect"``: the client goes away once the chunks are sent (an
    ``http.disconnect``, as a server reports a closed connection); ``"hang"``:
    it sends nothing more and never leaves, as a client that declared a body it
    does not send. The last chunk closes the body unless ``then`` is ``"hang"``
    or ``"disconnect-mid-body"`` (more promised, then a disconnect).
    """
    result = Exchange()
    more = then in ("hang", "disconnect-mid-body")

    async def receive() -> dict[str, Any]:
        if result.taken < len(chunks):
            result.taken += 1
            last = result.taken == len(chunks)
            body = chunks[result.taken - 1]
            return {"type": "http.request", "body": body, "more_body": more or not last}
        if then == "hang":
            await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        result.sent.append(message)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), 5))
    return result


@pytest.fixture
def receiver(clock: Clock) -> WebhookReceiver:
    return WebhookReceiver(SECRET, clock=clock, max_body_bytes=LIMIT)


@pytest.fixture
def app(receiver: WebhookReceiver) -> ASGIApp:
    return asgi_app(receiver, path=PATH)


def wire(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """Headers as an ASGI server passes them: lower-case names, bytes."""
    return [(name.lower().encode(), value.encode()) for name, value in headers.items()]


# --- the body: size, length, disconnects --------------------------------------------


def test_a_delivery_in_one_message_is_handled(
    app: ASGIApp, receiver: WebhookReceiver, clock: Clock
) -> None:
    seen: list[str] = []
    receiver.on(CapsulePause)(lambda event: seen.append(event.capsule_id))
    body, headers = signed(SAMPLE_BODY, clock)
    length = (b"content-length", str(len(body)).encode())
    answer = call(app, http_scope([*wire(headers), length]), [body])
    assert (answer.status, answer.taken, len(seen)) == (200, 1, 1)
    assert answer.headers[b"content-type"] == b"application/json"
    assert answer.headers[b"content-length"] == str(len(answer.body)).encode()


def test_a_body_in_many_messages_is_joined(app: ASGIApp, clock: Clock) -> None:
    body, headers = signed(SAMPLE_BODY, clock)
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
    answer = call(app, http_scope(wire(headers)), pieces)
    assert (answer.status, answer.taken) == (200, len(pieces))


def test_a_declared_length_over_the_limit_is_413_before_reading(
    app: ASGIApp, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    _, headers = signed(SAMPLE_BODY, clock)
    length = (b"content-length", b"50000000")
    answer = call(app, http_scope([*wire(headers), length]), [b"x" * 1024], then="hang")
    assert (answer.status, answer.taken) == (413, 0)
    assert str(LIMIT).encode() in answer.body
    # Logged as handle() logs a 413, with the delivery id the request carried.
    assert any(headers["X-Wrenn-Delivery"] in r.getMessage() for r in caplog.records)


def test_a_chunked_body_is_read_only_to_the_limit(app: ASGIApp) -> None:
    chunk = b"x" * 1000
    answer = call(app, http_scope(), [chunk] * 40, then="hang")  # 40 KB, no length
    assert answer.status == 413
    assert answer.taken == LIMIT // len(chunk) + 1  # one byte past the limit, no further


def test_a_body_of_exactly_the_limit_is_read_and_verified(app: ASGIApp) -> None:
    answer = call(app, http_scope(), [b" " * LIMIT])
    assert answer.status == 401  # not 413: the size is allowed


@pytest.mark.parametrize(
    "value",
    [b"\xb2", b"9" * 5000, b"abc", b"-1", b"+2", b"0x10", b"1" * 20, b"", b"5, 5"],
    ids=["superscript-two", "5000-digits", "abc", "minus-one", "plus", "hex", "20", "empty", "2x"],
)
def test_a_malformed_content_length_is_400_before_reading(app: ASGIApp, value: bytes) -> None:
    answer = call(app, http_scope([(b"content-length", value)]), [b"{}"], then="hang")
    assert (answer.status, answer.taken) == (400, 0)
    assert b"1 to 19 ASCII digits" in answer.body


def test_a_body_shorter_than_its_length_is_400(app: ASGIApp, clock: Clock) -> None:
    body, headers = signed(SAMPLE_BODY, clock)
    length = (b"content-length", str(len(body)).encode())
    answer = call(app, http_scope([*wire(headers), length]), [body[:-10]])
    assert answer.status == 400
    assert b"ended before its Content-Length" in answer.body


@pytest.mark.parametrize("chunks", [[], [b'{"event":']], ids=["before-the-body", "mid-body"])
def test_a_client_that_leaves_mid_body_gets_no_answer_and_runs_nothing(
    app: ASGIApp,
    receiver: WebhookReceiver,
    chunks: list[bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[Event] = []
    receiver.on("*")(ran.append)
    answer = call(app, http_scope(), chunks, then="disconnect-mid-body")
    assert (answer.sent, ran) == ([], [])
    assert any("ended before its body did" in r.getMessage() for r in caplog.records)


def test_a_repeated_signature_header_is_one_malformed_value(app: ASGIApp, clock: Clock) -> None:
    body, headers = signed(SAMPLE_BODY, clock)
    twice = [*wire(headers), (b"x-wrenn-signature", headers["X-Wrenn-Signature"].encode())]
    assert call(app, http_scope(twice), [body]).status == 401


def test_header_names_in_any_case_are_read(app: ASGIApp, clock: Clock) -> None:
    body, headers = signed(SAMPLE_BODY, clock)
    raw = [(name.upper().encode(), value.encode()) for name, value in headers.items()]
    assert call(app, http_scope(raw), [body]).status == 200


# --- methods, paths, other scopes ------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_other_methods_are_405_with_allow_post_unread(app: ASGIApp, method: str) -> None:
    answer = call(app, http_scope(method=method), [b"{}"], then="hang")
    assert (answer.status, answer.taken) == (405, 0)
    assert answer.headers[b"allow"] == b"POST"


@pytest.mark.parametrize(
    ("path", "root_path", "status"),
    [
        (PATH, "", 401),
        (PATH + "/", "", 401),
        ("/webhooks/wrenn2", "", 404),
        ("/webhooks", "", 404),
        ("/", "", 404),
        ("/api" + PATH, "/api", 401),  # behind a proxy: uvicorn --root-path /api
        ("/api" + PATH + "/", "/api", 401),
        ("/apiary" + PATH, "/api", 404),
    ],
)
def test_the_path_with_or_without_its_slash_and_nothing_else(
    app: ASGIApp, path: str, root_path: str, status: int
) -> None:
    answer = call(app, http_scope(path=path, root_path=root_path), [b"{}"])
    assert answer.status == status


@pytest.mark.parametrize(
    ("path", "root_path", "status"),
    [("/", "", 401), ("", "", 401), ("/api", "/api", 401), ("/api/", "/api", 401), ("/x", "", 404)],
)
def test_an_app_at_the_root(
    receiver: WebhookReceiver, path: str, root_path: str, status: int
) -> None:
    app = asgi_app(receiver, path="/")
    assert call(app, http_scope(path=path, root_path=root_path), [b"{}"]).status == status
    assert repr(app).endswith(" at />")


def test_without_a_path_every_path_is_answered(receiver: WebhookReceiver) -> None:
    answer = call(asgi_app(receiver), http_scope(path="/anything/at/all"), [b"{}"])
    assert answer.status == 401


def test_the_lifespan_completes_start_up_and_shutdown(app: ASGIApp) -> None:
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 5))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_a_websocket_is_closed_before_it_is_accepted(app: ASGIApp) -> None:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {**http_scope(), "type": "websocket"}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 5))
    assert [m["type"] for m in sent] == ["websocket.close"]


def test_an_unknown_scope_type_raises(app: ASGIApp) -> None:
    async def receive() -> dict[str, Any]:
        raise AssertionError("not called")

    async def send(message: MutableMapping[str, Any]) -> None:
        raise AssertionError("not called")

    with pytest.raises(ConfigurationError, match="'telepathy'"):
        asyncio.run(asyncio.wait_for(app({"type": "telepathy"}, receive, send), 5))


@pytest.mark.parametrize("path", ["webhooks/wrenn", "", "https://x/webhooks"])
def test_a_path_must_start_with_a_slash(receiver: WebhookReceiver, path: str) -> None:
    with pytest.raises(ConfigurationError, match="must start with '/'"):
        asgi_app(receiver, path=path)
    with pytest.raises(ConfigurationError, match="must start with '/'"):
        routes(receiver, path)


def test_asgi_app_takes_a_receiver() -> None:
    with pytest.raises(ConfigurationError, match="a WebhookReceiver, not str"):
        asgi_app("secret")  # type: ignore[arg-type]


# --- mounting in Starlette and FastAPI ---------------------------------------------


async def post_both(app: ASGIApp, clock: Clock, path: str = PATH) -> list[tuple[int, str]]:
    """POST a delivery to ``path`` and to ``path/``; the statuses and any ``Location``."""
    answers = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for target in (path, path + "/"):
            body, headers = signed(SAMPLE_BODY, clock)
            reply = await client.post(target, content=body, headers=headers)
            answers.append((reply.status_code, reply.headers.get("location", "")))
    return answers


def test_a_starlette_mount_redirects_the_path_without_its_slash(
    receiver: WebhookReceiver, clock: Clock
) -> None:
    """Why ``routes()`` exists: Wrenn does not follow this 307, so every delivery fails."""
    mounted = Starlette(routes=[Mount(PATH, asgi_app(receiver))])
    [(status, location), slashed] = asyncio.run(post_both(mounted, clock))
    assert (status, location) == (307, f"http://testserver{PATH}/")
    assert slashed == (200, "")


def test_routes_answer_both_spellings_in_starlette(receiver: WebhookReceiver, clock: Clock) -> None:
    app = Starlette(routes=routes(receiver, PATH + "/"))  # a trailing slash changes nothing
    assert asyncio.run(post_both(app, clock)) == [(200, ""), (200, "")]
    assert app.url_path_for("wrenn_webhooks") == PATH
    assert app.url_path_for("wrenn_webhooks_slash") == PATH + "/"


def test_routes_in_a_fastapi_router_with_a_prefix(receiver: WebhookReceiver, clock: Clock) -> None:
    router = APIRouter()
    router.routes.extend(routes(receiver, "/wrenn", name="wrenn"))
    app = FastAPI()
    app.include_router(router, prefix="/webhooks")
    assert asyncio.run(post_both(app, clock)) == [(200, ""), (200, "")]
    assert app.openapi()["paths"] == {}  # plain routes: no schema to generate or break


def test_routes_at_the_root_are_one_route(receiver: WebhookReceiver, clock: Clock) -> None:
    [route] = routes(receiver, "/")
    app = Starlette(routes=[route])

    async def post_root() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            body, headers = signed(SAMPLE_BODY, clock)
            return (await client.post("/", content=body, headers=headers)).status_code

    assert asyncio.run(post_root()) == 200


def test_async_handlers_run_on_the_callers_loop_and_plain_ones_in_threads(
    receiver: WebhookReceiver, clock: Clock
) -> None:
    where: dict[str, Any] = {}

    @receiver.on(CapsulePause)
    async def on_loop(event: CapsulePause) -> None:
        where["async"] = (asyncio.get_running_loop(), threading.get_ident())

    @receiver.on(CapsulePause)
    def in_thread(event: CapsulePause) -> None:
        where["plain"] = threading.get_ident()

    async def run() -> tuple[asyncio.AbstractEventLoop, list[tuple[int, str]]]:
        app = Starlette(routes=routes(receiver, PATH))
        return asyncio.get_running_loop(), await post_both(app, clock)

    loop, answers = asyncio.run(run())
    assert answers[0] == (200, "")
    assert where["async"] == (loop, threading.get_ident())
    assert where["plain"] != threading.get_ident()


def test_routes_without_starlette_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, receiver: WebhookReceiver
) -> None:
    monkeypatch.setitem(sys.modules, "starlette.routing", None)
    with pytest.raises(ImportError, match=r"wrenn-webhooks\[asgi\]"):
        routes(receiver, PATH)


def test_the_app_itself_imports_no_framework() -> None:
    code = (
        "import sys, wrenn_webhooks.asgi; "
        "print(sorted(m for m in ('starlette', 'fastapi', 'anyio', 'flask', 'uvicorn') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- under uvicorn -----------------------------------------------------------------

HOSTILE_SECRET = "h0st1le5ecreth0st1le5ecreth0st1le5ecreth0st1le5ecreth0st1le5ecre"


# uvicorn's two HTTP parsers: h11 (pure Python, always there) and httptools (the
# `uvicorn[standard]` extra), which differ on malformed requests.
HTTP_PARSERS = [
    "h11",
    pytest.param(
        "httptools",
        marks=pytest.mark.skipif(find_spec("httptools") is None, reason="httptools missing"),
    ),
]
needs_uvicorn = pytest.mark.skipif(not (BIN / "uvicorn").exists(), reason="uvicorn missing")


def uvicorn(target: str, port: int, *options: str) -> list[str]:
    return [
        str(BIN / "uvicorn"),
        target,
        *options,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]


@dataclass
class Running:
    http: str
    port: int
    store: Path


# Where uvicorn answers a hostile request otherwise than gunicorn (the table's
# second column), by parser. Every one is still refused: none is a 5xx, none
# reaches a handler or the store (checked below).
UVICORN_ANSWERS: dict[str, dict[str, str]] = {
    # uvicorn limits neither the size nor the number of header fields: the
    # receiver then refuses the signature itself. Except that h11 refuses a header
    # block still incomplete past 16 KB (its max_incomplete_event_size), so whether
    # it sees 60 KB at once or in pieces depends on how the kernel hands them over.
    "headers: a 60 KB signature header": {"h11": "401 or 400", "httptools": "401"},
    "headers: 150 extra headers": {"h11": "401", "httptools": "401"},
    # h11 joins a folded line to the field (RFC 9112 allows it): the signature
    # then holds a space and no longer matches.
    "headers: valid signature folded over two lines (obs-fold)": {"h11": "401"},
    # No limit on the request line either: the path is simply not the receiver's.
    "request line: a 10,000-character path": {"h11": "404", "httptools": "404"},
    # Bytes past the declared body are read as a next request, which httptools
    # refuses as malformed before the first one is answered.
    "framing: Content-Length 0 with a body": {"httptools": "400"},
    "framing: no Content-Length, no chunking: body unframed": {"httptools": "400"},
    # A body that never ends: once the client gives up, uvicorn reports a
    # disconnect and the app has no one left to answer (it logs the request).
    "framing: Content-Length 100 more than the body sent": {
        "h11": "no answer, then closed",
        "httptools": "no answer, then closed",
    },
    "chunked: no last chunk": {
        "h11": "no answer, then closed",
        "httptools": "no answer, then closed",
    },
    # A chunk size no body could have is refused at once, not after a wait.
    "chunked: chunk size of 40 hex digits": {"h11": "400", "httptools": "400"},
}


def expected(case: Case, http: str) -> str:
    return UVICORN_ANSWERS.get(case.id, {}).get(http, case.gunicorn)


@pytest.fixture(scope="module", params=HTTP_PARSERS)
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    """``tests.asgi_apps:receiver_app`` under uvicorn with one parser, for every case."""
    http: str = request.param
    if not (BIN / "uvicorn").exists():
        pytest.skip("uvicorn missing")
    store = tmp_path_factory.mktemp(f"asgi-{http}") / "idempotency.db"
    port = free_port()
    args = uvicorn("tests.asgi_apps:receiver_app", port, "--factory", "--http", http)
    env = {"WRENN_WEBHOOK_SECRET": HOSTILE_SECRET, "WRENN_WEBHOOK_STORE": f"sqlite:///{store}"}
    with serve(args, port, env) as server:
        yield Running(http, port, store)
    assert "Traceback" not in server.output, server.output[-4000:]
    # No hostile request reached a handler: at most the one valid delivery did.
    assert server.output.count("── handled") <= 1, server.output[-4000:]
    assert "Application startup complete" in server.output  # the lifespan, answered
    assert "Application shutdown complete" in server.output


def target_of(running: Running) -> Target:
    return Target(f"127.0.0.1:{running.port}", HOSTILE_SECRET, datetime.now(timezone.utc))


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_request_under_uvicorn(running: Running, case: Case) -> None:
    answer = exchange(running.port, case.build(target_of(running)), stall=case.stall)
    assert not answer.startswith("5"), answer
    assert answer in expected(case, running.http).split(" or ")


def test_no_hostile_request_wrote_and_a_valid_delivery_does(running: Running) -> None:
    assert store_records(running.store) == 0
    target = target_of(running)
    body = event_body(target)
    assert exchange(running.port, request(target, signature_headers(target, body), body)) == "200"
    assert store_records(running.store) == 1


def test_every_difference_names_a_case() -> None:
    assert set(UVICORN_ANSWERS) <= {case.id for case in CASES}


@needs_uvicorn
def test_the_app_at_the_top_level_of_uvicorn() -> None:
    """The path with and without its slash, 405 and 404 as JSON, and no redirect."""
    port = free_port()
    env = {"WRENN_WEBHOOK_SECRET": HOSTILE_SECRET}
    with serve(uvicorn("tests.asgi_apps:receiver_app", port, "--factory"), port, env) as server:
        base = f"http://127.0.0.1:{port}"
        for path in (PATH, PATH + "/"):
            body = event_body(Target("", HOSTILE_SECRET, datetime.now(timezone.utc)))
            status, answer = post(base + path, body, sign(body, HOSTILE_SECRET))
            assert (status, answer) == (
                200,
                b'{"ok": true, "event": "capsule.pause", "handled": 1}',
            )
        with httpx.Client(base_url=base, timeout=10) as client:
            got = client.get(PATH)
            assert (got.status_code, got.headers["allow"], got.json()["ok"]) == (405, "POST", False)
            missing = client.post("/elsewhere", content=b"{}")
            assert (missing.status_code, missing.json()) == (
                404,
                {"ok": False, "error": "not found"},
            )
    assert "Traceback" not in server.output


@needs_uvicorn
def test_50_half_sent_requests_hold_no_delivery_up() -> None:
    """A client that holds back its body costs uvicorn a coroutine, not a worker or a thread."""
    port = free_port()
    env = {"WRENN_WEBHOOK_SECRET": HOSTILE_SECRET}
    with serve(uvicorn("tests.asgi_apps:receiver_app", port, "--factory"), port, env) as server:
        target = Target(f"127.0.0.1:{port}", HOSTILE_SECRET, datetime.now(timezone.utc))
        url = f"http://127.0.0.1:{port}{PATH}"
        warm = event_body(target)  # the first request of a process: not what is timed
        assert post(url, warm, sign(warm, HOSTILE_SECRET))[0] == 200
        promised = [("Content-Length", "1000")]  # and none of it sent
        head = request(target, [*signature_headers(target, b"{}"), *promised], length=False)
        with ExitStack() as stack:
            for _ in range(50):
                sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), 5))
                sock.sendall(head)
            time.sleep(0.5)  # the server has taken them up and waits for their bodies
            body = event_body(target)
            started = time.monotonic()
            status, _ = post(url, body, sign(body, HOSTILE_SECRET))
            assert (status, time.monotonic() - started < 2.0) == (200, True)
    assert "Traceback" not in server.output
