"""In-process benchmark: ``handle()`` against the standard-library floor and peers.

Every candidate does the same work on the same realistic bodies (about 380
bytes, each with its own capsule id so that none is a duplicate), interleaved
round by round in one run, so that ratios hold on a noisy shared machine even
when absolute times drift. The process keeps to one CPU (``--no-pin`` lets it
move): a move to another core empties the caches mid-round, which costs the
case with more state more, and made the ratio vary from run to run.

    python -m benchmarks.bench_core [--rounds 15] [--per-round 5000] [--json PATH]
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import hmac
import json
import platform
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from wrenn_webhooks import WebhookReceiver, parse_event, sign, verify

SECRET = "3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a"
# The protocol notes' sample, grown to a typical size with a user actor, more
# metadata and a longer error, as Wrenn sends for a failed user-requested pause.
SAMPLE = (
    '{{"event":"capsule.pause","outcome":"error","timestamp":"2026-05-24T21:10:37Z",'
    '"team_id":"team-0k3v9x2m1q8w7e6r5t4y3u2i1",'
    '"actor":{{"type":"user","id":"usr-5h2k8d0f3j6l9a1s4d7g0h3j6","name":"Ada Lovelace"}},'
    '"resource":{{"id":"sb-{:025d}","type":"sandbox"}},'
    '"metadata":{{"reason":"ttl_expired","template":"python-3.12"}},'
    '"error":"host unreachable: dial tcp: i/o timeout"}}'
)

Case = Callable[[bytes, dict[str, str]], object]


def bodies(count: int, start: int) -> list[tuple[bytes, dict[str, str]]]:
    """Distinct signed deliveries, signed now (a burst shares its signing second)."""
    stamp = datetime.now(timezone.utc)
    out = []
    for number in range(start, start + count):
        body = SAMPLE.format(number).encode()
        out.append((body, sign(body, SECRET, timestamp=stamp)))
    return out


def floor_case() -> Case:
    key = SECRET.encode()

    def floor(body: bytes, headers: dict[str, str]) -> object:
        stamp = headers["X-Wrenn-Timestamp"]
        digest = hmac.new(key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest("sha256=" + digest, headers["X-Wrenn-Signature"]):
            raise AssertionError("floor rejected a valid signature")
        return json.loads(body)

    return floor


def handle_case() -> Case:
    receiver = WebhookReceiver(SECRET)
    receiver.add(lambda event: None, "capsule.pause")

    def handle(body: bytes, headers: dict[str, str]) -> object:
        response = receiver.handle(body, headers)
        if response.status_code != 200:
            raise AssertionError(response.body)
        return response

    return handle


def verify_case() -> Case:
    return lambda body, headers: verify(body, headers, SECRET)


def parse_case() -> Case:
    return lambda body, headers: parse_event(body)


def peer_cases() -> dict[str, tuple[Case, Callable[[bytes, dict[str, str]], dict[str, str]]]]:
    """Peers on the same bodies, each with the headers its own scheme wants."""
    peers: dict[str, Any] = {}
    try:
        from standardwebhooks import Webhook
    except ImportError:
        pass
    else:
        whsec = "whsec_" + base64.b64encode(SECRET.encode()[:32]).decode()
        webhook = Webhook(whsec)

        def standard_headers(body: bytes, headers: dict[str, str]) -> dict[str, str]:
            msg_id = headers["X-Wrenn-Delivery"]
            now = datetime.now(timezone.utc)
            signature = webhook.sign(msg_id, now, body.decode())
            return {
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signature,
            }

        peers["standardwebhooks"] = (webhook.verify, standard_headers)
    try:
        import stripe
    except ImportError:
        pass
    else:

        def stripe_headers(body: bytes, headers: dict[str, str]) -> dict[str, str]:
            stamp = int(time.time())
            payload = f"{stamp}.".encode() + body
            digest = hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()
            return {"Stripe-Signature": f"t={stamp},v1={digest}"}

        peers["stripe"] = (
            lambda b, h: stripe.Webhook.construct_event(b, h["Stripe-Signature"], SECRET),
            stripe_headers,
        )
    return peers


def run(rounds: int, per_round: int, *, pin: bool = True) -> dict[str, Any]:
    """Time every case, interleaved round by round; return medians, spreads and ratios."""
    cases: dict[str, tuple[Callable[[], Case], Any]] = {
        "floor (hmac + compare_digest + json.loads)": (floor_case, None),
        "wrenn_webhooks handle()": (handle_case, None),
        "wrenn_webhooks verify()": (verify_case, None),
        "wrenn_webhooks parse_event()": (parse_case, None),
    }
    for name, (case, make_headers) in peer_cases().items():
        cases[f"{name} (verify only)"] = (functools.partial(_same, case), make_headers)
    cores = _cores()
    pinned = _pin() if pin else None
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for number in range(rounds):
        batch = bodies(per_round, number * per_round)
        for name, (factory, make_headers) in cases.items():
            work = batch if make_headers is None else [(b, make_headers(b, h)) for b, h in batch]
            fn = factory()  # a fresh receiver each round: every body is new to it
            started = time.perf_counter()
            for body, headers in work:
                fn(body, headers)
            samples[name].append((time.perf_counter() - started) / per_round * 1e6)
    floor = statistics.median(samples["floor (hmac + compare_digest + json.loads)"])
    results = []
    for name, values in samples.items():
        median = statistics.median(values)
        q = statistics.quantiles(values, n=4) if len(values) > 1 else [median, median, median]
        results.append(
            {
                "case": name,
                "median_us": round(median, 2),
                "p25_us": round(q[0], 2),
                "p75_us": round(q[2], 2),
                "ratio_to_floor": round(median / floor, 2),
            }
        )
    return {
        "benchmark": "core",
        "machine": f"{platform.machine()}, {cores} cores, Python {platform.python_version()}",
        "pinned_cpu": pinned,
        "rounds": rounds,
        "per_round": per_round,
        "body_bytes": len(SAMPLE.format(0)),
        "results": results,
    }


def _same(case: Case) -> Case:
    return case


def _pin() -> int | None:
    """Keep this process on the last CPU it may use; return it (None where unsupported)."""
    import os

    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def table(report: dict[str, Any]) -> str:
    """Render a report as a plain-text table."""
    lines = [
        f"core benchmark: {report['machine']}; {report['rounds']} rounds x "
        f"{report['per_round']} distinct {report['body_bytes']}-byte deliveries"
        + (
            f"; pinned to CPU {report['pinned_cpu']}"
            if report.get("pinned_cpu") is not None
            else ""
        ),
        f"{'case':<46} {'median µs':>10} {'p25-p75 µs':>14} {'x floor':>8}",
    ]
    for row in report["results"]:
        spread = f"{row['p25_us']:.2f}-{row['p75_us']:.2f}"
        lines.append(
            f"{row['case']:<46} {row['median_us']:>10.2f} {spread:>14} "
            f"{row['ratio_to_floor']:>8.2f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=5000)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/core.json"))
    parser.add_argument("--no-pin", action="store_true", help="let the process move between CPUs")
    args = parser.parse_args()
    report = run(args.rounds, args.per_round, pin=not args.no_pin)
    print(table(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
