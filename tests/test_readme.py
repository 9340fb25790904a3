"""The README's commands and quick start do what it says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.vectors import SECRET
from wrenn_webhooks import __version__
from wrenn_webhooks.testing import make_event, signed_request

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_opens_with_the_two_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make run", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


@pytest.mark.parametrize("page", ["README.md", "docs/index.md"])
def test_install_is_from_a_checkout_or_the_wheel_make_dist_builds(page: str) -> None:
    install = (ROOT / page).read_text().split("## Install", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"^pip install \.(\s|$)", install, re.M)
    wheels = set(re.findall(r"wrenn_webhooks-[^\s`]+\.whl", install))
    assert wheels == {f"wrenn_webhooks-{__version__}-py3-none-any.whl"}


def test_quick_start_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WRENN_WEBHOOK_SECRET", SECRET)
    (code,) = re.findall(r"```python\n(.*?)```", README, re.S)
    namespace: dict[str, Any] = {"__name__": "readme_quick_start"}
    exec(compile(code, "README.md", "exec"), namespace)
    client = namespace["app"].test_client()
    event = make_event("capsule.pause", outcome="error")
    body, headers = signed_request(event, SECRET)
    response = client.post("/webhooks/wrenn", data=body, headers=headers)
    assert response.status_code == 200
    assert f"capsule {event.resource.id} failed to pause" in capsys.readouterr().out
    # A 0.1.5 server's event, as `send --wrenn-version 0.1.5` sends it: the same handler.
    older = make_event("capsule.pause", wrenn_version="0.1.5")
    body, headers = signed_request(older, SECRET)
    assert b'"event":"capsule.paused"' in body
    response = client.post("/webhooks/wrenn", data=body, headers=headers)
    assert response.get_json() == {"ok": True, "event": "capsule.pause", "handled": 1}
    assert f"capsule {older.resource.id} paused" in capsys.readouterr().out
