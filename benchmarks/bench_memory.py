"""Memory benchmark: RSS over 100,000 distinct deliveries through ``handle()``.

One receiver with one no-op handler and an in-memory idempotency store takes
blocks of distinct, freshly signed deliveries (the core benchmark's ~380-byte
bodies); the process's RSS (``VmRSS``) and the store's record count are read
before the first block and after each one. Each store setting runs in a fresh
interpreter, so that memory one run freed cannot hide the next run's growth.

``MemoryIdempotencyStore`` keeps at most ``max_entries`` records (100,000 by
default) for ``ttl`` seconds (900 by default), so RSS grows while the store
fills and stays flat once the bound is reached. The default bound is first
reached at the 100,000th delivery; ``max_entries=10_000`` shows the plateau
within the same run (``--deliveries 200000`` shows the default's).

    python -m benchmarks.bench_memory [--deliveries 100000] [--block 10000] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.bench_core import SECRET, _cores, bodies
from wrenn_webhooks import WebhookReceiver
from wrenn_webhooks.stores import MemoryIdempotencyStore

MIB = 1024 * 1024
CHUNK = 1000  # deliveries signed at a time
# Flat after the bound: growing per delivery by less than this share of a record.
FLAT_SHARE = 0.05


def rss_bytes() -> int:
    """The current resident set size (``VmRSS``), or the peak where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def measure(deliveries: int, block: int, max_entries: int | None = None) -> dict[str, Any]:
    """Send ``deliveries`` distinct deliveries in blocks; return the RSS curve and verdict.

    Args:
        deliveries: How many, in all.
        block: RSS is read after every ``block`` deliveries.
        max_entries: The store's bound; ``None`` for the receiver's default store.
    """
    store = None if max_entries is None else MemoryIdempotencyStore(max_entries=max_entries)
    receiver = WebhookReceiver(SECRET, idempotency=store)
    receiver.add(lambda event: None, "capsule.pause")
    memory = receiver.store
    if not isinstance(memory, MemoryIdempotencyStore):
        raise TypeError("the receiver's default store is not the in-memory one")
    # Deliveries are made in small chunks, and one chunk is made and dropped before
    # the first reading, so that the curve shows the store, not the test data.
    chunk = min(block, CHUNK)
    del bodies(chunk, -chunk)[:]
    gc.collect()
    points = [{"deliveries": 0, "rss_bytes": rss_bytes(), "records": len(memory)}]
    sent = 0
    while sent < deliveries:
        end = min(sent + block, deliveries)
        while sent < end:
            for body, headers in bodies(min(chunk, end - sent), sent):
                response = receiver.handle(body, headers)
                if response.status_code != 200 or response.body.get("duplicate"):
                    raise AssertionError(f"delivery {sent} answered {response.body}")
                sent += 1
        gc.collect()
        points.append({"deliveries": sent, "rss_bytes": rss_bytes(), "records": len(memory)})
    return verdict(points, memory.max_entries, memory.ttl)


