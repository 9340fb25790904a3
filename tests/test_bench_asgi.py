"""Smoke tests for ``benchmarks/bench_asgi.py``: its apps and pure parts, no uvicorn or wrk."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks import bench_asgi
from benchmarks.bench_http import PATH, SECRET, write_requests


def requests(tmp_path: Path, count: int) -> list[tuple[bytes, dict[str, str]]]:
    """Deliveries as the benchmark's request file holds them."""
    path = tmp_path / "requests.tsv"
    write_requests(path, count)
    names, *lines = path.read_text().splitlines()
    out = []
    for line in lines:
        *values, body = line.split("\t")
        out.append((body.encode(), dict(zip(names.split("\t")[:-1], values, strict=True))))
    return out


@pytest.mark.parametrize("name", list(bench_asgi.APPS))
def test_every_app_answers_a_delivery_as_the_floor_does(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WRENN_WEBHOOK_SECRET", SECRET)
    app = getattr(bench_asgi, f"{name.replace('-', '_')}_app")()
    [(body, headers), (other, _)] = requests(tmp_path, 2)

    async def run() -> list[tuple[int, Any]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            good = await client.post(PATH, content=body, headers=headers)
            bad = await client.post(PATH, content=other, headers=headers)
        return [(good.status_code, good.json()), (bad.status_code, bad.json()["ok"])]

    good, bad = asyncio.run(run())
    assert good == (200, {"ok": True, "event": "capsule.pause", "handled": 1})
    assert bad == (401, False)


def fake(rps: float) -> dict[str, Any]:
    return {
        "rps": rps,
        "p50_us": 4000.0,
        "p99_us": 9000.0,
        "errors": 0,
        "non_2xx_3xx": 0,
        "duplicates": 0,
    }


def test_rows_compare_each_app_with_its_floor_and_the_starlette_one() -> None:
    rates = {"bare": 10000, "sdk": 9000, "sdk-plain": 7000, "bare-top": 15000, "sdk-top": 12000}
    samples = {app: [fake(rate), fake(rate * 1.1)] for app, rate in rates.items()}
    rows = {row["case"]: row for row in bench_asgi.http_rows(samples)}
    sdk = rows[bench_asgi.APPS["sdk"]]
    assert (sdk["ratio"], sdk["floor"], sdk["target"]) == (0.9, "bare", ">= 0.95")
    assert "ratio_to_bare" not in sdk
    top = rows[bench_asgi.APPS["sdk-top"]]
    assert (top["ratio"], top["ratio_to_bare"], top["floor"]) == (0.8, 1.2, "bare-top")
    assert "ratio" not in rows[bench_asgi.APPS["bare"]]
    report = {
        "machine": "x86_64, 2 cores",
        "http": {
            "uvicorn": "1 process",
            "pinned": "no",
            "rounds": 2,
            "duration_s": 5,
            "connections": 64,
            "body_bytes": 333,
        },
        "results": list(rows.values()),
    }
    text = bench_asgi.table(report)
    assert "0.900" in text and "1.200" in text


def test_round_order_keeps_each_floor_with_its_apps_and_rotates() -> None:
    apps = list(bench_asgi.APPS)
    orders = [bench_asgi.round_order(apps, number) for number in range(4)]
    for order in orders:
        assert sorted(order) == sorted(apps)
        groups = [bench_asgi.FLOORS.get(app, app) for app in order]
        assert groups in (["bare"] * 3 + ["bare-top"] * 2, ["bare-top"] * 2 + ["bare"] * 3)
    assert len({order[0] for order in orders}) > 1


def test_the_in_process_part_on_a_small_run() -> None:
    report = bench_asgi.run_core(2, 50, pin=False)
    rows = {row["case"]: row for row in report["results"]}
    assert rows["handle(), plain handler"]["ratio"] == 1
    assert rows["handle_async(), async handler"]["target"] == "<= 1.3"
    assert all(row["median_us"] > 0 for row in rows.values())
