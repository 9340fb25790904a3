"""docs/aws-lambda.md: the complete function runs in each event format, against a real Redis.

``examples/aws_lambda/handler.py`` is imported as Lambda imports it at a cold start,
and its ``handler`` invoked with events the test kit builds. Importing it twice gives
two instances of the function, sharing one Redis as every instance does.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import Clock, event_body, signed
from tests.redis_server import redis_client, redis_server, redis_url
from tests.servers import ROOT
from tests.vectors import SECRET
from wrenn_webhooks import WebhookReceiver
from wrenn_webhooks.aws_lambda import lambda_handler
from wrenn_webhooks.testing import api_gateway_event, function_url_event

__all__ = ["redis_client", "redis_server", "redis_url"]  # fixtures: one server a session

PAGE = ROOT / "docs" / "aws-lambda.md"
NAME = "examples.aws_lambda.handler"

FORMATS: dict[str, Callable[..., dict[str, Any]]] = {
    "REST API (1.0)": api_gateway_event,
    "HTTP API (2.0)": partial(api_gateway_event, version="2.0"),
    "function URL": function_url_event,
    "function URL, base64": partial(function_url_event, base64_encoded=True),
}


def cold_start(clock: Clock) -> ModuleType:
    """Import the function afresh, as a new instance does, on the test's clock."""
    sys.modules.pop(NAME, None)
    module = importlib.import_module(NAME)
    module.receiver.clock = clock
    return module


@pytest.fixture
def instances(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> Iterator[list[ModuleType]]:
    """Two instances of the function, each with its own receiver, one Redis."""
    monkeypatch.setenv("WRENN_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("WRENN_REDIS_URL", redis_url)
    started = [cold_start(clock), cold_start(clock)]
    yield started
    for module in started:
        module.receiver.store.close()
    sys.modules.pop(NAME, None)


def call(module: ModuleType, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    result = module.handler(json.loads(json.dumps(event)), None)
    return result["statusCode"], json.loads(result["body"])


def pause_error() -> bytes:
    return event_body("capsule.pause", "error", error="host unreachable")


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_the_function_answers_each_format(
    instances: list[ModuleType], clock: Clock, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    function, build = instances[0], FORMATS[name]
    status, answer = call(function, build(*signed(pause_error(), clock)))
    assert (status, answer) == (200, {"ok": True, "event": "capsule.pause", "handled": 1})
    assert capsys.readouterr().out == "capsule sb-1 failed to pause: host unreachable\n"

    status, _ = call(function, build(*signed(pause_error(), clock, secret="f" * 64)))
    assert status == 401
    body, headers = signed(
        event_body("host.down", None, resource={"id": "h-1", "type": "host"}), clock
    )
    assert call(function, build(body, headers))[0] == 200
    assert capsys.readouterr().out == "host h-1 is down\n"


def test_a_retry_on_another_instance_is_a_duplicate(
    instances: list[ModuleType], clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = instances
    body = pause_error()
    assert call(first, api_gateway_event(*signed(body, clock), version="2.0"))[1]["handled"] == 1
    clock.advance(10)  # Wrenn's second attempt, signed afresh, reaches another instance
    status, answer = call(second, api_gateway_event(*signed(body, clock), version="2.0"))
    assert (status, answer["duplicate"]) == (200, True)
    assert capsys.readouterr().out.count("failed to pause") == 1


def test_the_in_memory_store_is_one_per_instance(clock: Clock) -> None:
    """Why the example takes Redis: with the default store, each instance runs the handlers."""
    runs: list[str] = []
    functions = []
    for _ in range(2):
        receiver = WebhookReceiver(SECRET, clock=clock)  # a MemoryIdempotencyStore of its own
        receiver.on("capsule.pause")(lambda event: runs.append(event.event))
        functions.append(lambda_handler(receiver))
    body = pause_error()
    for function in functions:
        assert function(api_gateway_event(*signed(body, clock)))["statusCode"] == 200
        clock.advance(10)
    assert len(runs) == 2


def test_the_page_includes_the_function_and_its_test_runs(
    instances: list[ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert '--8<-- "examples/aws_lambda/handler.py"' in page
    section = page.split("## Testing", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    function = instances[0]
    function.receiver.clock = time.time  # the snippet signs at the current time
    monkeypatch.setitem(sys.modules, "examples.aws_lambda.handler", function)
    namespace: dict[str, Any] = {}
    exec(compile(code, str(PAGE), "exec"), namespace)
    namespace["test_a_failed_pause_is_handled"]()
