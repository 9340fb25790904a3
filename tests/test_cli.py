from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from tests.servers import BIN, PYTHON, free_port, serve
from tests.vectors import SAMPLE_BODY, SAMPLE_SIGNATURE, SAMPLE_TIMESTAMP, SECRET
from wrenn_webhooks import Event, WebhookReceiver
from wrenn_webhooks.cli import cli
from wrenn_webhooks.events import EVENT_CLASSES


def run(*args: str, input: bytes | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def live() -> Iterator[tuple[str, list[tuple[Event, bytes]], dict[str, int]]]:
    """A real receiver on a free port that records events and fails on demand."""
    from flask import Flask, request

    receiver = WebhookReceiver(SECRET)
    seen: list[tuple[Event, bytes]] = []
    failures = {"left": 0}

    @receiver.on("*")
    def record(event: Event) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("down for now")
        seen.append((event, body_holder[0]))

    body_holder = [b""]
    app = Flask(__name__)

    @app.post("/hook")
    def hook() -> Any:
        body_holder[0] = request.get_data()
        response = receiver.handle(body_holder[0], request.headers)
        return response.body, response.status_code

    @app.post("/moved")
    def moved() -> Any:
        return "", 308, {"Location": "/hook"}

    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen, failures
    finally:
        server.shutdown()
        server.server_close()


class TestSend:
    def test_sends_go_exact_signed_event(self, live: Any) -> None:
        url, seen, _ = live
        result = run(
            "send",
            f"{url}/hook",
            "--secret",
            SECRET,
            "--event",
            "capsule.create",
            "--outcome",
            "error",
            "--metadata",
            "template=py<3&4>",
            "--error",
            "disk full",
            "--team-id",
            "team-42",
        )
        assert result.exit_code == 0, result.output
        assert "attempt 1: 200 OK" in result.output
        event, body = seen[0]
        assert type(event) is EVENT_CLASSES["capsule.create"]
        assert (event.outcome, event.error, event.team_id) == ("error", "disk full", "team-42")
        assert event.metadata == {"template": "py<3&4>"}
        assert b'"template":"py\\u003c3\\u00264\\u003e"' in body
        assert body.startswith(b'{"event":"capsule.create","outcome":"error","timestamp":"')

    def test_count(self, live: Any) -> None:
        url, seen, _ = live
        result = run("send", f"{url}/hook", "--secret", SECRET, "--count", "3")
        assert result.exit_code == 0
        assert len({body for _, body in seen}) == 3

    def test_body_file_sent_verbatim(self, live: Any, tmp_path: Path) -> None:
        url, seen, _ = live
        path = tmp_path / "body.json"
        path.write_bytes(SAMPLE_BODY)
        assert (
            run("send", f"{url}/hook", "--secret", SECRET, "--body-file", str(path)).exit_code == 0
        )
        assert seen[0][1] == SAMPLE_BODY

    def test_retry_recovers_like_wrenn(self, live: Any) -> None:
        url, seen, failures = live
        failures["left"] = 1
        result = run(
            "send", f"{url}/hook", "--secret", SECRET, "--retry", "--retry-delays", "0.05,0.05"
        )
        assert result.exit_code == 0, result.output
        assert "attempt 1: 500" in result.output
        assert "attempt 2: 200" in result.output
        assert len(seen) == 1

    def test_gives_up_after_three_attempts(self, live: Any) -> None:
        url, _, failures = live
        failures["left"] = 5
        result = run("send", f"{url}/hook", "--secret", SECRET, "--retry", "--retry-delays", "0,0")
        assert result.exit_code == 1
        assert result.output.count("500 INTERNAL SERVER ERROR") == 3
        assert "1 of 1 events were not accepted" in result.output

    def test_redirects_are_not_followed(self, live: Any) -> None:
        url, seen, _ = live
        result = run("send", f"{url}/moved", "--secret", SECRET)
        assert result.exit_code == 1
        assert "attempt 1: 308" in result.output
        assert seen == []

    def test_wrong_secret_is_reported(self, live: Any) -> None:
        url, _, _ = live
        result = run("send", f"{url}/hook", "--secret", "nope")
        assert result.exit_code == 1
        assert "401" in result.output

    def test_connection_refused_is_one_line(self) -> None:
        result = run("send", f"http://127.0.0.1:{free_port()}/", "--secret", SECRET)
        assert result.exit_code == 1
        assert "connection failed" in result.output

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--metadata", "novalue"], "KEY=VALUE"),
            (["--outcome", "maybe"], "maybe"),
            (["--retry-delays", "x"], "seconds"),
        ],
    )
    def test_bad_options(self, args: list[str], message: str) -> None:
        result = CliRunner().invoke(cli, ["send", "http://127.0.0.1:9/", "--secret", "s", *args])
        assert result.exit_code == 2
        assert message in result.output

    def test_error_implies_the_error_outcome(self, live: Any) -> None:
        url, seen, _ = live
        assert run("send", f"{url}/hook", "--secret", SECRET, "--error", "boom").exit_code == 0
        event = seen[0][0]
        assert (event.outcome, event.error) == ("error", "boom")

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--event", "host.up", "--outcome", "error"], "carry no outcome"),
            (["--event", "channel.test", "--error", "x"], "carry no outcome"),
            (["--outcome", "success", "--error", "x"], "--error goes with --outcome error"),
        ],
    )
    def test_events_wrenn_never_sends_are_refused(self, args: list[str], message: str) -> None:
        result = CliRunner().invoke(cli, ["send", "http://127.0.0.1:9/", "--secret", "s", *args])
        assert result.exit_code == 2
        assert message in result.output


