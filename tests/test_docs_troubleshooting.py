"""docs/troubleshooting.md has a section for every failure status, quoting the real texts.

The statuses come from the code: the status table of ``WebhookReceiver.handle``'s
docstring, the ``status_code`` of every error class, and what Flask's routing answers
before the blueprint's view runs. The quoted texts come from real answers: each
request below goes through the Flask blueprint (and so through ``handle()``), and the
``error`` of its answer must be quoted in the page's section for it. A quote that ends
in ``…`` stands for any text that starts with what precedes it.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.datastructures import Headers
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response as WerkzeugResponse

from tests.conftest import Clock, signed
from tests.vectors import SAMPLE_BODY, SECRET
from wrenn_webhooks import CapsulePause, MemoryIdempotencyStore, StoreError, WebhookReceiver
from wrenn_webhooks.errors import WrennWebhookError
from wrenn_webhooks.flask import blueprint
from wrenn_webhooks.testing import signed_request

PAGE = (Path(__file__).resolve().parent.parent / "docs" / "troubleshooting.md").read_text()
URL = "/webhooks/wrenn"
OTHER_SECRET = "0" * 64


@dataclass
class Section:
    level: int
    text: str
    parent: str | None
    """The anchor of the ``##`` section a ``###`` one belongs to."""


def sections(page: str) -> dict[str, Section]:
    """Each heading with an ``{#anchor}``: its text up to the next heading of its level."""
    headings = list(re.finditer(r"^(#{2,6}) (.*)$", page, re.M))
    found: dict[str, Section] = {}
    parent = None
    for index, heading in enumerate(headings):
        level = len(heading.group(1))
        anchor = re.search(r"\{#([\w-]+)\}\s*$", heading.group(2))
        if level == 2:
            parent = anchor.group(1) if anchor else None
        if anchor is None:
            continue
        end = next(
            (h.start() for h in headings[index + 1 :] if len(h.group(1)) <= level), len(page)
        )
        found[anchor.group(1)] = Section(level, page[heading.start() : end], parent)
    return found


SECTIONS = sections(PAGE)


def quoted(message: str, anchor: str) -> bool:
    """Whether the section ``anchor`` quotes ``message`` in a code span."""
    for quote in re.findall(r"`([^`\n]+)`", SECTIONS[anchor].text):
        if quote == message or (quote.endswith("…") and message.startswith(quote[:-1])):
            return True
    return False


# --- every status has its section ------------------------------------------------------


def failure_statuses() -> set[int]:
    """What ``handle()``, the error classes and Flask's routing answer, 2xx left out."""
    table = [
        line for line in (inspect.getdoc(WebhookReceiver.handle) or "").splitlines() if "|" in line
    ]
    documented = {int(code) for line in table for code in re.findall(r"\|\s*(\d{3})\b", line)}
    assert {200, 401, 500} <= documented, "handle()'s docstring has lost its status table"

    def classes(root: type[WrennWebhookError]) -> Iterator[type[WrennWebhookError]]:
        yield root
        for sub in root.__subclasses__():
            yield from classes(sub)

    errors = {cls.status_code for cls in classes(WrennWebhookError)}
    routing = {NotFound.code, MethodNotAllowed.code, RequestRedirect.code}
    return {code for code in documented | errors | routing if code is not None and code >= 300}


def test_every_failure_status_has_a_section_with_a_stable_anchor() -> None:
    statuses = failure_statuses()
    assert {400, 401, 404, 405, 308, 409, 413, 500, 503} <= statuses
    for status in statuses:
        assert str(status) in SECTIONS, (
            f"docs/troubleshooting.md: add '## {status} ... {{#{status}}}'"
        )
        section = SECTIONS[str(status)]
        assert section.level == 2
        assert section.text.startswith(f"## {status} "), section.text.splitlines()[0]


def test_the_summary_table_links_every_status_section() -> None:
    for status in failure_statuses():
        assert f"](#{status})" in PAGE.split("\n## ", 1)[0], status


# --- the quoted texts are the real ones -------------------------------------------------


class Client:
    """A Flask app with the blueprint at ``URL``; ``post()`` returns status and answer."""

    def __init__(self, receiver: WebhookReceiver) -> None:
        self.app = Flask(__name__)
        self.app.register_blueprint(blueprint(receiver), url_prefix=URL)

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        environ = EnvironBuilder(path=URL, method="POST", headers=Headers(headers), data=body)
        return self.send(environ.get_environ())

    def send(self, environ: dict[str, Any]) -> tuple[int, Any]:
        answer = WerkzeugResponse.from_app(self.app.wsgi_app, environ)
        data = answer.get_data()
        return answer.status_code, json.loads(data) if answer.is_json else data.decode()


