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

from tests.conftest import T0
from tests.servers import BIN, PYTHON, free_port, serve
from tests.vectors import SAMPLE_BODY, SAMPLE_SIGNATURE, SAMPLE_TIMESTAMP, SECRET
from wrenn_webhooks import Event, WebhookReceiver, parse_event
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
    assert "status=401" in server.output
    assert server.output.rstrip().endswith("stopped")
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


# --- inbox: --db and --redis before or after the subcommand -------------------

NO_INBOX_ENV = {"WRENN_INBOX_DB": "", "WRENN_INBOX_REDIS": ""}


@pytest.fixture
def inbox_db(tmp_path: Path) -> Path:
    from wrenn_webhooks.inbox import SQLiteInbox

    path = tmp_path / "inbox.db"
    SQLiteInbox(path).close()
    return path


def inbox(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, ["inbox", *args], env={**NO_INBOX_ENV, **(env or {})})


class TestInboxWhere:
    @pytest.mark.parametrize("where", ["before", "after", "both"])
    def test_db_before_or_after_the_subcommand(self, inbox_db: Path, where: str) -> None:
        before = ["--db", str(inbox_db)] if where in ("before", "both") else []
        after = ["--db", str(inbox_db)] if where in ("after", "both") else []
        result = inbox(*before, "stats", *after)
        assert result.exit_code == 0, result.output
        assert "pending" in result.output

    def test_every_subcommand_takes_it_after(self, inbox_db: Path) -> None:
        assert inbox("list", "--db", str(inbox_db)).output == "no events\n"
        assert "no event 3" in inbox("show", "3", "--db", str(inbox_db)).output
        assert inbox("purge", "--older-than", "1d", "--db", str(inbox_db)).exit_code == 0

    def test_different_values_in_both_places(self, inbox_db: Path, tmp_path: Path) -> None:
        other = tmp_path / "other.db"
        other.write_bytes(inbox_db.read_bytes())
        result = inbox("--db", str(inbox_db), "stats", "--db", str(other))
        assert result.exit_code == 2
        assert "--db is given before and after 'stats' with different values" in result.output

    def test_neither_given(self) -> None:
        result = inbox("stats")
        assert result.exit_code == 2
        assert "no inbox given: pass --db PATH or --redis URL" in result.output
        assert "not both" not in result.output

    @pytest.mark.parametrize("redis_after", [False, True])
    def test_both_given(self, inbox_db: Path, redis_after: bool) -> None:
        redis = ["--redis", "redis://127.0.0.1:6379/0"]
        args = (
            ["--db", str(inbox_db), "stats", *redis]
            if redis_after
            else ["--db", str(inbox_db), *redis, "stats"]
        )
        result = inbox(*args)
        assert result.exit_code == 2
        assert "both --db and --redis given: pass only one" in result.output
        assert "no inbox given" not in result.output

    def test_both_in_the_environment(self, inbox_db: Path) -> None:
        env = {"WRENN_INBOX_DB": str(inbox_db), "WRENN_INBOX_REDIS": "redis://127.0.0.1:1/0"}
        result = inbox("stats", env=env)
        assert result.exit_code == 2
        assert "both $WRENN_INBOX_DB and $WRENN_INBOX_REDIS are set" in result.output

    def test_the_command_line_wins_over_the_environment(
        self, inbox_db: Path, tmp_path: Path
    ) -> None:
        elsewhere = tmp_path / "elsewhere.db"
        elsewhere.write_bytes(inbox_db.read_bytes())
        env = {"WRENN_INBOX_DB": str(elsewhere), "WRENN_INBOX_REDIS": "redis://127.0.0.1:1/0"}
        assert inbox("stats", "--db", str(inbox_db), env=env).exit_code == 0
        assert inbox("--db", str(inbox_db), "stats", env=env).exit_code == 0
        assert inbox("stats", env={"WRENN_INBOX_DB": str(inbox_db)}).exit_code == 0

    def test_help_needs_no_inbox(self) -> None:
        result = inbox("stats", "--help")
        assert result.exit_code == 0
        assert "--db" in result.output