class TestVerify:
    def test_valid_capture(self) -> None:
        result = run(
            "verify",
            "--secret",
            SECRET,
            "--timestamp",
            SAMPLE_TIMESTAMP,
            "--signature",
            SAMPLE_SIGNATURE,
            "--ignore-age",
            input=SAMPLE_BODY,
        )
        assert result.exit_code == 0, result.output
        assert "valid: signed at 2026-05-24T21:10:37Z" in result.output
        assert "capsule.pause" in result.output

    @pytest.mark.parametrize(
        ("override", "message"),
        [
            ({"--secret": "other"}, "does not match"),
            ({"--signature": "sha256=xyz"}, "64 hex digits"),
            ({"--timestamp": "2026-05-24T21:10:37"}, "RFC 3339"),
            ({"--ignore-age": None}, "in the past"),
        ],
    )
    def test_says_exactly_why_not(self, override: dict[str, str | None], message: str) -> None:
        options: dict[str, str | None] = {
            "--secret": SECRET,
            "--timestamp": SAMPLE_TIMESTAMP,
            "--signature": SAMPLE_SIGNATURE,
            "--ignore-age": "",
        }
        options.update(override)
        args = ["verify"]
        for key, value in options.items():
            if value is not None:
                args += [key] if value == "" else [key, value]
        result = CliRunner().invoke(cli, args, input=SAMPLE_BODY)
        assert result.exit_code == 1
        assert "invalid: " in result.output
        assert message in result.output
        assert SECRET not in result.output

    def test_body_from_file(self, tmp_path: Path) -> None:
        path = tmp_path / "body"
        path.write_bytes(SAMPLE_BODY)
        result = run(
            "verify", "--secret", SECRET, "--timestamp", SAMPLE_TIMESTAMP,
            "--signature", SAMPLE_SIGNATURE, "--ignore-age", str(path),
        )  # fmt: skip
        assert result.exit_code == 0


def test_events_table_and_json() -> None:
    table = run("events").output
    for kind in EVENT_CLASSES:
        assert kind in table
    rows = json.loads(run("events", "--json").output)
    assert {row["event"] for row in rows} == set(EVENT_CLASSES)
    pause = next(row for row in rows if row["event"] == "capsule.pause")
    assert pause == {
        "event": "capsule.pause",
        "outcomes": ["success", "error"],
        "resource": "sandbox",
        "metadata": ["reason"],
        "subscribable": True,
        "older_names": ["capsule.paused"],
    }
    assert "capsule.paused" in table  # the 0.1.x names, listed after the table


def test_secret_is_wrenn_format() -> None:
    first, second = run("secret").output.strip(), run("secret").output.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert first != second


