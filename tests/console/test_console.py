"""The inbox console through Flask's test client, on the SQLite and Redis inboxes alike."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import subprocess
import sys
import time
import zipfile
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import itsdangerous.timed
import pytest
from flask import Flask

import wrenn_webhooks.flask
from tests.console import PREFIX, READS, Recorded, fill, make_app, token
from tests.inbox import body_for, put
from wrenn_webhooks._console import TOKEN_MAX_AGE
from wrenn_webhooks.errors import ConfigurationError, StoreError
from wrenn_webhooks.flask import console
from wrenn_webhooks.inbox import SQLiteInbox
from wrenn_webhooks.inbox.base import INBOX_ERROR

ROOT = Path(__file__).resolve().parent.parent.parent
PAGES = ["/", "/list/pending", "/list/failed", "/list/dead", "/event/1", "/event/3"]
ACTIONS = ["/event/3/retry", "/retry-dead", "/purge"]


def counts(inbox: Any) -> dict[str, Any]:
    stats = dict(inbox.stats())
    stats.pop("oldest_pending_age")
    return stats


def page(client: Any, path: str, status: int = 200) -> str:
    response = client.get(PREFIX + path)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return str(response.get_data(as_text=True))


def shown_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="event-(\d+)">', html)]


# --- mounting ------------------------------------------------------------------------


class TestMounting:
    def test_the_flask_module_exports_it(self) -> None:
        assert "console" in wrenn_webhooks.flask.__all__
        assert wrenn_webhooks.flask.console is console

    @pytest.mark.parametrize("authorize", [None, "yes", True])
    def test_there_is_no_anonymous_console(self, tmp_path: Path, authorize: Any) -> None:
        with closing(SQLiteInbox(tmp_path / "inbox.db")) as inbox:
            with pytest.raises(ConfigurationError, match="no anonymous console"):
                console(inbox, authorize=authorize)
            with pytest.raises(ConfigurationError, match="no anonymous console"):
                console(inbox)

    def test_it_needs_an_inbox_it_can_operate(self) -> None:
        with pytest.raises(ConfigurationError, match="SQLiteInbox or RedisInbox"):
            console(object(), authorize=lambda request: True)  # type: ignore[arg-type]

    def test_page_size_must_be_positive(self, tmp_path: Path) -> None:
        inbox = SQLiteInbox(tmp_path / "i.db")
        with closing(inbox), pytest.raises(ConfigurationError, match="page_size"):
            console(inbox, authorize=lambda r: True, page_size=0)

    def test_without_a_secret_key_registration_fails(self, tmp_path: Path) -> None:
        with closing(SQLiteInbox(tmp_path / "inbox.db")) as inbox:
            bp = console(inbox, authorize=lambda request: True)
            app = Flask(__name__)
            with pytest.raises(ConfigurationError, match="SECRET_KEY"):
                app.register_blueprint(bp, url_prefix=PREFIX)

    def test_an_explicit_secret_key_needs_no_app_key(self, tmp_path: Path) -> None:
        inbox = SQLiteInbox(tmp_path / "inbox.db")
        fill(inbox)
        app = Flask(__name__)
        bp = console(inbox, authorize=lambda request: True, secret_key="explicit", url_prefix="/c")
        app.register_blueprint(bp)
        client = app.test_client()
        assert client.get("/c/").status_code == 200
        data = {"token": token(client, "/c/event/3", "/c/event/3/retry")}
        assert client.post("/c/event/3/retry", data=data).status_code == 303
        assert inbox.get(3).status == "pending"  # type: ignore[union-attr]
        inbox.close()


# --- access ----------------------------------------------------------------------------


class TestAccess:
    @pytest.mark.parametrize("path", PAGES + ACTIONS)
    def test_a_refused_request_gets_403_and_nothing_is_read_or_done(
        self, inbox: Any, path: str
    ) -> None:
        fill(inbox)
        recorded = Recorded(inbox)
        client = make_app(recorded).test_client()
        outsider = {"REMOTE_ADDR": "203.0.113.9"}
        method = client.post if path in ACTIONS else client.get
        response = method(PREFIX + path, environ_base=outsider)
        assert response.status_code == 403
        html = response.get_data(as_text=True)
        assert "sb-" not in html and "capsule" not in html and "token" not in html
        assert recorded.calls == []

    def test_authorize_is_given_the_request(self, inbox: Any) -> None:
        seen: list[tuple[str, str]] = []

        def operators(request: Any) -> bool:
            seen.append((request.method, request.path))
            return bool(request.headers.get("X-Operator") == "alice")

        client = make_app(inbox, authorize=operators).test_client()
        assert client.get(PREFIX + "/").status_code == 403
        assert client.get(PREFIX + "/", headers={"X-Operator": "alice"}).status_code == 200
        assert seen == [("GET", PREFIX + "/")] * 2


# --- pages -------------------------------------------------------------------------------


class TestPages:
    def test_overview_counts_and_chart(self, inbox: Any) -> None:
        fill(inbox)
        response = make_app(inbox).test_client().get(PREFIX + "/")
        html = response.get_data(as_text=True)
        for name, value in [("pending", 2), ("failed", 1), ("dead", 1), ("done", 1)]:
            assert f'<b id="count-{name}">{value}</b>' in html
        assert re.search(r'<b id="oldest-pending">[45] min</b>', html)  # put 299 s ago
        chart = html.split('<svg id="activity"', 1)[1].split("</svg>", 1)[0]
        assert chart.count("<rect") == 120  # received and done, 60 minutes each
        received = [int(n) for n in re.findall(r"(\d+) received</title>", chart)]
        done = [int(n) for n in re.findall(r"(\d+) done</title>", chart)]
        assert (len(received), sum(received), len(done), sum(done)) == (60, 4, 60, 1)
        assert 'height="100.0"' in chart  # the busiest minute fills the chart
        assert "received 4" in html and "done 1" in html  # totals of the hour
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert response.headers["Cache-Control"] == "no-store"

    @pytest.mark.parametrize("path", PAGES)
    def test_pages_load_nothing_from_anywhere_and_run_no_script(
        self, inbox: Any, path: str
    ) -> None:
        fill(inbox)
        html = page(make_app(inbox).test_client(), path)
        assert "<script" not in html and "<link" not in html and "<img" not in html
        assert " on" not in re.sub(r">[^<]*<", "><", html)  # no onclick= and the like
        links = re.findall(r'(?:href|src|action)="([^"]*)"', html)
        assert links and all(link.startswith(PREFIX) for link in links), links

    @pytest.mark.parametrize("state", ["pending", "failed", "dead"])
    def test_each_list_shows_its_events(self, inbox: Any, state: str) -> None:
        ids = fill(inbox)
        html = page(make_app(inbox).test_client(), f"/list/{state}")
        expected = {
            "pending": [ids["failed"], ids["pending"]],
            "failed": [ids["failed"]],
            "dead": [ids["dead"]],
        }
        assert shown_ids(html) == expected[state]
        if state == "dead":
            assert "ValueError: no such account" in html

    def test_lists_filter_by_event_type_and_resource(self, inbox: Any) -> None:
        fill(inbox)
        client = make_app(inbox).test_client()
        assert shown_ids(page(client, "/list/pending?resource=sb-3")) == [4]
        assert shown_ids(page(client, "/list/pending?type=capsule.pause&resource=sb-1")) == [2]
        html = page(client, "/list/pending?type=capsule.destroy")
        assert shown_ids(html) == []
        assert "No pending events match these filters." in html
        assert 'value="capsule.destroy"' in html  # the form shows the filter in force

    def test_lists_page_through_events(self, inbox: Any) -> None:
        for n in range(5):
            put(inbox, body_for(f"sb-{n}", kind="capsule.destroy" if n == 3 else "capsule.pause"))
        client = make_app(inbox, page_size=2).test_client()
        first = page(client, "/list/pending")
        assert shown_ids(first) == [1, 2]
        assert 'rel="next" href="/console/list/pending?page=2' in first
        assert 'rel="prev"' not in first
        assert shown_ids(page(client, "/list/pending?page=2")) == [3, 4]
        last = page(client, "/list/pending?page=3")
        assert shown_ids(last) == [5]
        assert 'rel="next"' not in last and 'rel="prev"' in last
        # Filters are kept from page to page.
        filtered = page(client, "/list/pending?type=capsule.pause")
        assert shown_ids(filtered) == [1, 2]
        assert "page=2&amp;type=capsule.pause" in filtered
        assert shown_ids(page(client, "/list/pending?type=capsule.pause&page=2")) == [3, 5]
        assert shown_ids(page(client, "/list/pending?page=x")) == [1, 2]

    def test_an_event_in_detail(self, inbox: Any) -> None:
        ids = fill(inbox)
        html = page(make_app(inbox).test_client(), f"/event/{ids['failed']}")
        assert '<span class="state state-pending" id="state">pending</span>' in html
        assert '<span class="state state-failed">failed</span>' in html
        assert '<td id="attempts">1</td>' in html
        assert '<td class="mono" id="resource-id">sb-1</td>' in html
        handlers = html.split('<table id="handlers">', 1)[1].split("</table>", 1)[0]
        assert re.search(r"app\.audit</td><td><span class=\"state state-done\">completed", handlers)
        assert re.search(r"app\.notify</td><td><span class=\"error\">ConnectionError", handlers)
        assert re.search(r"<th>Received at</th><td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", html)
        assert re.search(r"<th>Next attempt</th><td>\d{4}-", html)
        payload = html.split('<pre id="payload">', 1)[1].split("</pre>", 1)[0]
        assert "\n  &#34;resource&#34;: {\n    &#34;id&#34;: &#34;sb-1&#34;," in payload
        assert 'id="retry"' in html

    def test_a_done_event_offers_no_retry_and_a_missing_one_is_404(self, inbox: Any) -> None:
        ids = fill(inbox)
        client = make_app(inbox).test_client()
        html = page(client, f"/event/{ids['done']}")
        assert 'id="retry"' not in html and "capsule.destroy" in html
        page(client, "/event/99", 404)
        page(client, "/list/done", 404)
        page(client, "/list/everything", 404)

    def test_pages_only_read(self, inbox: Any, tmp_path: Path) -> None:
        fill(inbox)
        recorded = Recorded(inbox)
        client = make_app(recorded).test_client()
        before = snapshot(inbox)
        for path in [*PAGES, "/list/pending?type=capsule.pause&page=2", "/event/99"]:
            client.get(PREFIX + path)
        assert set(recorded.calls) == READS
        assert snapshot(inbox) == before

    @pytest.mark.parametrize("path", ACTIONS)
    def test_actions_are_post_only(self, inbox: Any, path: str) -> None:
        fill(inbox)
        before = counts(inbox)
        assert make_app(inbox).test_client().get(PREFIX + path).status_code == 405
        assert counts(inbox) == before

    def test_an_unavailable_inbox_is_a_503_page(self, inbox: Any) -> None:
        class Broken(Recorded):
            def stats(self, *, now: float | None = None) -> Any:
                raise StoreError("inbox redis://db <unreachable>")

        html = page(make_app(Broken(inbox)).test_client(), "/", 503)
        assert "inbox redis://db &lt;unreachable&gt;" in html


def snapshot(inbox: Any) -> Any:
    """Everything the inbox holds, byte for byte: its files, or every Redis key's dump."""
    if isinstance(inbox, SQLiteInbox):
        return {
            path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(inbox.path.parent.glob(inbox.path.name + "*"))
            if not path.name.endswith("-shm")  # the WAL index: readers mark their reads there
        }
    client = inbox.client
    read = {
        b"hash": client.hgetall,
        b"zset": lambda key: client.zrange(key, 0, -1, withscores=True),
        b"stream": lambda key: (client.xrange(key), client.xinfo_groups(key)),
        b"string": client.get,
    }
    return {key: read[client.type(key)](key) for key in sorted(client.keys("*"))}


