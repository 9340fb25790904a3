from __future__ import annotations

import importlib
import json
import logging
import runpy
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import event_body
from tests.hostile_cases import Target, bad_signature, exchange, request, signature_headers
from tests.servers import BIN, GUNICORN, PYTHON, ROOT, free_port, post, serve
from tests.vectors import SECRET
from wrenn_webhooks import sign
from wrenn_webhooks.events import EVENT_CLASSES

SUBSCRIBABLE = [kind for kind, cls in EVENT_CLASSES.items() if cls.subscribable]


def now_body(kind: str, outcome: str | None, **fields: object) -> bytes:
    return event_body(kind, outcome, timestamp=datetime.now(timezone.utc), **fields)


def test_example_handles_every_subscribable_type(
    caplog: pytest.LogCaptureFixture, example_receiver: ModuleType
) -> None:
    example = example_receiver
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
            response = client.post("/webhooks/wrenn", data=body, headers=sign(body, SECRET))
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

    secret = "modular-secret-" + "0" * 49  # as long as the 64 characters Wrenn generates
    app = modular.create_app(secret)
    client = app.test_client()
    for body in (
        now_body("capsule.destroy", "success", resource={"id": "sb-9", "type": "sandbox"}),
        now_body("host.down", None, resource={"id": "host-3", "type": "host"}),
    ):
        response = client.post("/webhooks/wrenn", data=body, headers=sign(body, secret))
        assert response.status_code == 200
    assert "sb-9" in capsules.destroyed
    assert "host-3" in hosts.down


def test_make_run_target_serves_and_verifies(example_receiver: ModuleType) -> None:
    dev_secret = example_receiver.DEV_SECRET
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/wrenn"
    args = [PYTHON, "-m", "examples.receiver", "--dev"]  # as make run does
    with serve(args, port, {"PORT": str(port)}, unset=["WRENN_WEBHOOK_SECRET"]) as server:
        body = now_body("capsule.pause", "error", error="host unreachable")
        status, answer = post(url, body, sign(body, dev_secret))
        assert status == 200
        assert json.loads(answer)["handled"] >= 1
        status, _ = post(url, body, sign(body, "wrong-secret"))
        assert status == 401
    output = server.output
    assert f"listening on {url}" in output
    assert f"Expecting secret: {dev_secret}" in output
    assert "WARNING: development secret, public" in output