def test_version_and_module_entry() -> None:
    out = subprocess.run(
        [PYTHON, "-m", "wrenn_webhooks", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("wrenn-webhooks, version ")


def test_errors_are_one_line_without_traceback() -> None:
    out = subprocess.run(
        [str(BIN / "wrenn-webhooks"), "send", "ftp://x", "--secret", "s"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "not an http(s) URL" in out.stderr


def test_serve_and_send_as_real_processes() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/wrenn"
    args = [str(BIN / "wrenn-webhooks"), "serve", "--port", str(port), "--path", "wrenn/"]
    with serve(args, port, {"WRENN_WEBHOOK_SECRET": SECRET}) as server:
        sent = subprocess.run(
            [str(BIN / "wrenn-webhooks"), "send", url, "--event", "host.down"],
            env={"WRENN_WEBHOOK_SECRET": SECRET, "PATH": str(BIN)},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        forged = subprocess.run(
            [str(BIN / "wrenn-webhooks"), "send", url, "--secret", "forged"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert forged.returncode == 1
        server.process.send_signal(signal.SIGINT)  # Ctrl-C
        assert server.process.wait(10) == 0
    assert f"Listening on {url}" in server.output
    assert "── host.down" in server.output
    assert "resource  host host-" in server.output
    assert "rejected (401)" in server.output
    assert "Traceback" not in server.output


@pytest.mark.skipif(not (BIN / "gunicorn").exists(), reason="gunicorn missing")
def test_example_under_gunicorn_receives_send(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "BIND": f"127.0.0.1:{port}",
        "WRENN_WEBHOOK_SECRET": SECRET,
        "WRENN_WEBHOOK_STORE": f"sqlite:///{tmp_path}/i.db",
    }
    args = [str(BIN / "gunicorn"), "-c", "examples/gunicorn.conf.py", "examples.receiver:app"]
    with serve(args, port, env) as server:
        sent = subprocess.run(
            [str(BIN / "wrenn-webhooks"), "send", f"http://127.0.0.1:{port}/webhooks/wrenn",
             "--secret", SECRET, "--event", "capsule.pause", "--outcome", "error"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "200 OK" in sent.stdout
    assert "ALERT capsule sb-" in server.output


def test_describe_shows_event_times_in_utc() -> None:
    from wrenn_webhooks.cli import describe_event
    from wrenn_webhooks.testing import make_event

    event = make_event("host.up", timestamp="2026-05-24T23:10:37+02:00")
    assert "2026-05-24T21:10:37Z" in describe_event(event)


# --- request text reaches the terminal escaped ----------------------------------

HOSTILE = {
    "team_id": "team-\x07bell",
    "actor": {"type": "user", "id": "usr-1", "name": "Eve\u202eexe.txt"},
    "resource": {"id": "sb-1\x1b]0;pwned\x07\x1b[2J", "type": "sandbox\r"},
    "metadata": {"reason\nforged   line": "ttl\x9b31m", "template": "\u2028py"},
    "error": "boom\r\n── capsule.destroy  success",
}
RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def test_describe_escapes_what_the_body_says() -> None:
    from wrenn_webhooks.cli import describe_event
    from wrenn_webhooks.testing import make_event

    event = make_event("capsule.pause\x1b[1m", outcome="error\x1b[0m", **HOSTILE)
    text = describe_event(event, "d-1")
    assert not RAW_CONTROLS.search(text)
    lines = text.split("\n")
    assert len(lines) == 6  # heading, team, actor, resource, metadata, error: none forged
    assert lines[0].startswith("── capsule.pause\\x1b[1m  error\\x1b[0m  ")
    assert "sb-1\\x1b]0;pwned\\x07\\x1b[2J" in lines[3]
    assert "reason\\x0aforged   line=ttl\\x9b31m" in lines[4]
    assert "template=\\u2028py" in lines[4]
    assert "Eve\\u202eexe.txt" in lines[2]
    assert lines[5] == "   error     boom\\x0d\\x0a── capsule.destroy  success"


def test_inbox_list_and_show_escape_what_the_body_says(tmp_path: Path) -> None:
    from tests.conftest import event_body
    from tests.inbox import put
    from wrenn_webhooks.inbox import SQLiteInbox

    path = tmp_path / "inbox.db"
    box = SQLiteInbox(path)
    body = event_body("widget\x1b[31m.made\u2029", None, **HOSTILE)
    put(box, body)
    (item,) = box.claim("w1", now=2_000_000_000.0)
    box.fail(item.id, {"app.notify": "KeyError: 'reason\\nforged'\x1b[0m\nsecond"}, now=2e9)
    box.close()
    listed = run("inbox", "--db", str(path), "list").output
    shown = run("inbox", "--db", str(path), "show", str(item.id)).output
    for output in (listed, shown):
        assert not RAW_CONTROLS.search(output), output
        assert "sb-1\\x1b]0;pwned\\x07\\x1b[2J" in output
        assert "widget\\x1b[31m.made\\u2029" in output
        assert "app.notify: KeyError: 'reason\\nforged'\\x1b[0m\\x0asecond" in output
    assert len(listed.strip().split("\n")) == 3  # the header, the event, its one error
    assert '"name": "Eve\\u202eexe.txt"' in shown  # in the body, still readable JSON
    assert '"team_id": "team-\\u0007bell"' in shown  # JSON's own escape
