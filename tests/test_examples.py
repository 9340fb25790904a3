from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from tests.conftest import event_body
from tests.servers import BIN, PYTHON, free_port, post, serve
from wrenn_webhooks import sign
from wrenn_webhooks.events import EVENT_CLASSES

SUBSCRIBABLE = [kind for kind, cls in EVENT_CLASSES.items() if cls.subscribable]


def now_body(kind: str, outcome: str | None, **fields: object) -> bytes:
    from datetime import datetime, timezone

    return event_body(kind, outcome, timestamp=datetime.now(timezone.utc), **fields)


def test_example_handles_every_subscribable_type(caplog: pytest.LogCaptureFixture) -> None:
    from examples import receiver as example

    client = example.app.test_client()
    caplog.set_level(logging.DEBUG, logger="examples.receiver")
    for kind in [*SUBSCRIBABLE, "channel.test"]:
        has_outcome = EVENT_CLASSES[kind].has_outcome
        for outcome in ("success", "error") if has_outcome else (None,):
            body = now_body(
                kind,
                outcome,
                resource={"id": f"{kind}-{outcome}", "type": EVENT_CLASSES[kind].resource_type},
                error="boom" if outcome == "error" else None,
            )
            response = client.post(
                "/webhooks/wrenn", data=body, headers=sign(body, example.DEV_SECRET)
            )
            assert response.status_code == 200, (kind, outcome, response.get_json())
            assert response.get_json()["handled"] >= 1, (kind, outcome)
    messages = "\n".join(record.getMessage() for record in caplog.records)
    assert "ALERT capsule capsule.pause-error failed to pause" in messages
    assert "AUDIT capsule capsule.destroy-success destroyed" in messages
    assert "host host.down-None is DOWN" in messages
    assert "channel test received" in messages
    health = client.get("/healthz").get_json()
    assert health["ok"] is True


def test_modular_example() -> None:
    from examples.modular import app as modular
    from examples.modular import capsules, hosts

    app = modular.create_app("modular-secret")
    client = app.test_client()
    for body in (
        now_body("capsule.destroy", "success", resource={"id": "sb-9", "type": "sandbox"}),
        now_body("host.down", None, resource={"id": "host-3", "type": "host"}),
    ):
        response = client.post("/webhooks/wrenn", data=body, headers=sign(body, "modular-secret"))
        assert response.status_code == 200
    assert "sb-9" in capsules.destroyed
    assert "host-3" in hosts.down


def test_make_run_target_serves_and_verifies() -> None:
    from examples.receiver import DEV_SECRET

    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/wrenn"
    with serve([PYTHON, "-m", "examples.receiver"], port, {"PORT": str(port)}) as server:
        body = now_body("capsule.pause", "error", error="host unreachable")
        status, answer = post(url, body, sign(body, DEV_SECRET))
        assert status == 200
        assert json.loads(answer)["handled"] >= 1
        status, _ = post(url, body, sign(body, "wrong-secret"))
        assert status == 401
    output = server.output
    assert f"listening on {url}" in output
    assert f"Expecting secret: {DEV_SECRET}" in output


@pytest.mark.skipif(shutil.which("gunicorn", path=str(BIN)) is None, reason="gunicorn missing")
def test_gunicorn_workers_share_the_sqlite_store(tmp_path: Path) -> None:
    from examples.receiver import DEV_SECRET

    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/wrenn"
    env = {
        "BIND": f"127.0.0.1:{port}",
        "WRENN_WEBHOOK_STORE": f"sqlite:///{tmp_path}/idem.db",
    }
    args = [str(BIN / "gunicorn"), "-c", "examples/gunicorn.conf.py", "examples.receiver:app"]
    with serve(args, port, env):
        body = now_body("capsule.destroy", "success", metadata={"reason": "ttl_expired"})
        answers = [json.loads(post(url, body, sign(body, DEV_SECRET))[1]) for _ in range(6)]
    assert answers[0] == {"ok": True, "event": "capsule.destroy", "handled": 1}
    assert all(answer.get("duplicate") for answer in answers[1:])
    assert (tmp_path / "idem.db").exists()
