"""Redis Cluster: the store and inbox on three masters, by client or by ``?cluster=yes`` URL.

The shared contracts run on the cluster too (the ``redis-cluster`` rows of
``tests/stores/test_contract.py`` and ``tests/inbox/test_contract.py``); these tests
check what only a cluster has: slots, hash tags, and how a cluster is named.
"""

from __future__ import annotations

import re
import time

import pytest
import redis
from click.testing import CliRunner
from redis.cluster import RedisCluster

from tests.inbox import T0, body_for, put
from tests.redis.test_redis_inbox import handled_by_a_worker
from tests.servers import free_port
from wrenn_webhooks.cli import cli
from wrenn_webhooks.errors import ConfigurationError, StoreError
from wrenn_webhooks.redis import RedisIdempotencyStore, RedisInbox
from wrenn_webhooks.redis._client import hash_tag
from wrenn_webhooks.stores import ClaimState, store_from_url

LOCATION = re.compile(r"redis://127\.0\.0\.1:\d+/0\?cluster=yes")


def keys(client: RedisCluster) -> list[str]:
    """Every key of every master."""
    return [key.decode() for key in client.scan_iter(match="*")]


def nodes_of(client: RedisCluster, names: list[str]) -> set[str]:
    return {client.get_node_from_key(name).name for name in names}


def test_the_inbox_keeps_every_key_in_the_slot_of_its_stream(
    redis_cluster_client: RedisCluster,
) -> None:
    box = RedisInbox(redis_cluster_client, retry_delays=(10,), ordered=True)
    for n in range(6):
        put(box, body_for(f"sb-{n % 3}", n))
    done, failed, dead = box.claim("w1", now=T0, limit=3)
    box.complete_handler(done.id, "app.a", now=T0)
    box.finish(done.id, now=T0)
    box.fail(failed.id, {"app.a": "boom"}, now=T0)
    box.fail(dead.id, {"app.a": "boom"}, now=T0, final=True)
    assert box.retry(dead.id)
    assert box.stats(now=T0)["pending"] == 5
    assert box.purge(0, now=T0 + 1) == 1
    made = keys(redis_cluster_client)
    assert {"{wrenn:inbox}", "{wrenn:inbox}:item:2", "{wrenn:inbox}:resource:sb-1"} <= set(made)
    assert {redis_cluster_client.keyslot(key) for key in made} == {
        redis_cluster_client.keyslot("wrenn:inbox")
    }
    box.close()
    redis_cluster_client.ping()  # a client given is the caller's to close


def test_the_store_spreads_its_records_over_the_masters(
    redis_cluster_client: RedisCluster,
) -> None:
    store = RedisIdempotencyStore(redis_cluster_client)
    names = [f"key-{n}" for n in range(30)]
    assert all(store.claim(name, now=T0, lease=30).state is ClaimState.NEW for name in names)
    assert sorted(keys(redis_cluster_client)) == sorted(f"wrenn:idem:{name}" for name in names)
    assert len(nodes_of(redis_cluster_client, [f"wrenn:idem:{name}" for name in names])) == 3


def test_a_stream_without_a_hash_tag_is_refused_on_a_cluster(
    redis_cluster_client: RedisCluster, redis_cluster_url: str
) -> None:
    with pytest.raises(ConfigurationError, match=r"hash tag, such as '\{orders\}'"):
        RedisInbox(redis_cluster_client, stream="orders")
    with pytest.raises(ConfigurationError, match="hash tag"):
        RedisInbox(redis_cluster_url, stream="{}orders")
    tagged = RedisInbox(redis_cluster_client, stream="orders:{eu}")
    put(tagged, body_for())
    assert redis_cluster_client.exists("orders:{eu}:item:1")


def test_a_url_with_cluster_yes_opens_a_cluster_client_it_closes(redis_cluster_url: str) -> None:
    box = RedisInbox(redis_cluster_url)
    assert isinstance(box.client, RedisCluster)
    assert LOCATION.fullmatch(repr(box).split("'")[1])
    assert repr(box).endswith(", stream='{wrenn:inbox}')")
    put(box, body_for())
    box.close()
    store = store_from_url(redis_cluster_url)
    assert isinstance(store, RedisIdempotencyStore)
    assert isinstance(store.client, RedisCluster)
    assert store.claim("k", now=T0, lease=30).state is ClaimState.NEW
    assert re.fullmatch(
        rf"RedisIdempotencyStore\('{LOCATION.pattern}', prefix='wrenn:idem:'\)", repr(store)
    )
    store.close()


def test_a_cluster_client_is_named_by_one_of_its_nodes(redis_cluster_client: RedisCluster) -> None:
    assert LOCATION.fullmatch(repr(RedisIdempotencyStore(redis_cluster_client)).split("'")[1])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?cluster=maybe", "cluster='maybe' is not yes or no"),
        ("?cluster=yes&db=0", None),
        ("?cluster=no", None),
    ],
)
def test_the_cluster_option(redis_cluster_url: str, query: str, message: str | None) -> None:
    url = redis_cluster_url.removesuffix("?cluster=yes") + query
    if message is not None:
        with pytest.raises(ConfigurationError, match=message):
            RedisInbox(url)
        return
    box = RedisInbox(url)
    assert isinstance(box.client, RedisCluster) == ("yes" in query)
    box.close()


def test_bad_cluster_urls_and_clients_are_refused(redis_cluster_url: str) -> None:
    with pytest.raises(ConfigurationError, match="database 0 only"):
        RedisInbox(redis_cluster_url.replace("/0?", "/1?"))
    with pytest.raises(ConfigurationError, match="starts with redis://"):
        RedisInbox("unix:///run/redis.sock?cluster=yes")
    decoding = RedisCluster.from_url(
        redis_cluster_url.removesuffix("?cluster=yes"), decode_responses=True
    )
    with pytest.raises(ConfigurationError, match="decode_responses=False"):
        RedisIdempotencyStore(decoding)
    decoding.close()


def test_an_unreachable_cluster_is_a_store_error_without_the_password() -> None:
    with pytest.raises(StoreError, match="unavailable") as info:
        RedisInbox(f"redis://user:s3cret@127.0.0.1:{free_port()}/0?cluster=yes")
    assert "s3cret" not in str(info.value)


def test_a_damaged_event_is_dead_lettered_on_a_cluster(redis_cluster_url: str) -> None:
    box = RedisInbox(redis_cluster_url)
    handled = handled_by_a_worker(box, 20, lambda r, k: r.delete(k), victim=5)
    assert sorted(handled) == sorted(f"sb-{n}" for n in range(1, 21) if n != 5)
    (dead,) = box.list(status="dead")
    assert (dead.id, box.stats(now=time.time())["done"]) == (5, 19)
    shown = CliRunner().invoke(cli, ["inbox", "--redis", redis_cluster_url, "show", "5"])
    assert "(inbox): the event is gone from Redis" in shown.output
    box.close()


@pytest.mark.parametrize(
    ("key", "tag"),
    [
        ("{wrenn:inbox}", "wrenn:inbox"),
        ("orders:{eu}:x", "eu"),
        ("}{a}", "a"),
        ("{}orders", None),
        ("{orders", None),
        ("orders", None),
    ],
)
def test_hash_tags(key: str, tag: str | None) -> None:
    assert hash_tag(key) == tag


def test_a_plain_client_is_still_a_single_server(redis_url: str) -> None:
    box = RedisInbox(redis.Redis.from_url(redis_url), stream="no-tag-needed")
    put(box, body_for())
    assert box.stats(now=T0)["pending"] == 1
