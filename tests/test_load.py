"""Load and fault tests against the example receiver under gunicorn (``make test-slow``).

Every test starts ``gunicorn -c examples/gunicorn.conf.py tests.load_app:app``
(2 gthread workers, a SQLite idempotency store in ``tmp_path``) on a free
127.0.0.1 port and drives it from this process: ``CONCURRENCY`` threads, each
posting one delivery at a time over its own ``http.client`` connection, every
delivery signed when it is sent, as Wrenn signs each attempt. Two handlers run
per event and record each successful run in a SQLite file, so "handled once"
is counted from what the handlers did, not from what the receiver answered.

Each test prints one line of figures and adds them to the JSON file named by
``WRENN_LOAD_RESULTS`` (rewritten at each run of this module): ``make load-figures``
points it at ``benchmarks/results/load.json``, for the reliability page; without it,
a file in the temporary directory, so that a test run leaves the checkout as it was.
Every run is bounded: a fixed number of deliveries and a
time limit after which the driving threads stop.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import random
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.servers import BIN, ROOT, free_port, stop, wait_for_port
from wrenn_webhooks import sign
from wrenn_webhooks.encoding import encode_event
from wrenn_webhooks.inbox import SQLiteInbox
from wrenn_webhooks.testing import make_event

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("gunicorn", path=str(BIN)) is None, reason="no gunicorn"),
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc"),
]

CONCURRENCY = 32
WORKERS = 2
PATH = "/webhooks/wrenn"
SECRET = "5b1e0c9d7a3f4e2b8c6d0a1f3e5b7c9d2a4f6e8b0c1d3e5f7a9b2c4d6e8f0a1b"
OLD_SECRET = "0ld5ecre70ld5ecre70ld5ecre70ld5ecre70ld5ecre70ld5ecre70ld5ecre7a"
NEW_SECRET = "n3w5ecre7n3w5ecre7n3w5ecre7n3w5ecre7n3w5ecre7n3w5ecre7n3w5ecre7b"
TIME_LIMIT = 120.0
"""Seconds any one load run may take before its threads stop taking work."""
RESULTS = Path(
    os.environ.get("WRENN_LOAD_RESULTS") or Path(tempfile.gettempdir()) / "wrenn-webhooks-load.json"
)
_results_lock = threading.Lock()


# --- figures ---------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def results_file() -> None:
    """Start ``load.json`` afresh for this run of the module."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    _write(
        {
            "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "system": f"{platform.system()} {platform.machine()}",
            },
            "setup": {
                "server": f"gunicorn, {WORKERS} gthread workers, examples/gunicorn.conf.py",
                "store": "SQLite idempotency store (WAL) in a temporary directory",
                "concurrency": CONCURRENCY,
                "client": "http.client, one connection per delivery, on 127.0.0.1",
            },
            "results": [],
        }
    )


def _write(document: dict[str, Any]) -> None:
    temporary = RESULTS.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n")
    temporary.replace(RESULTS)


@dataclass
class Figures:
    """What one scenario measured."""

    scenario: str
    sent: int
    accepted: int
    handled_once: int
    events: int
    duplicates_suppressed: int
    errors: int
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        extra = "".join(f" {key}={value}" for key, value in self.details.items())
        return (
            f"{self.scenario}: sent={self.sent} accepted={self.accepted}"
            f" handled_once={self.handled_once}/{self.events}"
            f" duplicates_suppressed={self.duplicates_suppressed} errors={self.errors}"
            f" seconds={self.seconds:.1f}{extra}"
        )

    def publish(self) -> None:
        """Add these figures to ``load.json`` (call it once the assertions passed)."""
        with _results_lock:
            document = json.loads(RESULTS.read_text())
            document["results"].append(
                {
                    "scenario": self.scenario,
                    "sent": self.sent,
                    "accepted": self.accepted,
                    "handled_once": self.handled_once,
                    "events": self.events,
                    "duplicates_suppressed": self.duplicates_suppressed,
                    "errors": self.errors,
                    "seconds": round(self.seconds, 2),
                    **self.details,
                }
            )
            _write(document)