# --- actions -------------------------------------------------------------------------


class TestActions:
    def test_retry_one_dead_event(self, inbox: Any) -> None:
        ids = fill(inbox)
        client = make_app(inbox).test_client()
        url = f"{PREFIX}/event/{ids['dead']}/retry"
        data = {"token": token(client, f"{PREFIX}/list/dead", url)}
        response = client.post(url, data=data)
        assert response.status_code == 303
        assert response.headers["Location"].startswith(f"{PREFIX}/event/{ids['dead']}?")
        assert inbox.get(ids["dead"]).status == "pending"
        html = client.get(response.headers["Location"]).get_data(as_text=True)
        assert f"Event {ids['dead']} is due now." in html
        assert 'id="state">pending</span>' in html
        assert "Retry now" in html

    def test_retry_of_an_event_done_meanwhile_changes_nothing(self, inbox: Any) -> None:
        ids = fill(inbox)
        client = make_app(inbox).test_client()
        url = f"{PREFIX}/event/{ids['failed']}/retry"
        data = {"token": token(client, f"{PREFIX}/event/{ids['failed']}", url)}
        inbox.finish(ids["failed"], now=9e9)  # a worker handled it after the page was shown
        response = client.post(url, data=data, follow_redirects=True)
        html = response.get_data(as_text=True)
        assert f"Event {ids['failed']} is done or gone: nothing to retry." in html
        assert inbox.get(ids["failed"]).status == "done"

    def test_retry_every_dead_event(self, inbox: Any) -> None:
        fill(inbox)
        put(inbox, body_for("sb-9"))
        for item in inbox.claim("w1", now=9e9, limit=5):
            inbox.fail(item.id, {"app.bill": "boom"}, now=9e9, final=True)
        assert counts(inbox)["dead"] == 4  # the failed, the new and sb-9 as well
        client = make_app(inbox).test_client()
        url = f"{PREFIX}/retry-dead"
        response = client.post(url, data={"token": token(client, PREFIX + "/", url)})
        assert response.status_code == 303
        assert counts(inbox)["dead"] == 0
        html = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "4 dead events are due now." in html

    @pytest.mark.parametrize(
        ("older_than", "unit", "purged"),
        [("1", "m", 1), ("119", "s", 1), ("3", "m", 0), ("1", "h", 0), ("0.5", "h", 0)],
    )
    def test_purge_done_events(self, inbox: Any, older_than: str, unit: str, purged: int) -> None:
        fill(inbox)  # the done event finished two minutes ago
        client = make_app(inbox).test_client()
        url = f"{PREFIX}/purge"
        data = {"token": token(client, PREFIX + "/", url), "older_than": older_than, "unit": unit}
        response = client.post(url, data=data, follow_redirects=True)
        assert f"Purged {purged} done events." in response.get_data(as_text=True)
        assert counts(inbox)["done"] == 1 - purged
        assert counts(inbox)["dead"] == 1  # dead letters stay

    @pytest.mark.parametrize(
        "form",
        [
            {"older_than": "soon", "unit": "m"},
            {"older_than": "1", "unit": "y"},
            {},
            {"older_than": "-1", "unit": "s"},
            {"older_than": "inf", "unit": "s"},
        ],
    )
    def test_purge_refuses_what_is_not_a_duration(self, inbox: Any, form: dict[str, str]) -> None:
        fill(inbox)
        client = make_app(inbox).test_client()
        url = f"{PREFIX}/purge"
        response = client.post(url, data={"token": token(client, PREFIX + "/", url), **form})
        assert response.status_code == 400
        assert counts(inbox)["done"] == 1


