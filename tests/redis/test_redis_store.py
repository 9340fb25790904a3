"""RedisIdempotencyStore beyond the shared contract: URLs, Flask config, expiry, errors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import redis
from flask import Flask

from tests.conftest import Clock, event_body, signed
from tests.servers import free_port
from tests.vectors import SECRET
from wrenn_webhooks import Event, WebhookReceiver
from wrenn_webhooks.errors import ConfigurationError, StoreError
from wrenn_webhooks.flask import WrennWebhooks
from wrenn_webhooks.redis import RedisIdempotencyStore
from wrenn_webhooks.stores import ClaimState, store_from_url
from wrenn_webhooks.testing import signed_request

T0 = 1_780_000_000.0


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisIdempotencyStore]:
    redis_store = RedisIdempotencyStore(redis_url, ttl=60)
    yield redis_store
    redis_store.close()


def test_store_from_url(redis_url: str) -> None:
    built = store_from_url(redis_url)
    assert isinstance(built, RedisIdempotencyStore)
    assert built.claim("k", now=T0, lease=30).state is ClaimState.NEW
    tls = store_from_url("rediss://cache.internal:6380/2")  # nothing is sent yet
    assert (
        repr(tls) == "RedisIdempotencyStore('rediss://cache.internal:6380/2', prefix='wrenn:idem:')"
    )


def test_records_expire_in_redis_after_the_ttl(
    store: RedisIdempotencyStore, redis_client: redis.Redis
) -> None:
    store.claim("k", now=T0, lease=30)
    store.complete_handler("k", "app.audit", now=T0)
    assert 59_000 < redis_client.pttl("wrenn:idem:k") <= 60_000
    assert redis_client.hget("wrenn:idem:k", "c:app.audit") == b"1"


def test_prefixes_keep_stores_apart(store: RedisIdempotencyStore, redis_url: str) -> None:
    other = RedisIdempotencyStore(redis_url, prefix="other:")
    store.claim("k", now=T0, lease=30)
    assert other.claim("k", now=T0, lease=30).state is ClaimState.NEW
    other.close()


def test_receivers_on_two_hosts_share_deduplication(redis_url: str, clock: Clock) -> None:
    """Wrenn's retry lands on another host: the handler does not run again."""
    runs: list[Event] = []
    hosts = [
        WebhookReceiver(SECRET, idempotency=RedisIdempotencyStore(redis_url), clock=clock)
        for _ in range(2)
    ]
    for host in hosts:
        host.add(runs.append, "capsule.pause")
    body = event_body()
    assert hosts[0].handle(*signed(body, clock)).body["handled"] == 1
    clock.advance(10)
    assert hosts[1].handle(*signed(body, clock)).body["duplicate"] is True
    assert len(runs) == 1


def test_flask_config_takes_a_redis_url(redis_url: str) -> None:
    runs: list[Event] = []
    clients = []
    for _ in range(2):  # two hosts
        app = Flask(__name__)
        app.config.update(WRENN_WEBHOOK_SECRET=SECRET, WRENN_WEBHOOK_STORE=redis_url)
        webhooks = WrennWebhooks()
        webhooks.on("capsule.pause")(runs.append)
        receiver = webhooks.init_app(app)
        assert isinstance(receiver.store, RedisIdempotencyStore)
        clients.append(app.test_client())
    body = event_body()
    for client in clients:
        data, headers = signed_request(body, SECRET)
        response = client.post("/webhooks/wrenn", data=data, headers=headers)
        assert response.status_code == 200
    assert len(runs) == 1


def test_redis_errors_become_store_errors_and_503(clock: Clock) -> None:
    down = RedisIdempotencyStore(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StoreError, match=r"idempotency store redis://127\.0\.0\.1") as info:
        down.claim("k", now=T0, lease=30)
    assert isinstance(info.value.__cause__, redis.ConnectionError)
    receiver = WebhookReceiver(SECRET, idempotency=down, clock=clock)
    receiver.add(lambda event: None, "capsule.pause")
    assert receiver.handle(*signed(event_body(), clock)).status_code == 503


@pytest.mark.parametrize(
    ("url", "options"),
    [("redis://127.0.0.1:6379/0", {"ttl": 0}), ("mysql://127.0.0.1/0", {})],
)
def test_bad_settings_are_refused(url: str, options: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        RedisIdempotencyStore(url, **options)


def test_without_redis_py_the_sdk_imports_and_says_what_to_install() -> None:
    code = """
import sys
sys.modules["redis"] = None  # as if redis-py were not installed
import wrenn_webhooks
from click.testing import CliRunner
from wrenn_webhooks.cli import cli
from wrenn_webhooks.stores import store_from_url
for attempt in (lambda: __import__("wrenn_webhooks.redis"),
                lambda: store_from_url("redis://127.0.0.1:6379/0")):
    try:
        attempt()
    except ImportError as exc:
        print(exc)
result = CliRunner().invoke(cli, ["inbox", "--redis", "redis://127.0.0.1:6379/0", "stats"])
print(result.output, end="")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert len(lines) == 3
    assert all('pip install "wrenn-webhooks[redis]"' in line for line in lines)
    assert lines[2].startswith("Error: ")
