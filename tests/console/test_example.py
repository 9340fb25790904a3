"""The example receiver with an inbox: ``make run-inbox`` shows the console."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import event_body
from tests.servers import PYTHON, ROOT, free_port, post, serve
from wrenn_webhooks import sign
from wrenn_webhooks.inbox import SQLiteInbox


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        with error:
            return error.code


def test_dev_run_with_an_inbox_serves_the_console_and_a_worker(
    tmp_path: Path, example_receiver: ModuleType
) -> None:
    port, path = free_port(), tmp_path / "dev-inbox.db"
    env = {"PORT": str(port), "WRENN_INBOX_DB": str(path)}
    args = [PYTHON, "-m", "examples.receiver", "--dev"]  # as make run does
    with serve(args, port, env, unset=["WRENN_WEBHOOK_SECRET", "WRENN_WEBHOOK_STORE"]) as server:
        body = event_body(
            "capsule.pause", "error", error="host unreachable", timestamp=datetime.now(timezone.utc)
        )
        url = f"http://127.0.0.1:{port}"
        status, answer = post(
            f"{url}/webhooks/wrenn", body, sign(body, example_receiver.DEV_SECRET)
        )
        assert (status, json.loads(answer)["queued"]) == (202, True)
        inbox = SQLiteInbox(path, read_only=True)
        deadline = time.monotonic() + 20
        while inbox.stats()["done"] != 1:  # the worker running in the process handles it
            assert time.monotonic() < deadline, "the in-process worker handled nothing"
            time.sleep(0.05)
        inbox.close()
        assert status_of(f"{url}/inbox/") == 200
    assert f"console on http://127.0.0.1:{port}/inbox/" in server.output


def test_no_console_outside_development(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Imported by a server (never --dev), the example mounts no console, inbox or not."""
    monkeypatch.setenv("WRENN_WEBHOOK_SECRET", "s" * 64)
    monkeypatch.setenv("WRENN_INBOX_DB", str(tmp_path / "inbox.db"))
    monkeypatch.delitem(sys.modules, "examples.receiver", raising=False)
    example = importlib.import_module("examples.receiver")
    try:
        assert example.receiver.inbox is example.INBOX is not None
        client = example.app.test_client()
        assert client.get("/inbox/").status_code == 404
        assert client.get("/healthz").status_code == 200
    finally:
        example.INBOX.close()
        sys.modules.pop("examples.receiver", None)


def test_make_run_inbox_runs_the_example_in_inbox_mode_with_the_console() -> None:
    printed = subprocess.run(
        ["make", "--no-print-directory", "-n", "run-inbox"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    [recipe] = [line for line in printed if "examples.receiver" in line]
    assert recipe.startswith("WRENN_INBOX_DB=dev-inbox.db ")
    assert recipe.endswith("/python -m examples.receiver --dev")