# --- send: --timestamp, unknown types, --body-file, --wrenn-version ----------


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A real server on a free port that records each request's headers and body."""
    from flask import Flask, request

    seen: list[tuple[dict[str, str], bytes]] = []
    app = Flask(__name__)

    @app.post("/hook")
    def hook() -> Any:
        seen.append((dict(request.headers), request.get_data()))
        return {"ok": True}

    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", seen
    finally:
        server.shutdown()
        server.server_close()


def send(url: str, *args: str) -> Any:
    return CliRunner().invoke(cli, ["send", url, "--secret", SECRET, *args])


class TestSendTimestamp:
    @pytest.mark.parametrize(
        "given",
        [
            "2026-05-24T21:10:37Z",
            "2026-05-24T23:10:37+02:00",
            str(int(T0.timestamp())),
            "1779657037.6",
        ],
    )
    def test_signs_with_the_given_time(self, recorder: Any, given: str) -> None:
        from wrenn_webhooks import verify

        url, seen = recorder
        result = send(url, "--timestamp", given)
        assert result.exit_code == 0, result.output
        headers, body = seen[0]
        assert headers["X-Wrenn-Timestamp"] == "2026-05-24T21:10:37Z"  # as Wrenn writes it
        assert verify(body, headers, SECRET, now=T0).timestamp == T0
        assert parse_event(body).timestamp == T0  # the event happened then too

    def test_a_stale_signature_is_refused_by_a_receiver(self, live: Any) -> None:
        url, seen, _ = live
        result = send(f"{url}/hook", "--timestamp", "2026-05-24T21:10:37Z")
        assert result.exit_code == 1
        assert "attempt 1: 401" in result.output
        assert seen == []

    @pytest.mark.parametrize("given", ["yesterday", "2026-05-24T21:10:37", "1e400", "nan"])
    def test_bad_values(self, given: str) -> None:
        result = send("http://127.0.0.1:9/", "--timestamp", given)
        assert result.exit_code == 2
        assert "Invalid value for '--timestamp'" in result.output
        assert "POSIX seconds or an RFC 3339 time" in result.output


class TestSendEventNames:
    def test_a_near_miss_gets_a_suggestion_and_is_sent(self, recorder: Any) -> None:
        url, seen = recorder
        result = send(url, "--event", "capsule.paus")
        assert result.exit_code == 0, result.output
        assert "did you mean 'capsule.pause'?" in result.stderr
        assert json.loads(seen[0][1])["event"] == "capsule.paus"

    def test_an_unknown_type_far_from_any_is_sent_quietly(self, recorder: Any) -> None:
        url, seen = recorder
        result = send(url, "--event", "widget.frobnicate")
        assert result.exit_code == 0
        assert result.stderr == ""
        assert json.loads(seen[0][1])["event"] == "widget.frobnicate"

    def test_an_older_name_needs_the_older_version(self) -> None:
        result = send("http://127.0.0.1:9/", "--event", "capsule.paused")
        assert result.exit_code == 2
        assert "capsule.paused is what Wrenn 0.1.5 sends for capsule.pause" in result.output
        assert "--wrenn-version 0.1.5" in result.output

    def test_a_near_miss_of_0_1_5_is_refused_with_a_suggestion(self) -> None:
        result = send("http://127.0.0.1:9/", "--wrenn-version", "0.1.5", "--event", "capsule.pausd")
        assert result.exit_code == 2
        assert "did you mean 'capsule.paused'?" in result.output


class TestSendBodyFile:
    def test_warns_about_what_it_ignores(self, recorder: Any, tmp_path: Path) -> None:
        url, seen = recorder
        path = tmp_path / "body.json"
        path.write_bytes(SAMPLE_BODY)
        result = send(url, "--body-file", str(path), "--event", "host.up", "--outcome", "error")
        assert result.exit_code == 0, result.output
        assert result.stderr == (
            "warning: --event and --outcome are ignored: --body-file sends the file's bytes as"
            " they are\n"
        )
        assert seen[0][1] == SAMPLE_BODY

    def test_no_warning_without_them(self, recorder: Any, tmp_path: Path) -> None:
        url, _ = recorder
        path = tmp_path / "body.json"
        path.write_bytes(SAMPLE_BODY)
        assert send(url, "--body-file", str(path)).stderr == ""