class BrokenStream:
    """A server's input stream that refuses the body, as gunicorn's does on a bad chunk."""

    def read(self, size: int = -1) -> bytes:
        raise RuntimeError("Invalid chunk size")

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


Case = Callable[[Clock], tuple[int, Any]]


def without(name: str) -> Case:
    def case(clock: Clock) -> tuple[int, Any]:
        body, headers = signed(SAMPLE_BODY, clock)
        del headers[name]
        return Client(WebhookReceiver(SECRET, clock=clock)).post(body, headers)

    return case


def header(name: str, value: str) -> Case:
    def case(clock: Clock) -> tuple[int, Any]:
        body, headers = signed(SAMPLE_BODY, clock)
        return Client(WebhookReceiver(SECRET, clock=clock)).post(body, {**headers, name: value})

    return case


def signed_with(*secrets: str, skew: float = 0) -> Case:
    """Sign with ``OTHER_SECRET`` (or, with a ``skew``, the right one ``skew`` s earlier)."""

    def case(clock: Clock) -> tuple[int, Any]:
        moment = clock.datetime - timedelta(seconds=skew)
        body, headers = signed_request(
            SAMPLE_BODY, SECRET if skew else OTHER_SECRET, timestamp=moment
        )
        return Client(WebhookReceiver(list(secrets), clock=clock)).post(body, headers)

    return case


def reserialised(clock: Clock) -> tuple[int, Any]:
    """A body parsed and dumped again before the receiver sees it, as ``request.json`` does."""
    body, headers = signed(SAMPLE_BODY, clock)
    again = json.dumps(json.loads(body)).encode()
    return Client(WebhookReceiver(SECRET, clock=clock)).post(again, headers)


def body(data: bytes) -> Case:
    def case(clock: Clock) -> tuple[int, Any]:
        return Client(WebhookReceiver(SECRET, clock=clock)).post(*signed(data, clock))

    return case


def framing(content_length: str | None, data: bytes = b"{}", stream: Any = None) -> Case:
    def case(clock: Clock) -> tuple[int, Any]:
        environ = EnvironBuilder(path=URL, method="POST", data=data).get_environ()
        if content_length is not None:
            environ["CONTENT_LENGTH"] = content_length
        if stream is not None:
            environ["wsgi.input"] = stream
        return Client(WebhookReceiver(SECRET, clock=clock)).send(environ)

    return case


def too_large(clock: Clock) -> tuple[int, Any]:
    receiver = WebhookReceiver(SECRET, clock=clock)  # the default max_body_bytes
    return Client(receiver).post(*signed(b" " * (receiver.max_body_bytes + 1), clock))


def in_flight(clock: Clock) -> tuple[int, Any]:
    store = MemoryIdempotencyStore()
    receiver = WebhookReceiver(SECRET, clock=clock, idempotency=store)
    receiver.on(CapsulePause)(lambda event: None)
    body, headers = signed(SAMPLE_BODY, clock)
    store.claim(hashlib.sha256(body).hexdigest(), now=clock.now, lease=30)
    return Client(receiver).post(body, headers)


def handler_failed(clock: Clock) -> tuple[int, Any]:
    receiver = WebhookReceiver(SECRET, clock=clock)

    def close_billing(event: CapsulePause) -> None:
        raise RuntimeError("billing is down")

    receiver.on(CapsulePause)(lambda event: None)
    receiver.on(CapsulePause)(close_billing)
    return Client(receiver).post(*signed(SAMPLE_BODY, clock))


def store_down(clock: Clock) -> tuple[int, Any]:
    class Down(MemoryIdempotencyStore):
        def claim(self, *args: Any, **kwargs: Any) -> Any:
            raise StoreError("idempotency store /var/lib/x.db unavailable: database is locked")

    receiver = WebhookReceiver(SECRET, clock=clock, idempotency=Down())
    receiver.on(CapsulePause)(lambda event: None)
    return Client(receiver).post(*signed(SAMPLE_BODY, clock))


NO_RESOURCE_ID = SAMPLE_BODY.replace(b'"id":"sb-2b7c4d1e0f9a8b7c6d5e4f3a2",', b"")

