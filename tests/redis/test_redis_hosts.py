"""Several hosts on one Redis: receiver and worker processes sharing one inbox.

Wrenn's redeliveries of an event (the same body, a new signature and delivery id)
land on either receiver, and every handler succeeds exactly once. A worker killed
mid-handler loses nothing: another takes its entry over once the lease has passed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path

import redis

from tests.inbox import body_for, runs, wait_until
from tests.servers import BIN, ROOT, free_port, post, serve
from tests.vectors import SECRET
from wrenn_webhooks import WebhookReceiver, sign
from wrenn_webhooks.redis import RedisInbox

APP = "tests.inbox.app_for_worker"


def environment(directory: Path, url: str, lease: float) -> dict[str, str]:
    return {
        **os.environ,
        "WRENN_TEST_DIR": str(directory),
        "WRENN_TEST_REDIS": url,
        "WRENN_TEST_LEASE": str(lease),
        "PYTHONUNBUFFERED": "1",
    }


@contextmanager
def receivers(directory: Path, url: str, count: int) -> Iterator[list[str]]:
    """Run ``count`` gunicorn receivers, each on its own port; yield their webhook URLs."""
    with ExitStack() as stack:
        urls = []
        for _ in range(count):
            port = free_port()
            args = [str(BIN / "gunicorn"), "-b", f"127.0.0.1:{port}", "--threads", "4"]
            stack.enter_context(serve([*args, f"{APP}:app"], port, environment(directory, url, 60)))
            urls.append(f"http://127.0.0.1:{port}/webhooks/wrenn")
        yield urls


@contextmanager
def workers(
    directory: Path, url: str, count: int, *, lease: float = 60.0
) -> Iterator[list[subprocess.Popen[str]]]:
    """Run ``count`` ``wrenn-webhooks worker`` processes; kill those the test leaves running."""
    processes = []
    try:
        for n in range(count):
            with (directory / f"worker-{n}.out").open("w") as out:
                processes.append(
                    subprocess.Popen(
                        [str(BIN / "wrenn-webhooks"), "worker", f"{APP}:receiver"],
                        cwd=ROOT,
                        env=environment(directory, url, lease),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        text=True,
                    )
                )
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(10)


def started(output: Path) -> bool:
    """Whether the worker writing ``output`` is ready, its signal handlers installed."""
    return "(SIGTERM or Ctrl-C to stop)" in output.read_text()


def test_two_receivers_and_two_workers_succeed_once_per_handler(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis
) -> None:
    events = 60
    now = datetime.now(timezone.utc)
    bodies = [body_for(f"sb-{n}", timestamp=now) for n in range(events)]
    box = RedisInbox(redis_url)
    with receivers(tmp_path, redis_url, 2) as urls, workers(tmp_path, redis_url, 2) as running:
        wait_until(lambda: all(started(path) for path in tmp_path.glob("worker-*.out")))

        def attempt(n: int, number: int) -> tuple[int, bytes]:
            # Each attempt is signed afresh, and goes to the other host than the last.
            return post(urls[(n + number) % 2], bodies[n], sign(bodies[n], SECRET))

        with ThreadPoolExecutor(6) as pool:
            tries = [(n, number) for number in range(3) for n in range(events)]
            answers = list(pool.map(lambda t: attempt(*t), tries))
        assert {status for status, _ in answers} == {202}
        duplicates = [json.loads(body).get("duplicate", False) for _, body in answers]
        assert duplicates.count(False) == events
        wait_until(lambda: box.stats(now=time.time())["done"] == events)
        for process in running:
            process.send_signal(signal.SIGTERM)
        assert [process.wait(20) for process in running] == [0, 0]
    assert runs(tmp_path) == {
        (handler, f"sb-{n}"): 1 for handler in ("first", "second") for n in range(events)
    }
    assert len(box.list(limit=1000)) == events
    assert redis_client.xlen("{wrenn:inbox}") == 0
    assert redis_client.xpending("{wrenn:inbox}", "wrenn-workers")["pending"] == 0
    box.close()


def test_a_worker_killed_mid_handler_is_taken_over(tmp_path: Path, redis_url: str) -> None:
    box = RedisInbox(redis_url)
    receiver = WebhookReceiver(SECRET, inbox=box)
    receiver.add(lambda event: None, "capsule.pause")  # it stores what some handler wants
    body = body_for("sb-1", metadata={"block": "1"}, timestamp=datetime.now(timezone.utc))
    assert receiver.handle(body, sign(body, SECRET)).status_code == 202
    with workers(tmp_path, redis_url, 2, lease=1) as running:
        wait_until(lambda: list(tmp_path.glob("started-*")))
        (started,) = tmp_path.glob("started-*")
        crashing = next(p for p in running if f"started-{p.pid}" == started.name)
        crashing.kill()  # mid-handler: `first` completed, `second` is running
        crashing.wait(10)
        (tmp_path / "go").touch()
        wait_until(lambda: box.stats(now=time.time())["done"] == 1)
        (survivor,) = (p for p in running if p is not crashing)
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(20) == 0
    assert runs(tmp_path) == {
        ("first", "sb-1"): 1,  # completed before the crash: never again
        ("second-started", "sb-1"): 2,
        ("second", "sb-1"): 1,
    }
    (item,) = box.list()
    assert item.attempts == 1  # the attempt the crash abandoned
    assert item.lease_owner is not None
    assert f":{survivor.pid}:" in item.lease_owner
    box.close()