GO_0_1_5 = re.compile(
    rb'\{"event":"(?P<event>[a-z.]+)","timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",'
    rb'"team_id":"[^"]+","actor":\{"type":"(?:user|api_key|system)"(?:,"id":"[^"]+")?'
    rb'(?:,"name":"[^"]+")?\},"resource":\{"id":"[^"]+","type":"[a-z]+"\}\}'
)


class TestSendWrennVersion:
    @pytest.mark.parametrize(
        ("given", "sent"),
        [
            ("capsule.pause", "capsule.paused"),
            ("capsule.paused", "capsule.paused"),
            ("capsule.resume", "capsule.running"),
            ("template.snapshot.delete", "template.snapshot.deleted"),
            ("host.up", "host.up"),
        ],
    )
    def test_sends_what_0_1_5_marshals(self, recorder: Any, given: str, sent: str) -> None:
        url, seen = recorder
        result = send(url, "--wrenn-version", "0.1.5", "--event", given)
        assert result.exit_code == 0, result.output
        headers, body = seen[0]
        match = GO_0_1_5.fullmatch(body)
        assert match is not None, body
        assert match["event"] == sent.encode()
        event = parse_event(body)
        assert (event.event, event.sent_as) == (EVENT_CLASSES[event.event].event_type, sent)
        assert set(headers) >= {"X-Wrenn-Signature", "X-Wrenn-Timestamp", "X-Wrenn-Delivery"}

    def test_escapes_as_go_does(self, recorder: Any) -> None:
        url, seen = recorder
        result = send(url, "--wrenn-version", "0.1.5", "--team-id", "team-<&>")
        assert result.exit_code == 0, result.output
        assert b'"team_id":"team-\\u003c\\u0026\\u003e"' in seen[0][1]

    @pytest.mark.parametrize(
        "kind", ["capsule.state.changed", "channel.test", "volume.create", "widget.frobnicate"]
    )
    def test_types_0_1_5_never_sends_are_refused(self, kind: str) -> None:
        result = send("http://127.0.0.1:9/", "--wrenn-version", "0.1.5", "--event", kind)
        assert result.exit_code == 2
        assert f"Wrenn 0.1.5 does not send {kind!r}" in result.output
        assert "capsule.created" in result.output  # what it sends instead

    @pytest.mark.parametrize(
        "args", [["--outcome", "error"], ["--error", "boom"], ["--metadata", "reason=x"]]
    )
    def test_fields_0_1_5_never_sends_are_refused(self, args: list[str]) -> None:
        result = send("http://127.0.0.1:9/", "--wrenn-version", "0.1.5", *args)
        assert result.exit_code == 2
        assert "Wrenn 0.1.5 sends no outcome, metadata or error" in result.output


# --- verify: hints ------------------------------------------------------------


def verify_args(*extra: str, signature: str = SAMPLE_SIGNATURE) -> list[str]:
    return ["verify", "--secret", SECRET, "--timestamp", SAMPLE_TIMESTAMP,
            "--signature", signature, *extra]  # fmt: skip


class TestVerifyHints:
    @pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
    def test_an_added_trailing_newline(self, newline: bytes) -> None:
        from wrenn_webhooks import sign

        body = SAMPLE_BODY + newline
        result = CliRunner().invoke(cli, verify_args("--ignore-age"), input=body)
        assert result.exit_code == 1
        assert "invalid: signature does not match" in result.output
        assert (
            "hint: the body verifies without its trailing newline: the capture gained one"
            in result.output
        )
        assert SECRET not in result.output
        wrong = sign(body, SECRET, timestamp=SAMPLE_TIMESTAMP)["X-Wrenn-Signature"]
        assert wrong[7:] not in result.output and SAMPLE_SIGNATURE[7:] not in result.output

    def test_a_lost_trailing_newline(self) -> None:
        from wrenn_webhooks import sign

        signature = sign(SAMPLE_BODY + b"\n", SECRET, timestamp=SAMPLE_TIMESTAMP)
        args = verify_args("--ignore-age", signature=signature["X-Wrenn-Signature"])
        result = CliRunner().invoke(cli, args, input=SAMPLE_BODY)
        assert result.exit_code == 1
        assert "hint: the body verifies with a trailing newline added" in result.output

    def test_an_old_capture_is_pointed_to_ignore_age(self) -> None:
        result = CliRunner().invoke(cli, verify_args(), input=SAMPLE_BODY)
        assert result.exit_code == 1
        assert "in the past" in result.output
        assert "hint: the signature is valid; to check an old capture, add --ignore-age" in (
            result.output
        )

    def test_an_old_capture_with_a_newline_gets_both(self) -> None:
        result = CliRunner().invoke(cli, verify_args(), input=SAMPLE_BODY + b"\n")
        assert result.exit_code == 1
        assert "in the past" in result.output
        assert "--ignore-age" not in result.output.split("hint:", 1)[1]
        assert "without its trailing newline" in result.output

    @pytest.mark.parametrize("extra", [(), ("--ignore-age",)])
    def test_no_hint_for_a_wrong_secret(self, extra: tuple[str, ...]) -> None:
        args = verify_args(*extra)
        args[2] = "0" * 64
        result = CliRunner().invoke(cli, args, input=SAMPLE_BODY)
        assert result.exit_code == 1
        assert "hint:" not in result.output


