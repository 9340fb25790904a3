"""Behaviour only the SQLite store has: processes, files, schema versions, fork, purge."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import warnings
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest

from wrenn_webhooks.errors import ConfigurationError, StoreError
from wrenn_webhooks.stores import Claim, ClaimState, SQLiteIdempotencyStore

LEASE = 30.0
T0 = 1_780_000_000.0
KEYS = [f"{n:064x}" for n in range(200)]

RACER = """
import json, sys
from wrenn_webhooks.stores import SQLiteIdempotencyStore
store = SQLiteIdempotencyStore(sys.argv[1], timeout=30)
print("ready", flush=True)
sys.stdin.readline()
keys = [f"{n:064x}" for n in range(200)]
print(json.dumps([store.claim(k, now=float(sys.argv[2]), lease=30.0).state.value for k in keys]))
store.close()
"""


def rows(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        count: int = conn.execute("SELECT count(*) FROM records").fetchone()[0]
        return count


def test_processes_racing_on_one_file_each_key_claimed_once(tmp_path: Path) -> None:
    path = tmp_path / "idem.db"
    SQLiteIdempotencyStore(path).close()
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(path), str(T0)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        for racer in racers:
            assert racer.stdout is not None
            assert racer.stdout.readline().strip() == "ready"
        for racer in racers:  # release them all before reading any result
            assert racer.stdin is not None
            racer.stdin.write("go\n")
            racer.stdin.flush()
        outputs = [racer.communicate(timeout=60)[0] for racer in racers]
    finally:
        for racer in racers:
            racer.kill()
            racer.wait()
    assert [racer.returncode for racer in racers] == [0, 0, 0]
    results = [json.loads(output) for output in outputs]
    for n in range(len(KEYS)):
        assert Counter(result[n] for result in results) == {"new": 1, "busy": 2}


def test_records_persist_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "idem.db"
    first = SQLiteIdempotencyStore(path)
    first.claim(KEYS[0], now=T0, lease=LEASE)
    first.complete_handler(KEYS[0], "audit", now=T0)
    first.finish(KEYS[0], now=T0)
    first.claim(KEYS[1], now=T0, lease=LEASE)
    first.close()
    second = SQLiteIdempotencyStore(path)
    try:
        assert second.claim(KEYS[0], now=T0 + 1, lease=LEASE) == Claim(
            ClaimState.DONE, frozenset({"audit"})
        )
        assert second.claim(KEYS[1], now=T0 + 1, lease=LEASE) == Claim(ClaimState.BUSY)
    finally:
        second.close()


def test_store_works_again_after_close(tmp_path: Path) -> None:
    store = SQLiteIdempotencyStore(tmp_path / "idem.db")
    store.claim(KEYS[0], now=T0, lease=LEASE)
    store.close()
    assert store.claim(KEYS[0], now=T0, lease=LEASE).state is ClaimState.BUSY
    store.close()


def test_repr_shows_the_path(tmp_path: Path) -> None:
    store = SQLiteIdempotencyStore(tmp_path / "idem.db")
    store.close()
    assert repr(store) == f"SQLiteIdempotencyStore({str(tmp_path / 'idem.db')!r})"


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "idem.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA user_version = 2")
    with pytest.raises(ConfigurationError, match="schema version 2"):
        SQLiteIdempotencyStore(path)


def test_schema_version_is_set(tmp_path: Path) -> None:
    path = tmp_path / "idem.db"
    SQLiteIdempotencyStore(path).close()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_file_that_is_not_a_database_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / "idem.db"
    path.write_bytes(b"this is not a SQLite database\n" * 100)
    with pytest.raises(StoreError, match="unavailable") as info:
        SQLiteIdempotencyStore(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value.__cause__, sqlite3.Error)


def test_directory_as_path_raises_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unavailable"):
        SQLiteIdempotencyStore(tmp_path)


def test_missing_directory_raises_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        SQLiteIdempotencyStore(tmp_path / "missing" / "idem.db")


@pytest.mark.parametrize("path", ["", ":memory:"])
def test_no_file_is_refused(path: str) -> None:
    with pytest.raises(ConfigurationError):
        SQLiteIdempotencyStore(path)


@pytest.mark.parametrize(("ttl", "timeout"), [(0.0, 5.0), (-1.0, 5.0), (900.0, -1.0)])
def test_bad_arguments_are_refused(tmp_path: Path, ttl: float, timeout: float) -> None:
    with pytest.raises(ConfigurationError):
        SQLiteIdempotencyStore(tmp_path / "idem.db", ttl=ttl, timeout=timeout)


def test_locked_file_raises_store_error_then_recovers(tmp_path: Path) -> None:
    path = tmp_path / "idem.db"
    store = SQLiteIdempotencyStore(path, timeout=0.05)
    try:
        with closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(StoreError, match="locked"):
                store.claim(KEYS[0], now=T0, lease=LEASE)
            other.execute("ROLLBACK")
        assert store.claim(KEYS[0], now=T0, lease=LEASE).state is ClaimState.NEW
    finally:
        store.close()


def test_failure_inside_a_transaction_rolls_it_back(tmp_path: Path) -> None:
    path = tmp_path / "idem.db"
    store = SQLiteIdempotencyStore(path, timeout=0.05)
    try:
        store.claim(KEYS[0], now=T0, lease=LEASE)
        with closing(sqlite3.connect(path)) as other, other:
            other.execute("UPDATE records SET completed = 'not json'")
        with pytest.raises(StoreError, match="unavailable"):
            store.claim(KEYS[0], now=T0 + LEASE, lease=LEASE)
        # Neither this store nor another writer is left locked out.
        assert store.claim(KEYS[1], now=T0, lease=LEASE).state is ClaimState.NEW
        with closing(sqlite3.connect(path, timeout=0.05)) as other, other:
            other.execute("DELETE FROM records WHERE key = ?", (KEYS[0],))
    finally:
        store.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    store = SQLiteIdempotencyStore(tmp_path / "idem.db")
    try:
        assert store.claim(KEYS[0], now=T0, lease=LEASE).state is ClaimState.NEW
        parent_connection = store._connection()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, 3.12+
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit code
            code = 1
            try:
                ok = (
                    store._connection() is not parent_connection
                    and store.claim(KEYS[1], now=T0, lease=LEASE).state is ClaimState.NEW
                    and store.claim(KEYS[0], now=T0, lease=LEASE).state is ClaimState.BUSY
                )
                code = 0 if ok else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert store.claim(KEYS[1], now=T0, lease=LEASE).state is ClaimState.BUSY
        assert store.claim(KEYS[2], now=T0, lease=LEASE).state is ClaimState.NEW
    finally:
        store.close()


def test_purge_deletes_expired_rows_only(tmp_path: Path) -> None:
    path = tmp_path / "idem.db"
    store = SQLiteIdempotencyStore(path, ttl=100.0)
    try:
        for k in KEYS[:50]:
            store.claim(k, now=0.0, lease=LEASE)  # expire at 100
        for k in KEYS[50:60]:
            store.claim(k, now=50.0, lease=LEASE)  # expire at 150
        assert rows(path) == 60
        store.claim(KEYS[100], now=101.0, lease=LEASE)
        assert rows(path) == 11
    finally:
        store.close()


def test_purge_runs_at_most_once_per_tenth_of_ttl(tmp_path: Path) -> None:
    path = tmp_path / "idem.db"
    store = SQLiteIdempotencyStore(path, ttl=100.0)
    try:
        store.claim(KEYS[0], now=0.0, lease=LEASE)  # purges, expires at 100
        store.claim(KEYS[1], now=95.0, lease=LEASE)  # purges
        store.claim(KEYS[2], now=101.0, lease=LEASE)  # too soon: KEYS[0] stays
        assert rows(path) == 3
        store.claim(KEYS[3], now=105.0, lease=LEASE)  # purges
        assert rows(path) == 3
    finally:
        store.close()


def test_an_inbox_file_is_refused(tmp_path: Path) -> None:
    from wrenn_webhooks.inbox import SQLiteInbox

    SQLiteInbox(tmp_path / "shared.db").close()
    with pytest.raises(ConfigurationError, match="holds no idempotency store"):
        SQLiteIdempotencyStore(tmp_path / "shared.db")