# --- the server --------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """Live child processes of ``pid``, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] not in "ZX":
            found.append(int(stat.parent.name))
    return sorted(found)


class Gunicorn:
    """The example's gunicorn configuration serving ``tests.load_app:app``."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log = folder / "gunicorn.log"
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(WORKERS),
            "WRENN_WEBHOOK_STORE": f"sqlite:///{folder / 'idempotency.db'}",
            "WRENN_LOAD_RECORDS": str(folder / "runs.db"),
            **env,
        }
        args = [str(BIN / "gunicorn"), "-c", "examples/gunicorn.conf.py", "tests.load_app:app"]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            wait_for_port(self.port, self.process)  # type: ignore[arg-type]
            self.wait_for_workers(set())
        except BaseException:
            self.stop()
            raise

    def workers(self) -> list[int]:
        return children(self.process.pid)

    def wait_for_workers(self, replaced: set[int], timeout: float = 30.0) -> None:
        """Wait until ``WORKERS`` workers, none of them in ``replaced``, answer."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = set(self.workers())
            if len(pids) == WORKERS and not pids & replaced and self.healthy():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)
        raise TimeoutError(f"gunicorn workers not ready:\n{self.log.read_text()[-3000:]}")

    def healthy(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
        except OSError:
            return False
        return ok

    def kill_worker(self) -> int:
        """SIGKILL one worker (gunicorn's master starts another)."""
        pid = random.choice(self.workers())
        os.kill(pid, signal.SIGKILL)
        return pid

    def reload(self) -> None:
        """SIGHUP: new workers load the app again, the old ones finish and stop."""
        old = set(self.workers())
        os.kill(self.process.pid, signal.SIGHUP)
        self.wait_for_workers(old)

    def stop(self) -> None:
        stop(self.process, 15)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Gunicorn]]:
    """Start gunicorn with extra environment; stopped when the test ends."""
    servers: list[Gunicorn] = []

    def starter(**env: str) -> Gunicorn:
        server = Gunicorn(tmp_path, {"WRENN_WEBHOOK_SECRET": SECRET, **env})
        servers.append(server)
        return server

    yield starter
    for server in servers:
        server.stop()


# --- deliveries --------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What one delivery attempt got back."""

    event: int
    status: int  # 0: no HTTP answer (connection refused, reset, timed out)
    body: dict[str, Any]
    label: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def duplicate(self) -> bool:
        return self.body.get("duplicate") is True


def stamp_at(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", PATH, body, {"Content-Type": "application/json", **headers})
        reply = conn.getresponse()
        data = reply.read()
    except (OSError, http.client.HTTPException) as exc:
        return 0, {"error": type(exc).__name__}
    finally:
        conn.close()
    try:
        answer = json.loads(data)
    except ValueError:
        answer = {"raw": data[:200].decode("latin-1")}
    return reply.status, answer if isinstance(answer, dict) else {"raw": answer}


def deliver(
    port: int, index: int, body: bytes, secret: str = SECRET, stamp: str | None = None
) -> Answer:
    """One attempt, signed now (or at ``stamp``) with a new delivery id, as Wrenn does."""
    signed = sign(body, secret, timestamp=stamp or stamp_at(time.time()), delivery_id=None)
    status, answer = post(port, body, signed)
    return Answer(index, status, answer)


def make_events(count: int, tag: str) -> list[tuple[str, bytes]]:
    """``count`` distinct ``capsule.destroy`` events: (resource id, exact body)."""
    now = time.time()
    events = []
    for index in range(count):
        resource = f"sb-{tag}-{index:06d}"
        event = make_event(
            "capsule.destroy", now=now, seed=index, resource={"id": resource, "type": "sandbox"}
        )
        events.append((resource, encode_event(event)))
    return events


Job = Callable[[], Answer]


def drive(
    jobs: Iterable[Job],
    *,
    time_limit: float = TIME_LIMIT,
    during: Callable[[list[Answer]], None] | None = None,
) -> tuple[list[Answer], float]:
    """Run ``jobs`` on ``CONCURRENCY`` threads; ``during(answers)`` runs meanwhile here.

    Threads take no new job after ``time_limit`` seconds; the test then fails.
    """
    source = iter(jobs)
    lock = threading.Lock()
    answers: list[Answer] = []
    started = time.monotonic()
    deadline = started + time_limit

    def loop() -> None:
        while time.monotonic() < deadline:
            with lock:
                job = next(source, None)
            if job is None:
                return
            answers.append(job())

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    if during is not None:
        during(answers)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 15)
    elapsed = time.monotonic() - started
    assert not any(thread.is_alive() for thread in threads), "load threads did not stop"
    assert elapsed < time_limit, f"the load run hit its {time_limit} s limit"
    assert next(source, None) is None, "jobs left undone"
    return answers, elapsed


