"""In-process benchmark: what watching costs, per ``handle()`` delivery.

The core benchmark's distinct deliveries through ``handle()`` with one plain
handler and the in-memory store, a fresh receiver per case and round, the
cases interleaved (in a rotating order) on one pinned CPU:

- ``no observer``: the receiver as created (its log line only, below INFO here);
- ``Metrics``: with ``wrenn_webhooks.metrics.Metrics`` in a registry of its own;
- ``tracing``: with the observer of ``wrenn_webhooks.tracing`` over an
  OpenTelemetry SDK tracer provider whose exporter drops every span (measured
  only when that module and ``opentelemetry-sdk`` are installed);
- ``tracing, 1 in 100 sampled``: the same observer with the SDK's
  ``TraceIdRatioBased(0.01)`` sampler, as a busy service would run it;
- the SDK's floor: two nested spans made current in turn around an unwatched
  ``handle()``, no attribute: what any tracer pays the SDK itself.

Timed as ``timeit`` does: many deliveries per round, the best round of several
(the median is shown too). The overhead, the best round's µs above ``no
observer``, is set against the time one HTTP request takes in the latest HTTP
results (``benchmarks/results/http.json``, gunicorn and Flask, and ``asgi.json``,
uvicorn): a server's processes divided by its requests per second, for the
SDK with the in-memory store. Target: metrics cost at most 5% of a request.

    python -m benchmarks.bench_observe [--rounds 15] [--per-round 5000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.bench_core import SAMPLE, SECRET, Case, _cores, _pin, bodies
from wrenn_webhooks import WebhookReceiver
from wrenn_webhooks.observe import Observer

RESULTS = Path(__file__).with_name("results")
TARGET_SHARE = 0.05
"""Metrics may cost at most this share of an HTTP request's time."""
BASELINE = "no observer"


def receiver_case(observer: Callable[[], Observer | None]) -> Callable[[], Case]:
    """A factory of fresh receivers with one plain handler, watched by ``observer()``."""

    def factory() -> Case:
        receiver = WebhookReceiver(SECRET)
        receiver.add(lambda event: None, "capsule.pause")
        watcher = observer()
        if watcher is not None:
            receiver.add_observer(watcher)

        def handle(body: bytes, headers: dict[str, str]) -> object:
            response = receiver.handle(body, headers)
            if response.status_code != 200:
                raise AssertionError(response.body)
            return response

        return handle

    return factory


def metrics_observer() -> Observer:
    from prometheus_client import CollectorRegistry

    from wrenn_webhooks.metrics import Metrics

    return Metrics(registry=CollectorRegistry())


def dropping_provider(sampler: Any = None) -> Any:
    """An OpenTelemetry SDK tracer provider whose exporter drops every span it is handed.

    Spans are created, ended and passed to a span processor, as with a real
    exporter, minus the export itself. ``None`` without ``opentelemetry-sdk``.
    """
    try:
        from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
        from opentelemetry.sdk.trace.export import (
            SimpleSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )
    except ImportError:
        return None

    class Dropped(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(Dropped()))
    return provider


def tracing_factory() -> tuple[str, Callable[[], Observer]] | None:
    """The tracing observer's name and factory, or ``None`` when it cannot be measured here."""
    provider = dropping_provider()
    if provider is None:
        return None
    from wrenn_webhooks.tracing import Tracing

    return "tracing (OpenTelemetry SDK, spans dropped)", lambda: Tracing(tracer_provider=provider)


def sampled_tracing_factory() -> tuple[str, Callable[[], Observer]] | None:
    """Tracing with one trace in 100 sampled, as a busy production service would run it."""
    try:
        from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
    except ImportError:
        return None
    from wrenn_webhooks.tracing import Tracing

    provider = dropping_provider(TraceIdRatioBased(0.01))
    return "tracing, 1 trace in 100 sampled", lambda: Tracing(tracer_provider=provider)


def sdk_floor_case() -> tuple[str, Callable[[], Case]] | None:
    """What any tracer pays the OpenTelemetry SDK: two nested spans, current in turn.

    ``handle()`` unwatched, plus a span made current around it and a child span
    made current inside, with no attribute: the SDK's own cost, which no
    observer can go below (set against the ``tracing`` row).
    """
    provider = dropping_provider()
    if provider is None:
        return None
    from opentelemetry import context, trace

    tracer = provider.get_tracer("floor")
    plain = receiver_case(lambda: None)

    def factory() -> Case:
        handle = plain()

        def traced(body: bytes, headers: dict[str, str]) -> object:
            outer = tracer.start_span("delivery")
            token = context.attach(trace.set_span_in_context(outer))
            inner = tracer.start_span("handler")
            inner_token = context.attach(trace.set_span_in_context(inner))
            context.detach(inner_token)
            inner.end()
            response = handle(body, headers)
            context.detach(token)
            outer.end()
            return response

        return traced

    return "OpenTelemetry SDK alone: 2 nested spans, no attributes (floor)", factory