# --- tokens ------------------------------------------------------------------------------


class TestTokens:
    """Every refused token answers 400 and changes nothing."""

    @pytest.fixture
    def dead(self, inbox: Any) -> int:
        return fill(inbox)["dead"]

    def refused(self, inbox: Any, client: Any, url: str, data: dict[str, str]) -> None:
        before = counts(inbox)
        response = client.post(url, data={"older_than": "0", "unit": "s", **data})
        assert response.status_code == 400
        assert "token" in response.get_data(as_text=True)
        assert counts(inbox) == before

    def test_a_missing_token(self, inbox: Any, dead: int) -> None:
        client = make_app(inbox).test_client()
        for url in [f"{PREFIX}/event/{dead}/retry", f"{PREFIX}/retry-dead", f"{PREFIX}/purge"]:
            self.refused(inbox, client, url, {})
            self.refused(inbox, client, url, {"token": ""})

    def test_an_altered_token(self, inbox: Any, dead: int) -> None:
        client = make_app(inbox).test_client()
        url = f"{PREFIX}/event/{dead}/retry"
        good = token(client, f"{PREFIX}/event/{dead}", url)
        payload, stamp, signature = good.split(".")
        other = token(client, f"{PREFIX}/", f"{PREFIX}/retry-dead").split(".")
        flipped = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
        for bad in [
            f"{payload}.{stamp}.{flipped}",  # the signature
            f"{other[0]}.{stamp}.{signature}",  # the payload: another action's
            f"{payload}.{other[1]}x.{signature}",  # the time it was signed
            good + "x",
        ]:
            self.refused(inbox, client, url, {"token": bad})

    def test_an_expired_token(self, inbox: Any, dead: int, monkeypatch: pytest.MonkeyPatch) -> None:
        client = make_app(inbox).test_client()
        url = f"{PREFIX}/event/{dead}/retry"
        data = {"token": token(client, f"{PREFIX}/event/{dead}", url)}
        issued = time.time()

        def later(seconds: float) -> None:
            clock = SimpleNamespace(time=lambda: issued + seconds)
            monkeypatch.setattr(itsdangerous.timed, "time", clock)

        later(TOKEN_MAX_AGE + 2)
        self.refused(inbox, client, url, data)
        later(TOKEN_MAX_AGE - 5)  # still valid just before
        assert client.post(url, data=data).status_code == 303
        assert inbox.get(dead).status == "pending"

    def test_a_token_for_another_event(self, inbox: Any, dead: int) -> None:
        client = make_app(inbox).test_client()
        other = token(client, f"{PREFIX}/event/2", f"{PREFIX}/event/2/retry")
        self.refused(inbox, client, f"{PREFIX}/event/{dead}/retry", {"token": other})

    def test_a_token_for_another_action(self, inbox: Any, dead: int) -> None:
        client = make_app(inbox).test_client()
        retry = token(client, f"{PREFIX}/event/{dead}", f"{PREFIX}/event/{dead}/retry")
        retry_dead = token(client, f"{PREFIX}/", f"{PREFIX}/retry-dead")
        purge = token(client, f"{PREFIX}/", f"{PREFIX}/purge")
        self.refused(inbox, client, f"{PREFIX}/retry-dead", {"token": retry})
        self.refused(inbox, client, f"{PREFIX}/purge", {"token": retry_dead})
        self.refused(inbox, client, f"{PREFIX}/event/{dead}/retry", {"token": purge})

    def test_a_token_of_another_console_or_key(self, inbox: Any, dead: int) -> None:
        url = f"{PREFIX}/event/{dead}/retry"
        other_name = make_app(inbox, name="other_console").test_client()
        other_key = make_app(inbox, secret_key="another key").test_client()
        client = make_app(inbox).test_client()
        for other in (other_name, other_key):
            stolen = token(other, f"{PREFIX}/event/{dead}", url)
            self.refused(inbox, client, url, {"token": stolen})