CASES: dict[str, tuple[str, Case]] = {
    "no signature": ("401-missing-header", without("X-Wrenn-Signature")),
    "no timestamp": ("401-missing-header", without("X-Wrenn-Timestamp")),
    "md5 signature": ("401-malformed-header", header("X-Wrenn-Signature", "md5=1")),
    "timestamp in words": ("401-malformed-header", header("X-Wrenn-Timestamp", "yesterday")),
    "30 February": ("401-malformed-header", header("X-Wrenn-Timestamp", "2026-02-30T10:00:00Z")),
    "long delivery id": ("401-malformed-header", header("X-Wrenn-Delivery", "d" * 201)),
    "wrong secret": ("401-wrong-secret", signed_with(SECRET)),
    "wrong secret, in rotation": ("401-wrong-secret", signed_with(SECRET, SECRET[::-1])),
    "body parsed and dumped again": ("401-wrong-secret", reserialised),
    "412 s in the past": ("401-timestamp", signed_with(SECRET, skew=412)),
    "412 s in the future": ("401-timestamp", signed_with(SECRET, skew=-412)),
    "not JSON": ("400-invalid-event", body(b"not json")),
    "not an object": ("400-invalid-event", body(b"[1]")),
    "no resource id": ("400-invalid-event", body(NO_RESOURCE_ID)),
    "Content-Length in letters": ("400-framing", framing("abc")),
    "body shorter than its length": ("400-framing", framing("10", b"{}")),
    "server refuses the body": ("400-framing", framing(None, stream=BrokenStream())),
    "in flight": ("409", in_flight),
    "too large": ("413", too_large),
    "a handler failed": ("500", handler_failed),
    "store down": ("503", store_down),
}


@pytest.mark.parametrize("name", CASES)
def test_the_section_quotes_the_real_answer(name: str, clock: Clock) -> None:
    anchor, case = CASES[name]
    status, answer = case(clock)
    section = SECTIONS[anchor]
    assert str(status) in (anchor, section.parent), f"{name}: answered {status} ({answer})"
    assert answer["ok"] is False
    assert quoted(answer["error"], anchor), (
        f"docs/troubleshooting.md, section #{anchor}: quote `{answer['error']}`"
    )


@pytest.mark.parametrize(("method", "path", "status"), [("GET", URL, 405), ("POST", "/hooks", 404)])
def test_routing_answers_are_html_from_flask(method: str, path: str, status: int) -> None:
    """What the page says of a 404 and a 405: an HTML page, from Flask, not the receiver."""
    client = Client(WebhookReceiver(SECRET))
    got, answer = client.send(EnvironBuilder(path=path, method=method).get_environ())
    assert got == status and isinstance(answer, str) and "<title>" in answer
    assert "HTML" in SECTIONS[str(status)].text


def test_a_csrf_refusal_is_an_html_400_with_the_text_the_page_quotes(clock: Clock) -> None:
    csrf = pytest.importorskip("flask_wtf.csrf")
    client = Client(WebhookReceiver(SECRET, clock=clock))
    client.app.config["SECRET_KEY"] = "not-a-real-key"
    csrf.CSRFProtect(client.app)
    status, answer = client.post(*signed(SAMPLE_BODY, clock))
    assert status == 400 and SECTIONS["csrf"].parent == "400"
    [text] = re.findall(r"<p>(.*?)</p>", answer)
    assert quoted(text, "csrf")


def test_every_quoted_error_is_a_real_answer() -> None:
    """No quote outlives the code: each listed error text is the answer of a case above."""
    answers = [case(Clock())[1]["error"] for _, case in CASES.values()]
    listed = re.findall(r"^- `([^`\n]+)`", PAGE, re.M)
    assert len(listed) >= len(CASES) - 3  # the cases of one text share a quote
    for quote in listed:
        prefix = quote.removesuffix("…")
        assert any(
            answer == quote or (prefix != quote and answer.startswith(prefix)) for answer in answers
        ), f"docs/troubleshooting.md quotes `{quote}`, which no answer says"


def test_each_errors_anchor_is_a_section_and_the_log_line_names_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import wrenn_webhooks.errors as errors_module
    from wrenn_webhooks import WebhookReceiver
    from wrenn_webhooks.errors import WrennWebhookError

    page = (Path(__file__).parent.parent / "docs" / "troubleshooting.md").read_text()
    classes = [
        cls
        for name in errors_module.__all__
        if isinstance(cls := getattr(errors_module, name), type)
        and issubclass(cls, WrennWebhookError)
    ]
    for cls in classes:
        assert "{#" + cls.troubleshooting + "}" in page, cls.__name__
    caplog.set_level(logging.WARNING, logger="wrenn_webhooks")
    receiver = WebhookReceiver("s" * 40)
    receiver.handle(b"{}", {"X-Wrenn-Timestamp": "2026-01-01T00:00:00Z"})
    [line] = [r.getMessage() for r in caplog.records if r.name == "wrenn_webhooks"]
    assert line.endswith("see=troubleshooting#401-missing-header")
