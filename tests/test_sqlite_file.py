"""What the SQLite idempotency store and the SQLite inbox share: opening one file from
many processes at once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from wrenn_webhooks.errors import StoreError
from wrenn_webhooks.inbox import SQLiteInbox
from wrenn_webhooks.stores import SQLiteIdempotencyStore

ROUNDS = 40
PROCESSES = 3


def _open_each_file_together(
    kind: type[Any], paths: list[str], barrier: Any, failures: Any
) -> None:
    for path in paths:
        barrier.wait(timeout=30)
        try:
            kind(path).close()
        except StoreError as exc:
            failures.put(str(exc))
    failures.put(None)


@pytest.mark.parametrize("kind", [SQLiteIdempotencyStore, SQLiteInbox])
def test_processes_opening_a_new_file_at_once_all_start(tmp_path: Path, kind: type[Any]) -> None:
    """gunicorn's workers open the shared file at import, at the same moment: the first
    start of a deployment must not fail one of them ("database is locked" on the switch
    to WAL mode used to stop a worker from booting, which stops gunicorn)."""
    paths = [str(tmp_path / f"{i}.db") for i in range(ROUNDS)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    failures = context.Queue()
    processes = [
        context.Process(target=_open_each_file_together, args=(kind, paths, barrier, failures))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    errors: list[str] = []
    finished = 0
    while finished < PROCESSES:
        message = failures.get(timeout=60)
        if message is None:
            finished += 1
        else:
            errors.append(message)
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    assert errors == []
