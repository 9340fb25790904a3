"""docs/redis.md: the examples it includes run against Redis, and what it names exists."""

from __future__ import annotations

import importlib
import logging
import re
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from types import ModuleType

import pytest

from tests.conftest import event_body
from tests.servers import ROOT
from tests.vectors import SECRET
from wrenn_webhooks import sign
from wrenn_webhooks.cli.inbox import inbox
from wrenn_webhooks.inbox import Worker

PAGE = ROOT / "docs" / "redis.md"


@pytest.fixture
def env(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRENN_REDIS_URL", redis_url)
    monkeypatch.setenv("WRENN_WEBHOOK_SECRET", SECRET)


def fresh(name: str) -> ModuleType:
    sys.modules.pop(name, None)
    return importlib.import_module(name)


@pytest.fixture
def app_module(env: None) -> Iterator[ModuleType]:
    module = fresh("examples.redis.app")
    yield module
    module.inbox.close()
    sys.modules.pop("examples.redis.app", None)


def pause_error() -> bytes:
    now = datetime.now(timezone.utc)
    return event_body("capsule.pause", "error", error="host unreachable", timestamp=now)


def test_durable_app_on_two_hosts_stores_once_and_a_worker_handles(
    app_module: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="examples.redis")
    other_host = fresh("examples.redis.app")  # a second process: its own receiver and inbox
    body = pause_error()
    answers = [
        host.app.test_client().post("/webhooks/wrenn", data=body, headers=sign(body, SECRET))
        for host in (app_module, other_host)
    ]
    assert [answer.status_code for answer in answers] == [202, 202]
    assert answers[1].get_json()["duplicate"] is True
    other_host.inbox.close()
    assert Worker(app_module.receiver).run_once() == 1
    assert app_module.inbox.stats(now=time.time())["done"] == 1
    assert caplog.messages == ["PAGE capsule sb-1 failed to pause: host unreachable"]


def test_inline_app_on_two_hosts_handles_once(env: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="examples.redis")
    module = fresh("examples.redis.inline")
    hosts = [module.create_app().test_client() for _ in range(2)]
    body = pause_error()
    answers = [
        host.post("/webhooks/wrenn", data=body, headers=sign(body, SECRET)).get_json()
        for host in hosts
    ]
    assert answers[0]["handled"] == 1
    assert answers[1]["duplicate"] is True
    assert caplog.messages == ["PAGE capsule sb-1 failed to pause: host unreachable"]


def test_the_page_includes_real_files_and_real_commands() -> None:
    page = PAGE.read_text()
    included = re.findall(r"^--8<--\n(\S+)\n--8<--$", page, re.M)
    assert included == ["examples/redis/app.py", "examples/redis/inline.py"]
    assert all((ROOT / path).is_file() for path in included)
    assert set(re.findall(r"wrenn-webhooks inbox (\w+)", page)) == set(inbox.commands)
    assert "--redis URL" in page