# --- what the events hold ------------------------------------------------------------------

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def test_every_value_of_an_event_is_escaped(inbox: Any) -> None:
    put(inbox, body_for(HOSTILE, metadata={"note": HOSTILE}))
    (item,) = inbox.claim("w1", now=9e9)
    inbox.fail(item.id, {f"app.{HOSTILE}": f"Error: {HOSTILE}"}, now=9e9, final=True)
    client = make_app(inbox).test_client()
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"
    for path in ["/event/1", "/list/dead", "/list/dead?resource=" + HOSTILE]:
        html = page(client, path)
        assert "<script" not in html and "<img" not in html
        assert escaped in html
    assert shown_ids(page(client, "/list/dead?resource=" + HOSTILE)) == [1]


def test_a_damaged_sqlite_row_is_shown_as_damaged_and_left_alone(tmp_path: Path) -> None:
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    fill(inbox)
    with closing(sqlite3.connect(inbox.path)) as other, other:
        other.execute("UPDATE inbox SET completed = 'not json' WHERE id = 4")
    before = snapshot(inbox)
    client = make_app(inbox).test_client()
    html = page(client, "/event/4")
    assert 'id="damaged">damaged</span>' in html
    assert "completed is not JSON" in html and INBOX_ERROR in html
    assert "damaged</span>" in page(client, "/list/pending")
    assert snapshot(inbox) == before  # not dead-lettered: only a worker's claim does that
    assert inbox.get(4).status == "pending"  # type: ignore[union-attr]
    inbox.close()


def test_a_damaged_redis_event_is_a_503_page(redis_url: str) -> None:
    from wrenn_webhooks.redis import RedisInbox

    inbox = RedisInbox(redis_url)
    fill(inbox)
    inbox.client.hset(f"{inbox.stream}:item:4", "attempts", "many")
    before = snapshot(inbox)
    html = page(make_app(inbox).test_client(), "/event/4", 503)
    assert "inbox item is damaged" in html
    assert snapshot(inbox) == before
    inbox.close()


def test_the_wheel_ships_the_templates(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", str(tmp_path)],
        check=True,
        cwd=ROOT,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("*.whl")
    templates = ROOT / "wrenn_webhooks" / "templates"
    expected = {
        path.relative_to(ROOT).as_posix() for path in templates.rglob("*.html") if path.is_file()
    }
    assert len(expected) >= 4
    with zipfile.ZipFile(wheel) as archive:
        assert expected <= set(archive.namelist())