@pytest.mark.skipif(shutil.which("gunicorn", path=str(BIN)) is None, reason="gunicorn missing")
def test_gunicorn_workers_share_the_sqlite_store(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/wrenn"
    env = {
        "BIND": f"127.0.0.1:{port}",
        "WRENN_WEBHOOK_SECRET": SECRET,
        "WRENN_WEBHOOK_STORE": f"sqlite:///{tmp_path}/idem.db",
    }
    args = [str(BIN / "gunicorn"), "-c", "examples/gunicorn.conf.py", "examples.receiver:app"]
    with serve(args, port, env):
        body = now_body("capsule.destroy", "success", metadata={"reason": "ttl_expired"})
        answers = [json.loads(post(url, body, sign(body, SECRET))[1]) for _ in range(6)]
    assert answers[0] == {"ok": True, "event": "capsule.destroy", "handled": 1}
    assert all(answer.get("duplicate") for answer in answers[1:])
    assert (tmp_path / "idem.db").exists()


# --- Framing in the other-framework examples ----------------------------------------

FRAMING_SECRET = "fr4m1ngfr4m1ngfr4m1ngfr4m1ngfr4m1ngfr4m1ngfr4m1ngfr4m1ngfr4m1ng"
MIB = 1 << 20


def _framing_cases(target: Target) -> list[tuple[str, bytes, bool, str, str]]:
    """(what, raw request, stall, answer under wsgiref, answer under gunicorn)."""
    body = now_body("channel.test", None, team_id="test", resource={"id": "t", "type": "channel"})
    bad = bad_signature(target, body)

    def with_length(value: bytes, data: bytes = body) -> bytes:
        return request(target, [*bad, (b"Content-Length", value)], data, length=False)

    def chunked(chunks: bytes) -> bytes:
        return request(target, [*bad, ("Transfer-Encoding", "chunked")], chunks, length=False)

    whole = b"".join(
        f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (body[:50], body[50:])
    )
    return [
        ("Content-Length ²", with_length(b"\xb2"), False, "400", "400"),
        ("Content-Length of 5,000 digits", with_length(b"9" * 5000), False, "400", "400"),
        ("Content-Length abc", with_length(b"abc"), False, "400", "400"),
        ("Content-Length -1", with_length(b"-1"), False, "400", "400"),
        ("Content-Length of 20 digits", with_length(b"1" * 20), False, "400", "400"),
        ("50 MB declared, never sent", with_length(b"50000000", b""), False, "413", "413"),
        ("1 MiB + 1 sent", request(target, bad, b" " * (MIB + 1)), False, "413", "413"),
        (
            "Content-Length 100 more than sent",
            with_length(str(len(body) + 100).encode()),
            True,
            "no answer, then 400",
            "no answer, then 400",
        ),
        ("no Content-Length", request(target, bad, body, length=False), False, "411", "401"),
        ("chunked", chunked(whole + b"0\r\n\r\n"), False, "411", "401"),
        ("chunk size zz", chunked(b"zz\r\n{}\r\n0\r\n\r\n"), False, "411", "400"),
        (
            "1 MiB + 1 in chunks",
            chunked(f"{MIB + 1:x}\r\n".encode() + b" " * (MIB + 1) + b"\r\n0\r\n\r\n"),
            False,
            "411",
            "413",
        ),
        ("signed with another secret", request(target, bad, body), False, "401", "401"),
        ("signed", request(target, signature_headers(target, body), body), False, "200", "200"),
    ]


WSGI_SERVERS = ["wsgiref", GUNICORN]


@pytest.mark.parametrize("server_name", WSGI_SERVERS)
def test_wsgi_example_answers_broken_framing_4xx(server_name: str) -> None:
    port = free_port()
    if server_name == "wsgiref":
        args, env = [PYTHON, "-m", "examples.frameworks.wsgi_app"], {"PORT": str(port)}
    else:
        args = [
            str(BIN / "gunicorn"),
            "-b",
            f"127.0.0.1:{port}",
            "examples.frameworks.wsgi_app:app",
        ]
        env = {}
    with serve(args, port, {**env, "WRENN_WEBHOOK_SECRET": FRAMING_SECRET}) as server:
        target = Target(f"127.0.0.1:{port}", FRAMING_SECRET, datetime.now(timezone.utc))
        cases = _framing_cases(target)
        answers = {what: exchange(port, data, stall=stall) for what, data, stall, *_ in cases}
    column = 3 if server_name == "wsgiref" else 4
    assert answers == {case[0]: case[column] for case in cases}
    assert "Traceback" not in server.output


# --- One rule for the secret, in the example and in the extension ---------------------

COMMA_SECRET = "team,chosen,secret-" + "k" * 45  # a team's own secret may hold commas
NEW_SECRET = "n" * 64
SECRET_ENV = ("WRENN_WEBHOOK_SECRET", "WRENN_WEBHOOK_PREVIOUS_SECRET")


def _import_fresh(name: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    for variable in (*SECRET_ENV, "WRENN_WEBHOOK_STORE"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delitem(sys.modules, name, raising=False)
    return importlib.import_module(name)


def _apps_from_the_environment(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[Any]:
    """The example receiver, and the extension as examples/flask/factory.py configures it."""
    receiver_example = _import_fresh("examples.receiver", monkeypatch, **env)
    factory_example = _import_fresh("examples.flask.factory", monkeypatch, **env)
    return [receiver_example.app, factory_example.create_app()]


def _status(app: Any, secret: str, path: str = "/webhooks/wrenn") -> int:
    body = now_body("host.up", None, resource={"id": "h-1", "type": "host"})
    response = app.test_client().post(path, data=body, headers=sign(body, secret))
    return int(response.status_code)


def test_a_secret_with_commas_is_one_secret_in_the_example_and_the_extension(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for app in _apps_from_the_environment(monkeypatch, WRENN_WEBHOOK_SECRET=COMMA_SECRET):
        assert _status(app, COMMA_SECRET) == 200, app.name
        assert [_status(app, part) for part in COMMA_SECRET.split(",")] == [401, 401, 401]


def test_rotation_reads_the_previous_secret_in_the_example_and_the_extension(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {"WRENN_WEBHOOK_SECRET": NEW_SECRET, "WRENN_WEBHOOK_PREVIOUS_SECRET": COMMA_SECRET}
    for app in _apps_from_the_environment(monkeypatch, **env):
        assert (_status(app, NEW_SECRET), _status(app, COMMA_SECRET)) == (200, 200), app.name
        assert _status(app, SECRET) == 401


def test_the_example_refuses_the_development_secret_as_the_previous_one(
    monkeypatch: pytest.MonkeyPatch, example_receiver: ModuleType
) -> None:
    env = {
        "WRENN_WEBHOOK_SECRET": SECRET,
        "WRENN_WEBHOOK_PREVIOUS_SECRET": example_receiver.DEV_SECRET,
    }
    with pytest.raises(RuntimeError, match="WRENN_WEBHOOK_PREVIOUS_SECRET holds the public"):
        _import_fresh("examples.receiver", monkeypatch, **env)


def test_the_rotation_example_reports_deliveries_signed_with_the_previous_secret(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"WRENN_WEBHOOK_SECRET": NEW_SECRET, "WRENN_WEBHOOK_PREVIOUS_SECRET": COMMA_SECRET}
    app = _import_fresh("examples.rotation", monkeypatch, **env).app
    caplog.set_level(logging.WARNING, logger="examples.rotation")
    assert _status(app, NEW_SECRET, "/webhooks/wrenn/") == 200
    assert not caplog.records
    body = now_body("host.down", None, resource={"id": "h-2", "type": "host"})
    headers = sign(body, COMMA_SECRET, delivery_id="d-old")
    assert app.test_client().post("/webhooks/wrenn", data=body, headers=headers).status_code == 200
    assert caplog.messages == ["delivery d-old was signed with the previous secret"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WRENN_WEBHOOK_SECRET": " \t"}, "set WRENN_WEBHOOK_SECRET to the channel's secret"),
        (
            {"WRENN_WEBHOOK_SECRET": SECRET, "WRENN_WEBHOOK_PREVIOUS_SECRET": " "},
            "WRENN_WEBHOOK_PREVIOUS_SECRET is blank",
        ),
    ],
)
def test_the_gunicorn_configuration_refuses_a_blank_secret_in_one_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for variable in SECRET_ENV:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as exited:
        runpy.run_path("examples/gunicorn.conf.py")
    assert str(exited.value).startswith(message)
    assert "\n" not in str(exited.value)


def test_the_gunicorn_configuration_takes_a_secret_with_commas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WRENN_WEBHOOK_SECRET", COMMA_SECRET)
    monkeypatch.setenv("WRENN_WEBHOOK_PREVIOUS_SECRET", NEW_SECRET)
    assert runpy.run_path("examples/gunicorn.conf.py")["worker_class"] == "gthread"


# --- The quick start ------------------------------------------------------------------


def test_the_quick_start_runs_as_documented_and_answers_both_spellings() -> None:
    port = free_port()
    args = [str(BIN / "flask"), "--app", "examples.quickstart", "run", "--port", str(port)]
    with serve(args, port, {"WRENN_WEBHOOK_SECRET": SECRET}) as server:
        for path, capsule in (("/webhooks/wrenn", "sb-1"), ("/webhooks/wrenn/", "sb-2")):
            resource = {"id": capsule, "type": "sandbox"}
            body = now_body("capsule.pause", "error", error="host unreachable", resource=resource)
            url = f"http://127.0.0.1:{port}{path}"
            status, answer = post(url, body, sign(body, SECRET))
            assert status == 200, path  # answered directly: no 404, no redirect
            assert json.loads(answer) == {"ok": True, "event": "capsule.pause", "handled": 1}
        status, _ = post(url, body, sign(body, NEW_SECRET))
        assert status == 401
    assert "capsule sb-1 failed to pause: host unreachable" in server.output
    assert "capsule sb-2 failed to pause: host unreachable" in server.output


def test_the_top_level_examples_pass_mypy_strict() -> None:
    examples = sorted(str(path) for path in (ROOT / "examples").glob("*.py"))
    result = subprocess.run(
        [PYTHON, "-m", "mypy", "--strict", "--no-incremental", *examples],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout


def test_the_two_receivers_example_takes_each_secret_on_its_own_url(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    module = _import_fresh(
        "examples.flask.two_receivers",
        monkeypatch,
        WRENN_WEBHOOK_SECRET=SECRET,
        WRENN_STAGING_SECRET=NEW_SECRET,
    )
    app = module.create_app()
    caplog.set_level(logging.INFO)
    client = app.test_client()
    urls = {"/webhooks/wrenn": SECRET, "/webhooks/staging/": NEW_SECRET}
    for url, own in urls.items():
        for secret in urls.values():
            body = now_body(
                "capsule.pause", "error", error="no host", resource={"id": url, "type": "sandbox"}
            )
            answer = client.post(url, data=body, headers=sign(body, secret))
            assert answer.status_code == (200 if secret == own else 401), (url, secret == own)
    assert "capsule /webhooks/wrenn failed to pause: no host" in caplog.messages
    assert "staging: capsule /webhooks/staging/ failed to pause" in caplog.messages
    assert len([m for m in caplog.messages if "failed to pause" in m]) == 2
