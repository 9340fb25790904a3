"""The console page's example, ``examples/console/app.py``, does what the page says."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import event_body
from tests.vectors import SECRET
from wrenn_webhooks.testing import signed_request


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ModuleType]:
    monkeypatch.setenv("WRENN_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("SECRET_KEY", "a key of the app")
    monkeypatch.setenv("WRENN_INBOX_DB", str(tmp_path / "inbox.db"))
    monkeypatch.delitem(sys.modules, "examples.console.app", raising=False)
    module = importlib.import_module("examples.console.app")
    yield module
    module.inbox.close()
    sys.modules.pop("examples.console.app", None)


def test_operators_see_the_events_the_receiver_stored(example: ModuleType) -> None:
    client = example.app.test_client()
    body = event_body("capsule.pause", "error", error="host unreachable")
    response = client.post("/webhooks/wrenn", data=body, headers=signed_request(body, SECRET)[1])
    assert response.status_code == 202  # stored in the inbox
    assert example.inbox.stats()["pending"] == 1
    assert client.get("/ops/inbox/").status_code == 403  # not logged in as an operator
    with client.session_transaction() as session:
        session["role"] = "operator"
    html = client.get("/ops/inbox/list/pending").get_data(as_text=True)
    assert '<tr id="event-1">' in html and "capsule.pause" in html