def wait_for(answers: list[Answer], count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(answers) < count:
        assert time.monotonic() < deadline, f"only {len(answers)} of {count} answers"
        time.sleep(0.01)


def runs(server: Gunicorn) -> Counter[tuple[str, str]]:
    """How many times each (handler, resource id) completed."""
    conn = sqlite3.connect(server.env["WRENN_LOAD_RECORDS"], timeout=30)
    try:
        rows = conn.execute("SELECT handler, resource, count(*) FROM runs GROUP BY 1, 2")
        return Counter({(handler, resource): count for handler, resource, count in rows})
    finally:
        conn.close()


def handled_once(counts: Counter[tuple[str, str]], resources: Iterable[str]) -> int:
    """Events whose two handlers each completed exactly once."""
    return sum(counts["audit", r] == 1 and counts["notify", r] == 1 for r in resources)


def reruns(counts: Counter[tuple[str, str]]) -> int:
    """Handler runs beyond the first, for every handler and event."""
    return sum(count - 1 for count in counts.values() if count > 1)


def statuses(answers: Iterable[Answer]) -> dict[str, int]:
    return {
        str(status): count for status, count in sorted(Counter(a.status for a in answers).items())
    }


# --- the scenarios -----------------------------------------------------------------


def test_distinct_deliveries_each_handled_once(start: Callable[..., Gunicorn]) -> None:
    server = start()
    events = make_events(10_000, "distinct")
    jobs = (
        lambda i=i, body=body: deliver(server.port, i, body) for i, (_, body) in enumerate(events)
    )
    answers, seconds = drive(jobs)
    counts = runs(server)
    resources = [resource for resource, _ in events]
    figures = Figures(
        "distinct deliveries",
        sent=len(answers),
        accepted=sum(a.ok for a in answers),
        handled_once=handled_once(counts, resources),
        events=len(events),
        duplicates_suppressed=sum(a.duplicate for a in answers),
        errors=sum(not a.ok for a in answers),
        seconds=seconds,
        details={"requests_per_second": round(len(answers) / seconds)},
    )
    print(figures.line())
    assert figures.errors == 0, statuses(answers)
    assert all(a.body == {"ok": True, "event": "capsule.destroy", "handled": 2} for a in answers)
    assert figures.handled_once == len(events)
    assert sum(counts.values()) == 2 * len(events)
    figures.publish()


def test_three_wrenn_style_deliveries_per_event(start: Callable[..., Gunicorn]) -> None:
    """Each event three times, new delivery id and timestamp, some attempts at once."""
    server = start()
    events = make_events(10_000, "triple")
    rng = random.Random(3)
    # Three passes, run one after the other. An event's attempts in one pass are
    # queued next to each other, so they run concurrently on different threads.
    passes: list[list[list[int]]] = [[], [], []]
    for index in range(len(events)):
        shape = index % 3
        if shape == 0:  # all three at once
            passes[0].append([index, index, index])
        elif shape == 1:  # two at once, a retry later
            passes[0].append([index, index])
            passes[2].append([index])
        else:  # one per pass, as Wrenn's retries come
            for attempts in passes:
                attempts.append([index])
    answers: list[Answer] = []
    seconds = 0.0
    for groups in passes:
        rng.shuffle(groups)
        order = [index for group in groups for index in group]
        jobs = (lambda i=i: deliver(server.port, i, events[i][1]) for i in order)
        done, elapsed = drive(jobs)
        answers += done
        seconds += elapsed
    counts = runs(server)
    handled = Counter(a.event for a in answers if a.status == 200 and not a.duplicate)
    busy = sum(a.status == 409 for a in answers)
    repeated = sum(a.status == 200 and a.duplicate for a in answers)
    figures = Figures(
        "three deliveries per event",
        sent=len(answers),
        accepted=sum(a.ok for a in answers),
        handled_once=handled_once(counts, (resource for resource, _ in events)),
        events=len(events),
        duplicates_suppressed=busy + repeated,
        errors=sum(a.status not in (200, 409) for a in answers),
        seconds=seconds,
        details={"duplicates_200": repeated, "duplicates_409": busy},
    )
    print(figures.line())
    assert figures.sent == 3 * len(events)
    assert figures.errors == 0, statuses(answers)
    assert figures.handled_once == len(events)
    assert sum(counts.values()) == 2 * len(events)
    assert all(handled[index] == 1 for index in range(len(events)))
    assert figures.duplicates_suppressed == 2 * len(events)
    figures.publish()


def test_failed_handler_runs_again_on_the_retry_and_only_it(
    start: Callable[..., Gunicorn],
) -> None:
    """``notify`` fails the first attempt of every event whose id ends in 7."""
    server = start(WRENN_LOAD_FAIL_SUFFIX="7")
    events = make_events(5_000, "failing")
    first, first_seconds = drive(
        lambda i=i, body=body: deliver(server.port, i, body) for i, (_, body) in enumerate(events)
    )
    failed = sorted(a.event for a in first if a.status == 500)
    # Wrenn's second attempt (10 s later in Wrenn; nothing here needs the wait:
    # a failed attempt releases its claim at once).
    retried, retry_seconds = drive(
        lambda i=i: deliver(server.port, i, events[i][1]) for i in failed
    )
    counts = runs(server)
    resources = [resource for resource, _ in events]
    expected_failures = sum(resource.endswith("7") for resource in resources)
    figures = Figures(
        "handler failing the first attempt",
        sent=len(first) + len(retried),
        accepted=sum(a.ok for a in first) + sum(a.ok for a in retried),
        handled_once=handled_once(counts, resources),
        events=len(events),
        duplicates_suppressed=0,
        errors=sum(a.status not in (200, 500) for a in first) + sum(not a.ok for a in retried),
        seconds=first_seconds + retry_seconds,
        details={
            "first_attempts_failed": len(failed),
            "retries_accepted": sum(a.ok for a in retried),
            "completed_handlers_not_rerun": sum(a.body.get("handled") == 1 for a in retried),
        },
    )
    print(figures.line())
    assert figures.errors == 0, (statuses(first), statuses(retried))
    assert len(failed) == expected_failures
    assert {events[i][0] for i in failed} == {r for r in resources if r.endswith("7")}
    assert all(a.body == {"ok": True, "event": "capsule.destroy", "handled": 1} for a in retried)
    assert figures.handled_once == len(events)
    assert reruns(counts) == 0
    figures.publish()


def retry_failures(
    server: Gunicorn, events: list[tuple[str, bytes]], answers: list[Answer], wait: float
) -> list[list[Answer]]:
    """Wrenn's retries: up to two more attempts of each event that got no 2xx."""
    rounds = []
    pending = sorted({a.event for a in answers} - {a.event for a in answers if a.ok})
    for _ in range(2):
        if not pending:
            break
        time.sleep(wait)
        again, _ = drive(lambda i=i: deliver(server.port, i, events[i][1]) for i in pending)
        rounds.append(again)
        pending = sorted({a.event for a in again if not a.ok})
    return rounds


def kill_workers_at(server: Gunicorn, marks: list[int], killed: list[int]) -> Callable[..., None]:
    def during(answers: list[Answer]) -> None:
        for mark in marks:
            wait_for(answers, mark)
            killed.append(server.kill_worker())

    return during


def test_worker_killed_mid_load_inline_mode(start: Callable[..., Gunicorn]) -> None:
    """SIGKILL a worker twice; Wrenn's retries, once the 2 s lease expired, recover all."""
    lease = 2.0
    server = start(WRENN_LOAD_LEASE=str(lease), WRENN_LOAD_HANDLER_MS="3")
    events = make_events(3_000, "kill")
    killed: list[int] = []
    first, seconds = drive(
        (
            lambda i=i, body=body: deliver(server.port, i, body)
            for i, (_, body) in enumerate(events)
        ),
        during=kill_workers_at(server, [1000, 2000], killed),
    )
    rounds = retry_failures(server, events, first, wait=lease + 0.5)
    counts = runs(server)
    everything = first + [a for attempts in rounds for a in attempts]
    accepted = {a.event for a in everything if a.ok}
    figures = Figures(
        "worker killed (inline mode)",
        sent=len(everything),
        accepted=sum(a.ok for a in everything),
        handled_once=handled_once(counts, (resource for resource, _ in events)),
        events=len(events),
        duplicates_suppressed=sum(a.duplicate for a in everything)
        + sum(a.status == 409 for a in everything),
        # Lost answers are the fault injected; an error is any other failure, or an
        # event still not accepted after Wrenn's three attempts.
        errors=len(events) - len(accepted) + sum(a.status not in (0, 200) for a in everything),
        seconds=seconds,
        details={
            "workers_killed": len(killed),
            "first_attempts_lost": sum(not a.ok for a in first),
            "retries": sum(len(attempts) for attempts in rounds),
            "handler_reruns": reruns(counts),
        },
    )
    print(figures.line())
    assert len(killed) == 2
    assert figures.details["first_attempts_lost"] >= 1, "no kill hit a delivery in flight"
    assert figures.errors == 0, [statuses(attempts) for attempts in [first, *rounds]]
    assert all(a.status in (0, 200) for a in everything), statuses(everything)
    for resource, _ in events:
        assert counts["audit", resource] >= 1 and counts["notify", resource] >= 1, resource
    # A handler's record and its completion are two writes: a kill between them
    # makes the retry run that handler again. At most one rerun per attempt the
    # kills cut short (a gthread worker has several in flight).
    assert reruns(counts) <= figures.details["first_attempts_lost"]
    figures.publish()


def test_worker_killed_mid_load_inbox_mode(start: Callable[..., Gunicorn], tmp_path: Path) -> None:
    """Inbox mode: SIGKILL web workers mid-load; every 202 is handled once per handler."""
    inbox_path = tmp_path / "inbox.db"
    # 3 ms after each answer is ready: most kills lose an answer to an event
    # already stored, whose retry must then be recognised, not handled again.
    server = start(WRENN_LOAD_INBOX=str(inbox_path), WRENN_LOAD_LEASE="2", WRENN_LOAD_AFTER_MS="3")
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [str(BIN / "wrenn-webhooks"), "worker", "tests.load_app:receiver"],
        cwd=ROOT,
        env=server.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        events = make_events(3_000, "inbox")
        killed: list[int] = []
        first, seconds = drive(
            (
                lambda i=i, body=body: deliver(server.port, i, body)
                for i, (_, body) in enumerate(events)
            ),
            during=kill_workers_at(server, [1000, 2000], killed),
        )
        rounds = retry_failures(server, events, first, wait=1.0)
        box = SQLiteInbox(inbox_path)
        drained = time.monotonic()
        deadline = drained + 60
        while (stats := box.stats(now=time.time()))["pending"]:
            assert time.monotonic() < deadline, stats
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            time.sleep(0.1)
        drain_seconds = time.monotonic() - drained
        box.close()
    finally:
        stop(worker, 15)
        log.close()
    counts = runs(server)
    everything = first + [a for attempts in rounds for a in attempts]
    accepted = {a.event for a in everything if a.status == 202}
    figures = Figures(
        "worker killed (inbox mode)",
        sent=len(everything),
        accepted=sum(a.ok for a in everything),
        handled_once=handled_once(counts, (events[i][0] for i in accepted)),
        events=len(events),
        duplicates_suppressed=sum(a.duplicate for a in everything),
        errors=len(events) - len(accepted) + sum(a.status not in (0, 202) for a in everything),
        seconds=seconds,
        details={
            "workers_killed": len(killed),
            "first_attempts_lost": sum(not a.ok for a in first),
            "retries": sum(len(attempts) for attempts in rounds),
            "inbox_done": stats["done"],
            "inbox_dead": stats["dead"],
            "drain_seconds_after_load": round(drain_seconds, 2),
        },
    )
    print(figures.line())
    assert len(killed) == 2
    assert figures.details["first_attempts_lost"] >= 1, "no kill hit a delivery in flight"
    assert figures.errors == 0, [statuses(attempts) for attempts in [first, *rounds]]
    assert all(a.status in (0, 202) for a in everything), statuses(everything)
    assert figures.handled_once == len(accepted) == len(events)
    assert reruns(counts) == 0
    assert (stats["done"], stats["dead"]) == (len(events), 0)
    figures.publish()


def test_clock_skew_at_the_tolerance_edges(start: Callable[..., Gunicorn]) -> None:
    """Signing times 299 s off either way are accepted, 301 s off rejected (401)."""
    server = start()
    events = make_events(2_000, "skew")
    # Whole-second stamps, rounded so that the skew the server sees stays on the
    # intended side of 300 s for any request taking under a second.
    offsets = {
        "past_299": lambda now: int(now) + 1 - 299,
        "future_299": lambda now: int(now) + 299,
        "past_301": lambda now: int(now) - 301,
        "future_301": lambda now: int(now) + 1 + 301,
    }
    kinds = list(offsets)

    def job(index: int) -> Answer:
        kind = kinds[index % 4]
        stamp = stamp_at(offsets[kind](time.time()))
        answer = deliver(server.port, index, events[index][1], stamp=stamp)
        return Answer(answer.event, answer.status, answer.body, kind)

    answers, seconds = drive(lambda i=i: job(i) for i in range(len(events)))
    counts = runs(server)
    by_kind = {kind: statuses(a for a in answers if a.label == kind) for kind in kinds}
    legitimate = [a for a in answers if a.label.endswith("299")]
    handled = handled_once(counts, (events[a.event][0] for a in legitimate))
    figures = Figures(
        "clock skew at the tolerance edges",
        sent=len(answers),
        accepted=sum(a.ok for a in answers),
        handled_once=handled,
        events=len(legitimate),
        duplicates_suppressed=0,
        errors=sum(not a.ok for a in legitimate)
        + sum(a.status != 401 for a in answers if a.label.endswith("301")),
        seconds=seconds,
        details={
            "rejected_401": sum(a.status == 401 for a in answers),
            "by_skew": by_kind,
        },
    )
    print(figures.line())
    for kind in kinds:
        expected = 200 if kind.endswith("299") else 401
        assert by_kind[kind] == {str(expected): len(events) // 4}, (kind, by_kind)
    assert handled == len(legitimate)
    assert sum(counts.values()) == 2 * len(legitimate)  # nothing rejected ran
    figures.publish()


def test_secret_rotation_mid_load(start: Callable[..., Gunicorn], tmp_path: Path) -> None:
    """old, then new and old (HUP), then new only (HUP), under continuous load.

    Phase 1 signs with the old secret; the receiver is reloaded with "new,old"
    while deliveries go on. Phase 2 signs with either, as during the rotation in
    Wrenn. Phase 3 signs with the new one; the old is removed (HUP) meanwhile.
    """
    secrets_file = tmp_path / "secrets"
    secrets_file.write_text(OLD_SECRET)
    server = start(WRENN_LOAD_SECRETS_FILE=str(secrets_file))
    events = make_events(12_000, "rotation")
    per_phase = 1_500
    phase = [1]
    rng = random.Random(7)
    marks: dict[str, int] = {}

    def job(index: int) -> Answer:
        with started_lock:
            current = phase[0]
            started[current] += 1
        if current == 1:
            secret = OLD_SECRET
        elif current == 2:
            secret = rng.choice([OLD_SECRET, NEW_SECRET])
        else:
            secret = NEW_SECRET
        answer = deliver(server.port, index, events[index][1], secret)
        label = f"phase {current} {'old' if secret == OLD_SECRET else 'new'}"
        return Answer(answer.event, answer.status, answer.body, label)

    stop = threading.Event()
    started: Counter[int] = Counter()
    started_lock = threading.Lock()

    def jobs() -> Iterator[Job]:
        for index in range(len(events)):
            if stop.is_set():
                return
            yield lambda i=index: job(i)

    def answered_before_phase_3(answers: list[Answer]) -> bool:
        done = sum(not a.label.startswith("phase 3") for a in list(answers))
        return done == started[1] + started[2]

    def during(answers: list[Answer]) -> None:
        try:
            wait_for(answers, per_phase)
            secrets_file.write_text(f"{NEW_SECRET},{OLD_SECRET}")
            server.reload()  # deliveries go on meanwhile, signed with the old secret
            marks["reloaded with new,old"] = len(answers)
            phase[0] = 2
            wait_for(answers, len(answers) + per_phase)
            phase[0] = 3  # Wrenn signs with the new secret only from now on
            deadline = time.monotonic() + 30
            while not answered_before_phase_3(answers):  # let old-signed ones in flight end
                assert time.monotonic() < deadline
                time.sleep(0.01)
            secrets_file.write_text(NEW_SECRET)
            server.reload()
            marks["reloaded with new"] = len(answers)
            wait_for(answers, len(answers) + per_phase)
        finally:
            stop.set()

    answers, seconds = drive(jobs(), during=during)
    # Not legitimate any more: the old secret after its removal.
    late = [deliver(server.port, -1, make_events(1, "late")[0][1], OLD_SECRET)]
    counts = runs(server)
    sent = {a.event for a in answers}
    by_phase = {
        label: statuses(a for a in answers if a.label == label)
        for label in sorted({a.label for a in answers})
    }
    figures = Figures(
        "secret rotation mid-load",
        sent=len(answers),
        accepted=sum(a.ok for a in answers),
        handled_once=handled_once(counts, (events[i][0] for i in sent)),
        events=len(sent),
        duplicates_suppressed=0,
        errors=sum(not a.ok for a in answers),
        seconds=seconds,
        details={
            "rejected_legitimate": sum(a.status == 401 for a in answers),
            "by_phase": by_phase,
            "reloads_at": marks,
            "old_secret_after_removal": statuses(late),
        },
    )
    print(figures.line())
    assert len(marks) == 2
    assert figures.errors == 0, by_phase
    assert figures.handled_once == len(sent) == len(answers)
    assert statuses(late) == {"401": 1}
    assert any(label.startswith("phase 2 old") for label in by_phase)
    assert any(label.startswith("phase 2 new") for label in by_phase)
    figures.publish()