def http_references(results: Path = RESULTS) -> list[dict[str, Any]]:
    """One HTTP request's time, in µs of one server process, from the latest HTTP results."""
    references = []
    http = results / "http.json"
    if http.exists():
        for row in json.loads(http.read_text())["results"]:
            if row["app"] == "SDK, memory store":
                processes = int(row["workers"].split()[0])
                references.append(
                    {
                        "reference": f"gunicorn + Flask, {row['workers']}, {row['connection']}",
                        "request_us": round(processes * 1e6 / row["rps_median"], 1),
                    }
                )
    asgi = results / "asgi.json"
    if asgi.exists():
        for row in json.loads(asgi.read_text())["results"]:
            if (
                row.get("part") == "http"
                and row["case"].startswith("SDK")
                and "async" in row["case"]
            ):
                references.append(
                    {
                        "reference": f"uvicorn, 1 process: {row['case'].removeprefix('SDK: ')}",
                        "request_us": round(1e6 / row["rps_median"], 1),
                    }
                )
    return references


def run(rounds: int, per_round: int, *, pin: bool = True) -> dict[str, Any]:
    """Time every case, interleaved round by round; the best and median µs per delivery."""
    logging.getLogger("wrenn_webhooks").setLevel(logging.WARNING)  # as in production: no INFO
    cases: dict[str, Callable[[], Case]] = {
        BASELINE: receiver_case(lambda: None),
        "Metrics": receiver_case(metrics_observer),
    }
    tracing = tracing_factory()
    if tracing is not None:
        cases[tracing[0]] = receiver_case(tracing[1])
    sampled = sampled_tracing_factory()
    if sampled is not None:
        cases[sampled[0]] = receiver_case(sampled[1])
    floor = sdk_floor_case()
    if floor is not None:
        cases[floor[0]] = floor[1]
    cores = _cores()
    pinned = _pin() if pin else None
    samples: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for number in range(rounds):
        batch = bodies(per_round, number * per_round)
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            handle = cases[name]()
            started = time.perf_counter()
            for body, headers in batch:
                handle(body, headers)
            samples[name].append((time.perf_counter() - started) / per_round * 1e6)
    base = min(samples[BASELINE])
    results = []
    for name, values in samples.items():
        median = statistics.median(values)
        q = statistics.quantiles(values, n=4) if len(values) > 1 else [median] * 3
        results.append(
            {
                "case": name,
                "best_us": round(min(values), 2),
                "median_us": round(median, 2),
                "p25_us": round(q[0], 2),
                "p75_us": round(q[2], 2),
                "overhead_us": round(min(values) - base, 2),
            }
        )
    references = http_references()
    overheads = [
        {
            "case": row["case"],
            "reference": ref["reference"],
            "request_us": ref["request_us"],
            "share": round(row["overhead_us"] / ref["request_us"], 4),
        }
        for row in results
        if row["case"] != BASELINE
        for ref in references
    ]
    return {
        "benchmark": "observe",
        "machine": f"{platform.machine()}, {cores} cores, Python {platform.python_version()}",
        "pinned_cpu": pinned,
        "rounds": rounds,
        "per_round": per_round,
        "body_bytes": len(SAMPLE.format(0)),
        "target_share": TARGET_SHARE,
        "results": results,
        "overheads": overheads,
    }


def table(report: dict[str, Any]) -> str:
    """Render a report as plain text."""
    lines = [
        f"observe benchmark: {report['machine']}; {report['rounds']} rounds x "
        f"{report['per_round']} distinct {report['body_bytes']}-byte deliveries",
        f"{'case':<58} {'best µs':>8} {'median µs':>10} {'overhead µs':>12}",
    ]
    for row in report["results"]:
        lines.append(
            f"{row['case']:<58} {row['best_us']:>8.2f} {row['median_us']:>10.2f} "
            f"{row['overhead_us']:>12.2f}"
        )
    lines.append(f"overhead against one HTTP request (target for Metrics: "
                 f"<= {report['target_share']:.0%})")  # fmt: skip
    for row in report["overheads"]:
        lines.append(
            f"  {row['case']:<24} {row['reference']:<64} {row['request_us']:>7.1f} µs"
            f" {row['share']:>7.2%}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=5000)
    parser.add_argument("--json", type=Path, default=RESULTS / "observe.json")
    parser.add_argument("--no-pin", action="store_true", help="let the process move between CPUs")
    args = parser.parse_args()
    report = run(args.rounds, args.per_round, pin=not args.no_pin)
    print(table(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
