"""``deliver`` and ``adeliver`` against each kind of target, with no deprecation warning."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.conftest import Clock
from tests.vectors import SECRET
from wrenn_webhooks import CapsulePause, WebhookReceiver
from wrenn_webhooks.aws_lambda import lambda_handler
from wrenn_webhooks.flask import blueprint
from wrenn_webhooks.testing import adeliver, deliver, make_event


@pytest.fixture
def receiver(clock: Clock) -> WebhookReceiver:
    receiver = WebhookReceiver(SECRET, clock=clock)
    receiver.on(CapsulePause)(lambda event: None)
    return receiver


def starlette_app(receiver: WebhookReceiver) -> Starlette:
    """A bare Starlette endpoint over handle_async, so the kit is tested on its own."""

    async def endpoint(request: Request) -> JSONResponse:
        answer = await receiver.handle_async(await request.body(), request.headers)
        return JSONResponse(answer.body, answer.status_code, answer.headers)

    return Starlette(routes=[Route("/webhooks/wrenn", endpoint, methods=["POST"])])


def check(results: list[Any]) -> None:
    first, second = results
    assert (first.status_code, first.body["handled"]) == (200, 1)
    assert second.duplicate and second.ok
    assert first.delivery_id != second.delivery_id


def test_a_flask_test_client(receiver: WebhookReceiver, clock: Clock) -> None:
    app = Flask(__name__)
    app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
    check(deliver(app.test_client(), make_event(CapsulePause), SECRET, attempts=2, clock=clock))


def test_starlettes_test_client_without_a_deprecation_warning(
    receiver: WebhookReceiver, clock: Clock
) -> None:
    # pytest's filterwarnings = error: httpx's warning for data=bytes would fail this.
    with TestClient(starlette_app(receiver)) as client:
        check(deliver(client, make_event(CapsulePause), SECRET, attempts=2, clock=clock))


def test_a_lambda_handler(receiver: WebhookReceiver, clock: Clock) -> None:
    handler = lambda_handler(receiver)
    results = deliver(handler, make_event(CapsulePause), SECRET, attempts=2, clock=clock)
    check(results)
    assert results[0].response["statusCode"] == 200


def test_adeliver_to_a_receiver_awaits_handle_async(
    receiver: WebhookReceiver, clock: Clock
) -> None:
    loops: list[object] = []

    @receiver.on(CapsulePause)
    async def remember(event: CapsulePause) -> None:
        loops.append(asyncio.get_running_loop())

    async def test() -> list[Any]:
        return await adeliver(receiver, make_event(CapsulePause), SECRET, attempts=2)

    results = asyncio.run(test())
    assert (results[0].body["handled"], results[1].duplicate) == (2, True)
    assert len(loops) == 1


def test_adeliver_through_httpx_asgi_transport(receiver: WebhookReceiver, clock: Clock) -> None:
    async def test() -> list[Any]:
        transport = httpx.ASGITransport(app=starlette_app(receiver))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await adeliver(client, make_event(CapsulePause), SECRET, attempts=2, clock=clock)

    check(asyncio.run(test()))


def test_targets_that_cannot_be_delivered_to(receiver: WebhookReceiver) -> None:
    event = make_event(CapsulePause)
    with pytest.raises(TypeError, match="a test client or a Lambda handler"):
        deliver(object(), event, SECRET)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="async test client"):
        asyncio.run(adeliver(object(), event, SECRET))  # type: ignore[arg-type]