# --- events: the subscribable column -----------------------------------------


def test_events_says_who_can_subscribe_in_words() -> None:
    lines = run("events").output.splitlines()
    assert lines[0].split()[-1] == "SUBSCRIBABLE"
    rows = {line.split()[0]: line for line in lines[1:] if line.strip()}
    assert rows["capsule.pause"].endswith(" yes")
    assert rows["capsule.state.changed"].endswith(" no")
    assert rows["channel.test"].endswith(
        " no, but sent whenever the channel's test button is pressed"
    )
    data = {row["event"]: row for row in json.loads(run("events", "--json").output)}
    assert data["channel.test"]["subscribable"] is False
    assert data["capsule.pause"]["subscribable"] is True


# --- serve: one line of its own per delivery ------------------------------------


def test_serve_prints_one_line_per_delivery() -> None:
    from tests.servers import post
    from wrenn_webhooks.testing import make_event, signed_request

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    args = [str(BIN / "wrenn-webhooks"), "serve", "--port", str(port)]
    with serve(args, port, {"WRENN_WEBHOOK_SECRET": SECRET}) as server:
        good = signed_request(make_event("host.down"), SECRET, delivery_id="good-1")
        forged = signed_request(make_event("host.down"), "f" * 64, delivery_id="forged-1")
        assert post(url, *good)[0] == 200
        assert post(url, *forged)[0] == 401
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(10) == 0
    lines = server.output.splitlines()
    logged = [line for line in lines if line.startswith("wrenn delivery ")]
    assert [line.split()[2] for line in logged] == ["good-1", "forged-1"]
    assert "status=200" in logged[0] and "status=401" in logged[1]
    assert "signature does not match" in logged[1]
    # Not 401 within a number: the port (45401, say) is in the "Listening on" line.
    mentions = [
        line for line in lines if "forged-1" in line or re.search(r"(?<!\d)401(?!\d)", line)
    ]
    assert mentions == [logged[1]]
    assert not [line for line in lines if '"POST ' in line or "rejected" in line]
    assert "── host.down" in server.output


def test_the_0_1_5_body_on_the_cli_page_is_what_send_builds() -> None:
    from wrenn_webhooks import CapsulePause
    from wrenn_webhooks.encoding import encode_event
    from wrenn_webhooks.testing import make_event

    page = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
    [sample] = re.findall(r"```json\n\s*(.*?)\n\s*```", page, re.S)
    shown = parse_event(sample.encode())
    assert isinstance(shown, CapsulePause) and shown.sent_as == "capsule.paused"
    built = make_event(
        "capsule.pause",
        wrenn_version="0.1.5",
        now=shown.timestamp,
        team_id=shown.team_id,
        resource=shown.resource,
    )
    assert encode_event(built) == sample.encode()


def test_verify_hint_for_a_timestamp_ahead_of_the_clock() -> None:
    from wrenn_webhooks import sign

    headers = sign(SAMPLE_BODY, SECRET, timestamp="2099-01-01T00:00:00Z")
    args = ["verify", "--secret", SECRET, "--timestamp", headers["X-Wrenn-Timestamp"],
            "--signature", headers["X-Wrenn-Signature"]]  # fmt: skip
    result = CliRunner().invoke(cli, args, input=SAMPLE_BODY)
    assert result.exit_code == 1
    assert "in the future" in result.output
    assert "hint: the signature is valid; the timestamp is ahead of this clock" in result.output
