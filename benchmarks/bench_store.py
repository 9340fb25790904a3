"""Store benchmark: ``MemoryIdempotencyStore`` alone, in ns per operation, and its GC cost.

Three cases, each on distinct 64-hex keys (SHA-256 digests, as ``handle()`` makes):

- ``claim+finish``: a fresh key per delivery, the usual case;
- ``claim (duplicate)``: a key already finished, answered ``DONE``;
- ``claim+complete_handler+finish``: a fresh key, one handler recorded on its own
  (what a delivery routed to several handlers does per handler).

Each case runs ``--ops`` operations on a fresh store pre-filled with 0 and 90,000
finished records (``--fills``), best of ``--repeats``, with the garbage collector on
as in a live process, and the process kept to one CPU as in the core benchmark.
The loop itself (a ``for`` over a list, and binding the methods once) is part of
every figure. Then ``gc.collect()`` is timed with the store empty and with 100,000
records (``--gc-records``); before each collection one more key is claimed and
finished, since a live store changes between collections.

``--compare`` also times ``TupleRecords``, the plainer design the store was
weighed against: one plain tuple per record, the rest the same. ``--store
module:Class`` (repeatable) times any other class that takes ``max_entries``.

    python -m benchmarks.bench_store [--compare] [--repeats 7] [--ops 10000] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.bench_core import _cores, _pin
from wrenn_webhooks.stores import Claim, ClaimState, IdempotencyStore, MemoryIdempotencyStore

LEASE = 30.0
T0 = 1_780_000_000.0
NOW = T0 + 1.0  # every record made at T0 is still alive (ttl 900 s)
MAX_ENTRIES = 100_000

Factory = Callable[..., IdempotencyStore]
Case = Callable[[IdempotencyStore, list[str]], None]
Fields = tuple[float, float, bool, tuple[str, ...]]
NEW, BUSY, DONE = Claim(ClaimState.NEW), Claim(ClaimState.BUSY), Claim(ClaimState.DONE)


class TupleRecords(MemoryIdempotencyStore):
    """The plainer design ``--compare`` measures: every record one plain tuple.

    (lease until, kept until, done, completed names), with the store's own
    lock-free claim of a new key and finish, bound and sweep; only the record
    shape differs. The collector tracks every new tuple, so the dict stays tracked.
    """

    def claim(self, key: str, *, now: float, lease: float) -> Claim:
        records = self._records
        record = (now + lease, now + self.ttl, False, ())
        if records.setdefault(key, record) is record:
            if len(records) > self.max_entries or self._next_sweep <= now:
                self._sweep(now)
            return NEW
        with self._lock:
            found: Fields | None = records.get(key)  # type: ignore[assignment]
            if found is None or found[1] <= now:
                if found is not None:
                    del records[key]
                return NEW if records.setdefault(key, record) is record else BUSY
            lease_until, _, done, names = found
            if done:
                return Claim(ClaimState.DONE, frozenset(names)) if names else DONE
            if lease_until > now:
                return Claim(ClaimState.BUSY, frozenset(names)) if names else BUSY
            records[key] = (record[0], record[1], False, names)
            return Claim(ClaimState.RETRY, frozenset(names))

    def complete_handler(self, key: str, handler: str, *, now: float) -> None:
        with self._lock:
            found: Fields | None = self._records.get(key)  # type: ignore[assignment]
            if found is not None:
                lease_until, _, done, names = found
                names = names if handler in names else (*names, handler)
                self._records[key] = (lease_until, now + self.ttl, done, names)

    def finish(self, key: str, *, now: float) -> None:
        found: Fields | None = self._records.get(key)  # type: ignore[assignment]
        if found is not None:
            self._records[key] = (0.0, now + self.ttl, True, found[3])

    def release(self, key: str, *, now: float) -> None:
        with self._lock:
            found: Fields | None = self._records.get(key)  # type: ignore[assignment]
            if found is not None:
                self._records[key] = (0.0, now + self.ttl, False, found[3])


def keys(count: int, tag: str) -> list[str]:
    """``count`` distinct SHA-256 hex digests; ``tag`` keeps each list apart from the others."""
    return [hashlib.sha256(f"{tag}-{n}".encode()).hexdigest() for n in range(count)]


def fresh(store: IdempotencyStore, batch: list[str]) -> None:
    claim, finish = store.claim, store.finish
    for key in batch:
        claim(key, now=NOW, lease=LEASE)
        finish(key, now=NOW)


def duplicate(store: IdempotencyStore, batch: list[str]) -> None:
    claim = store.claim
    for key in batch:
        claim(key, now=NOW, lease=LEASE)


def with_handler(store: IdempotencyStore, batch: list[str]) -> None:
    claim, complete_handler, finish = store.claim, store.complete_handler, store.finish
    for key in batch:
        claim(key, now=NOW, lease=LEASE)
        complete_handler(key, "audit", now=NOW)
        finish(key, now=NOW)


CASES: dict[str, tuple[Case, ClaimState]] = {
    "claim+finish (new key)": (fresh, ClaimState.NEW),
    "claim (duplicate)": (duplicate, ClaimState.DONE),
    "claim+complete_handler+finish (new key)": (with_handler, ClaimState.NEW),
}


def filled(factory: Factory, filler: list[str]) -> IdempotencyStore:
    """A store holding one finished record per key of ``filler``, made at ``T0``."""
    store = factory(max_entries=MAX_ENTRIES)
    claim, finish = store.claim, store.finish
    for key in filler:
        claim(key, now=T0, lease=LEASE)
        finish(key, now=T0)
    return store


def time_case(factory: Factory, case: str, filler: list[str], ops: int, tag: str) -> float:
    """ns per operation of ``case`` on a fresh store holding one record per key of ``filler``."""
    run_case, first_state = CASES[case]
    batch = keys(ops, f"{case}-{tag}")
    store = filled(factory, filler)
    if first_state is ClaimState.DONE:
        fresh(store, batch)  # made before the clock starts: the duplicates' originals
        probe = batch[0]
    else:
        probe = keys(1, f"probe-{tag}")[0]
    if store.claim(probe, now=NOW, lease=LEASE).state is not first_state:
        raise AssertionError(f"{case}: a claim did not answer {first_state.name}")
    store.finish(probe, now=NOW)
    started = time.perf_counter_ns()
    run_case(store, batch)
    elapsed = (time.perf_counter_ns() - started) / ops
    if store.claim(batch[-1], now=NOW, lease=LEASE).state is not ClaimState.DONE:
        raise AssertionError(f"{case}: the last key is not done")
    return elapsed


def time_gc(factory: Factory, records: int, collections: int) -> list[float]:
    """ms per full ``gc.collect()`` with a store of ``records`` finished records."""
    store = filled(factory, keys(records, "gc"))
    extra = iter(keys(collections, "gc-extra"))
    gc.collect()  # the objects filling made: collected once, before the clock starts
    samples = []
    for _ in range(collections):
        fresh(store, [next(extra)])  # a live store changes between collections
        started = time.perf_counter_ns()
        gc.collect()
        samples.append((time.perf_counter_ns() - started) / 1e6)
    del store
    return samples


def load(spec: str) -> Factory:
    """The class named ``module:Class``."""
    module, _, name = spec.partition(":")
    factory: Factory = getattr(importlib.import_module(module), name)
    return factory


def row(store: str, case: str, records: int, samples: list[float], unit: str) -> dict[str, Any]:
    digits = 1 if unit == "ns/op" else 2
    return {
        "store": store,
        "case": case,
        "records": records,
        "best": round(min(samples), digits),
        "median": round(statistics.median(samples), digits),
        "unit": unit,
    }


def run(
    stores: dict[str, Factory],
    *,
    fills: list[int],
    ops: int,
    repeats: int,
    gc_records: int,
    pin: bool = True,
) -> dict[str, Any]:
    """Time every case of every store at every fill, then ``gc.collect()``; return the report."""
    cores = _cores()
    pinned = _pin() if pin else None
    fillers = {fill: keys(fill, "fill") for fill in fills}
    samples: dict[tuple[str, str, int], list[float]] = {}
    # Round by round, every store in turn: drift on a shared machine hits them alike.
    for repeat in range(repeats):
        for case in CASES:
            for fill in fills:
                for label, factory in stores.items():
                    ns = time_case(factory, case, fillers[fill], ops, str(repeat))
                    samples.setdefault((label, case, fill), []).append(ns)
    results = [row(*where, values, "ns/op") for where, values in samples.items()]
    fillers.clear()
    for label, factory in stores.items():
        for records in (0, gc_records):
            ms = time_gc(factory, records, repeats)
            results.append(row(label, "gc.collect()", records, ms, "ms"))
    return {
        "benchmark": "store",
        "machine": f"{platform.machine()}, {cores} cores, Python {platform.python_version()}",
        "pinned_cpu": pinned,
        "ops": ops,
        "repeats": repeats,
        "results": results,
    }


def table(report: dict[str, Any]) -> str:
    """Render a report as a plain-text table."""
    lines = [
        f"store benchmark: {report['machine']}; {report['ops']:,} operations a repeat, "
        f"best (median) of {report['repeats']} repeats"
        + (
            f"; pinned to CPU {report['pinned_cpu']}"
            if report.get("pinned_cpu") is not None
            else ""
        ),
        f"{'store':<24} {'case':<42} {'records':>8} {'best':>9} {'median':>9}",
    ]
    for r in report["results"]:
        lines.append(
            f"{r['store']:<24} {r['case']:<42} {r['records']:>8,} "
            f"{r['best']:>9} {r['median']:>9} {r['unit']}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--fills", default="0,90000", help="comma-separated records pre-filled")
    parser.add_argument("--gc-records", type=int, default=100_000)
    parser.add_argument(
        "--store",
        action="append",
        metavar="MODULE:CLASS",
        help="a store class to time (repeatable); default: MemoryIdempotencyStore",
    )
    parser.add_argument(
        "--compare", action="store_true", help="time the plainer TupleRecords design too"
    )
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/store.json"))
    parser.add_argument("--no-pin", action="store_true", help="let the process move between CPUs")
    args = parser.parse_args()
    fills = [int(fill) for fill in args.fills.split(",")]
    if args.repeats < 1 or args.ops < 1 or any(f + args.ops > MAX_ENTRIES for f in fills):
        parser.error(f"repeats and ops at least 1; each fill plus ops at most {MAX_ENTRIES:,}")
    stores: dict[str, Factory] = (
        {spec.rpartition(":")[2]: load(spec) for spec in args.store}
        if args.store
        else {"MemoryIdempotencyStore": MemoryIdempotencyStore}
    )
    if args.compare:
        stores["TupleRecords"] = TupleRecords
    report = run(
        stores,
        fills=fills,
        ops=args.ops,
        repeats=args.repeats,
        gc_records=args.gc_records,
        pin=not args.no_pin,
    )
    print(table(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