def verdict(points: list[dict[str, int]], max_entries: int, ttl: float) -> dict[str, Any]:
    """Bytes per record while filling, growth after the bound, and whether it stays flat.

    Flat: over the later half of the readings after the bound (the first blocks
    after it still settle the allocator), RSS grows by less than ``FLAT_SHARE``
    of a record's cost per delivery. A leak of one small object per delivery fails.
    """
    start = points[0]["rss_bytes"]
    full = next((p for p in points if p["records"] >= max_entries), None)
    filling = full or points[-1]
    records = filling["records"] - points[0]["records"]
    per_record = (filling["rss_bytes"] - start) / records if records else 0.0
    growth: float | None = None
    slope: float | None = None
    if full is not None:
        growth = (points[-1]["rss_bytes"] - full["rss_bytes"]) / MIB
        after = [p for p in points if p["deliveries"] >= full["deliveries"]]
        tail = after[len(after) // 2 :]
        if len(tail) >= 2:
            slope = (tail[-1]["rss_bytes"] - tail[0]["rss_bytes"]) / (
                tail[-1]["deliveries"] - tail[0]["deliveries"]
            )
    return {
        "max_entries": max_entries,
        "ttl_s": ttl,
        "deliveries": points[-1]["deliveries"],
        "bytes_per_record": round(per_record),
        "store_at_bound_mib": round(per_record * max_entries / MIB, 1),
        "bound_reached_at": full["deliveries"] if full else None,
        "growth_after_bound_mib": None if growth is None else round(growth, 2),
        "tail_bytes_per_delivery": None if slope is None else round(slope, 1),
        "flat_after_bound": None if slope is None else slope <= FLAT_SHARE * max(per_record, 1),
        "points": [
            {
                "deliveries": p["deliveries"],
                "rss_mib": round(p["rss_bytes"] / MIB, 1),
                "records": p["records"],
            }
            for p in points
        ],
    }


def run(deliveries: int, block: int, bounds: list[int | None]) -> dict[str, Any]:
    """Measure each store bound in its own interpreter; return the report."""
    results = []
    for bound in bounds:
        command = [sys.executable, "-m", "benchmarks.bench_memory", "--child"]
        command += ["--deliveries", str(deliveries), "--block", str(block)]
        command += ["--max-entries", "default" if bound is None else str(bound)]
        done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=900)
        result = json.loads(done.stdout)
        result["store"] = (
            f"default (max_entries={result['max_entries']:,})"
            if bound is None
            else f"max_entries={bound:,}"
        )
        results.append(result)
    return {
        "benchmark": "memory",
        "machine": f"{platform.machine()}, {_cores()} cores, Python {platform.python_version()}",
        "deliveries": deliveries,
        "block": block,
        "results": results,
    }


def table(report: dict[str, Any]) -> str:
    """Render a report as a plain-text curve, one column per store, and the verdicts."""
    runs = report["results"]
    lines = [
        f"memory benchmark: {report['machine']}; {report['deliveries']:,} distinct deliveries "
        "through handle(), one no-op handler; RSS MiB (records kept)",
        f"{'deliveries':>10} " + " ".join(f"{r['store']:>28}" for r in runs),
    ]
    for index, point in enumerate(runs[0]["points"]):
        cells = []
        for r in runs:
            p = r["points"][index]
            cells.append(f"{p['rss_mib']:>10.1f} MiB ({p['records']:>7,})".rjust(28))
        lines.append(f"{point['deliveries']:>10,} " + " ".join(cells))
    for r in runs:
        if r["flat_after_bound"] is None:
            tail = (
                f"bound not passed far enough in {r['deliveries']:,} deliveries to judge; "
                f"a full store would hold ~{r['store_at_bound_mib']:.0f} MiB"
            )
        else:
            word = "flat" if r["flat_after_bound"] else "NOT flat"
            tail = (
                f"bound reached at {r['bound_reached_at']:,}, then "
                f"{r['growth_after_bound_mib']:+.2f} MiB in all and "
                f"{r['tail_bytes_per_delivery']:+.1f} bytes per delivery at the end: {word}"
            )
        lines.append(
            f"{r['store']}: ~{r['bytes_per_record']} bytes per record while filling "
            f"(ttl {r['ttl_s']:.0f} s); {tail}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--block", type=int, default=10_000)
    parser.add_argument(
        "--max-entries",
        default="default,10000",
        help="comma-separated store bounds; 'default' for the receiver's own store",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/memory.json"))
    args = parser.parse_args()
    bounds = [None if b == "default" else int(b) for b in args.max_entries.split(",")]
    if args.deliveries < 1 or args.block < 1 or args.deliveries > 1_000_000:
        parser.error("deliveries between 1 and 1,000,000; block at least 1")
    if args.child:
        print(json.dumps(measure(args.deliveries, args.block, bounds[0])))
        return
    report = run(args.deliveries, args.block, bounds)
    print(table(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
