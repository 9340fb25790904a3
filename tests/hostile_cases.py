"""Malformed and hostile requests, as raw bytes, with what each server answers.

One list, two readers: ``tests/test_hostile_requests.py`` sends every case over a
socket to the example receiver under werkzeug's server and under gunicorn with
``examples/gunicorn.conf.py`` and checks the answer, and ``docs/hooks.py``
renders the same list, expected answers included, on the security page. The
page therefore cannot say anything the test does not check.

An answer is the status code, or for a request whose body never completes
``no answer, then …``: the server rightly waits for the rest of a body it was
promised (HTTP gives it no other way to know where the body ends, and a body
it has not received whole cannot be verified). The client gives up after a
short wait and ends its side of the connection, as Wrenn's own client does
after its 10 s timeout, and what the server says then is recorded after the
comma (``closed``: it closed the connection without an answer).

Every case must be refused: none is a delivery Wrenn could have sent (its
signature is missing, malformed, stale, over other bytes or in a header the
server does not pass on, or the signed body is no event), so none may write to
the idempotency store.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from wrenn_webhooks import sign
from wrenn_webhooks.testing import encode_event, make_event

PATH = "/webhooks/wrenn"
WRONG_SECRET = "not-the-channel-secret"


NOT_SENT = "not sent: it can crash the interpreter in werkzeug's chunked reader"
"""A server's column for a case that is not sent to it, and why.

A chunk size far past the data makes werkzeug's development-server reader
report more bytes than it stored; CPython then corrupts memory in C, below the
view, where no Python code can catch it (3.10.13 and 3.12.1 were seen to
crash, and memory corruption may strike any release). Production servers
decode chunks themselves, so the gunicorn column tests the case.
"""


@dataclass(frozen=True)
class Target:
    """Where a case is sent and what it may sign with."""

    host: str
    secret: str
    now: datetime
    path: str = PATH


@dataclass(frozen=True)
class Case:
    """One hostile request: its kind, a Markdown description, how to build it, the answers.

    ``werkzeug`` is the answer under werkzeug's server (``make run``,
    ``wrenn-webhooks serve``), ``gunicorn`` under gunicorn with the shipped
    configuration. ``stall``: the request never completes on its own, so the
    client waits only briefly for an answer before ending its side.
    """

    kind: str
    input: str
    build: Callable[[Target], bytes]
    werkzeug: str
    gunicorn: str
    stall: bool = False

    @property
    def id(self) -> str:
        return f"{self.kind}: {self.input}"


def event_body(target: Target) -> bytes:
    """A valid event body, exactly as Wrenn encodes one."""
    return encode_event(make_event("capsule.pause", now=target.now))


def request(
    target: Target,
    headers: Sequence[tuple[str | bytes, str | bytes]] = (),
    body: bytes = b"",
    *,
    length: bool = True,
    line: bytes | None = None,
) -> bytes:
    """Raw request bytes: the request line, ``Host``, ``headers``, a Content-Length, ``body``.

    ``headers`` may be ``str`` (sent as latin-1) or exact ``bytes``;
    ``length=False`` leaves Content-Length to ``headers``.
    """
    lines = [line or f"POST {target.path} HTTP/1.1".encode(), b"Host: " + target.host.encode()]
    for name, value in headers:
        raw_name = name.encode("latin-1") if isinstance(name, str) else name
        raw_value = value.encode("latin-1") if isinstance(value, str) else value
        lines.append(raw_name + b": " + raw_value)
    if length:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join([*lines, b"", b""]) + body


def signature_headers(
    target: Target,
    body: bytes,
    *,
    secret: str | None = None,
    timestamp: datetime | str | None = None,
) -> list[tuple[str | bytes, str | bytes]]:
    """The three Wrenn headers for ``body``, signed with the target's secret by default."""
    signed = sign(
        body, secret or target.secret, timestamp=target.now if timestamp is None else timestamp
    )
    return list(signed.items())


def bad_signature(target: Target, body: bytes) -> list[tuple[str | bytes, str | bytes]]:
    """Well-formed Wrenn headers that no configured secret produced."""
    return signature_headers(target, body, secret=WRONG_SECRET)


def _unsigned(
    extra: Sequence[tuple[str | bytes, str | bytes]] = (), body: bytes | None = None
) -> Callable[[Target], bytes]:
    def build(target: Target) -> bytes:
        data = event_body(target) if body is None else body
        return request(target, [*bad_signature(target, data), *extra], data)

    return build


Header = tuple[str | bytes, str | bytes]
Change = Callable[[list[Header]], list[Header]]
SIGNATURE = "X-Wrenn-Signature"  # as Wrenn sends it (``sign()`` spells it so too)


def _with_headers(change: Change) -> Callable[[Target], bytes]:
    """A validly signed event whose Wrenn headers ``change`` then spoils."""

    def build(target: Target) -> bytes:
        body = event_body(target)
        return request(target, change(signature_headers(target, body)), body)

    return build


def _edit(name: str, edit: Callable[[str], str | bytes]) -> Change:
    return lambda headers: [(k, edit(str(v)) if k == name else v) for k, v in headers]


def _replace(name: str, value: str | bytes) -> Change:
    return _edit(name, lambda _: value)


def _rename(name: str, new_name: str) -> Change:
    return lambda headers: [(new_name if k == name else k, v) for k, v in headers]


def _drop(name: str) -> Change:
    return lambda headers: [(k, v) for k, v in headers if k != name]


def _signed_at(when: Callable[[Target], datetime | str]) -> Callable[[Target], bytes]:
    """A valid event, validly signed, at the timestamp ``when`` gives."""

    def build(target: Target) -> bytes:
        body = event_body(target)
        return request(target, signature_headers(target, body, timestamp=when(target)), body)

    return build


def _signed_body(body: bytes) -> Callable[[Target], bytes]:
    """``body``, validly signed: only what it is can refuse it."""

    def build(target: Target) -> bytes:
        return request(target, signature_headers(target, body), body)

    return build


def _content_length(
    value: bytes, body: bytes | None = None, extra: Sequence[tuple[str, str]] = ()
) -> Callable[[Target], bytes]:
    """A valid event with a bad signature and the Content-Length ``value``, sent as is."""

    def build(target: Target) -> bytes:
        data = event_body(target) if body is None else body
        headers = [*bad_signature(target, data), *extra, (b"Content-Length", value)]
        return request(target, headers, data, length=False)

    return build


def _raw(make: Callable[[Target, bytes], bytes]) -> Callable[[Target], bytes]:
    def build(target: Target) -> bytes:
        return make(target, event_body(target))

    return build


def _chunked(chunks: bytes, *, extra: Sequence[tuple[str, str]] = ()) -> Callable[[Target], bytes]:
    """A bad-signature request whose chunked body is ``chunks``, framing bytes included."""

    def build(target: Target) -> bytes:
        headers = [
            *bad_signature(target, event_body(target)),
            ("Transfer-Encoding", "chunked"),
            *extra,
        ]
        return request(target, headers, chunks, length=False)

    return build


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


# --- the client --------------------------------------------------------------------

ANSWER_WAIT = 5.0
"""Seconds to wait for the answer to a complete request."""
STALL_WAIT = 0.5
"""Seconds to wait on a request that never completes before ending the client's side."""
AFTER_EOF_WAIT = 3.0
"""Seconds to wait for an answer once the client has ended its side."""


def _status(sock: socket.socket, deadline: float) -> str | None:
    """The first final status the server sends, ``"closed"``, or ``None`` at the deadline."""
    data = b""
    while True:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            line = data.split(b"\r\n", 1)[0]
            parts = line.split()
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
                return f"garbage {line[:40]!r}"
            if parts[1].startswith(b"1"):  # 100 Continue: the real answer follows
                data = data[end + 4 :]
                continue
            return parts[1].decode("ascii", "replace")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return "closed" if not data else f"cut {data[:40]!r}"
        data += chunk


def exchange(port: int, data: bytes, *, stall: bool = False) -> str:
    """Send ``data`` and return the answer as the table spells it.

    The bytes are sent from a thread while this one reads, so a server that
    answers (413) before taking the whole body is still heard.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WAIT) as sock:

        def send() -> None:
            # The server may answer and close without reading everything.
            with contextlib.suppress(OSError):
                sock.sendall(data)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        first = _status(sock, time.monotonic() + (STALL_WAIT if stall else ANSWER_WAIT))
        sender.join(ANSWER_WAIT)
        if first is not None:
            return first
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        after = _status(sock, time.monotonic() + AFTER_EOF_WAIT)
        return f"no answer, then {after or 'still no answer'}"


# --- the cases ---------------------------------------------------------------------

MIB = 1 << 20
"""The receiver's default ``max_body_bytes``."""


def _smuggle(target: Target, body: bytes) -> bytes:
    # Content-Length covers "{}" only; a second request follows in the same bytes.
    hidden = request(target, bad_signature(target, body), body)
    return request(target, bad_signature(target, b"{}"), b"{}" + hidden)


def _fold(target: Target, body: bytes) -> bytes:
    (sig, value), *rest = signature_headers(target, body)
    folded = str(value)[:20] + "\r\n " + str(value)[20:]
    return request(target, [(sig, folded), *rest], body)


def _past(seconds: float) -> Callable[[Target], datetime]:
    return lambda target: target.now - timedelta(seconds=seconds)


def _future(seconds: float) -> Callable[[Target], datetime]:
    """``seconds`` after the next whole second: a timestamp keeps whole seconds only, and
    cut down from ``now`` it would come up to a second closer than meant."""
    return lambda target: target.now.replace(microsecond=0) + timedelta(seconds=seconds + 1)


def _stamp(text: str) -> Callable[[Target], str]:
    return lambda target: text


_NESTED = b"[" * 200_000 + b"]" * 200_000
_GZIP_BOMB = gzip.compress(b"\0" * (10 * MIB))

CASES: list[Case] = [
    # --- header shapes ---------------------------------------------------------------
    Case("headers", "no Wrenn headers at all", _raw(lambda t, b: request(t, [], b)), "401", "401"),
    Case("headers", "no `X-Wrenn-Signature`", _with_headers(_drop(SIGNATURE)), "401", "401"),
    Case(
        "headers", "no `X-Wrenn-Timestamp`", _with_headers(_drop("X-Wrenn-Timestamp")), "401", "401"
    ),
    Case(
        "headers",
        "signature without `sha256=`",
        _with_headers(_edit(SIGNATURE, lambda value: value.removeprefix("sha256="))),
        "401",
        "401",
    ),
    Case(
        "headers",
        "`sha1=` and 40 hex digits",
        _with_headers(_replace(SIGNATURE, "sha1=" + "ab" * 20)),
        "401",
        "401",
    ),
    Case(
        "headers",
        "63 hex digits",
        _with_headers(_edit(SIGNATURE, lambda value: value[:-1])),
        "401",
        "401",
    ),
    Case("headers", "right shape, signed with another secret", _unsigned(), "401", "401"),
    Case(
        "headers",
        "valid signature sent twice",
        _with_headers(lambda headers: [*headers, headers[0]]),
        "401",
        "401",
    ),
    Case(
        "headers",
        "valid signature under `X_Wrenn_Signature` (underscores)",
        _with_headers(_rename(SIGNATURE, "X_Wrenn_Signature")),
        "401",
        "401",
    ),
    Case("headers", "valid signature folded over two lines (obs-fold)", _raw(_fold), "401", "400"),
    Case(
        "headers",
        "NUL byte in the signature",
        _with_headers(_replace(SIGNATURE, b"sha256=\0" + b"0" * 63)),
        "401",
        "400",
    ),
    Case(
        "headers",
        "space before the colon: `X-Wrenn-Signature :`",
        _with_headers(_rename(SIGNATURE, "X-Wrenn-Signature ")),
        "401",
        "400",
    ),
    Case(
        "headers",
        "a 60 KB signature header",
        _with_headers(_replace(SIGNATURE, "sha256=" + "a" * 60_000)),
        "401",
        "431",
    ),
    Case(
        "headers",
        "150 extra headers",
        _unsigned([(f"X-Pad-{n}", "x") for n in range(150)]),
        "431",
        "431",
    ),
    Case(
        "headers",
        "`X-Wrenn-Delivery` of 201 characters",
        _with_headers(_replace("X-Wrenn-Delivery", "d" * 201)),
        "401",
        "401",
    ),
    Case(
        "headers",
        "`X-Wrenn-Delivery` with a tab inside",
        _with_headers(_replace("X-Wrenn-Delivery", "a\tb")),
        "401",
        "401",
    ),
    Case(
        "headers",
        "valid headers, body changed by one byte after signing",
        _raw(lambda t, b: request(t, signature_headers(t, b), b[:-1] + b" ")),
        "401",
        "401",
    ),
    # --- encodings -------------------------------------------------------------------
    Case(
        "encoding",
        "latin-1 byte 0xE9 in the signature",
        _with_headers(_replace(SIGNATURE, b"sha256=\xe9" + b"0" * 63)),
        "401",
        "401",
    ),
    Case(
        "encoding",
        "UTF-8 full-width digits in the timestamp",
        _with_headers(
            _replace("X-Wrenn-Timestamp", "\uff12\uff10\uff12\uff16-05-24T21:10:37Z".encode())
        ),
        "401",
        "401",
    ),
    Case(
        "encoding",
        "body in UTF-16 with a BOM",
        _unsigned(body=b"\xff\xfe" + b'{"event":"capsule.pause"}'.decode().encode("utf-16-le")),
        "401",
        "401",
    ),
    Case(
        "encoding", "signed body that is not UTF-8", _signed_body(b'{"event":"\xff"}'), "400", "400"
    ),
    Case(
        "encoding",
        "form-encoded body, `Content-Type: application/x-www-form-urlencoded`",
        _unsigned(
            [("Content-Type", "application/x-www-form-urlencoded")], b"event=capsule.pause&a=1"
        ),
        "401",
        "401",
    ),
    Case(
        "encoding",
        "multipart body, `Content-Type: multipart/form-data`",
        _unsigned(
            [("Content-Type", "multipart/form-data; boundary=x")],
            b'--x\r\nContent-Disposition: form-data; name="f"\r\n\r\nv\r\n--x--\r\n',
        ),
        "401",
        "401",
    ),
    Case(
        "encoding",
        "a gzip bomb (10 MB of zeros) with `Content-Encoding: gzip`",
        _unsigned([("Content-Encoding", "gzip")], _GZIP_BOMB),
        "401",
        "401",
    ),
    Case(
        "request line",
        "the path percent-encoded: `/webhooks/%77renn`",
        _raw(
            lambda t, b: request(t, bad_signature(t, b), b, line=b"POST /webhooks/%77renn HTTP/1.1")
        ),
        "401",
        "401",
    ),
    Case(
        "request line",
        "`GET` instead of `POST`",
        _raw(lambda t, b: request(t, [], b"", line=f"GET {t.path} HTTP/1.1".encode())),
        "405",
        "405",
    ),
    Case(
        "request line",
        "an invalid method: `P@ST`",
        _raw(lambda t, b: request(t, [], b, line=f"P@ST {t.path} HTTP/1.1".encode())),
        "405",
        "400",
    ),
    Case(
        "request line",
        "a 10,000-character path",
        _raw(lambda t, b: request(t, [], b, line=b"POST /" + b"a" * 10_000 + b" HTTP/1.1")),
        "404",
        "414",
    ),
    # --- timestamps ------------------------------------------------------------------
    Case("timestamp", "signed 301 s ago", _signed_at(_past(301)), "401", "401"),
    Case("timestamp", "signed 301 s in the future", _signed_at(_future(301)), "401", "401"),
    Case(
        "timestamp",
        "no UTC offset: `2026-05-24T21:10:37`",
        _signed_at(_stamp("2026-05-24T21:10:37")),
        "401",
        "401",
    ),
    Case("timestamp", "Unix seconds: `1779657037`", _signed_at(_stamp("1779657037")), "401", "401"),
    Case(
        "timestamp",
        "`0001-01-01T00:00:00Z`",
        _signed_at(_stamp("0001-01-01T00:00:00Z")),
        "401",
        "401",
    ),
    Case(
        "timestamp",
        "`9999-12-31T23:59:59-23:59`",
        _signed_at(_stamp("9999-12-31T23:59:59-23:59")),
        "401",
        "401",
    ),
    Case(
        "timestamp",
        "not a real date: `2026-02-30T00:00:00Z`",
        _signed_at(_stamp("2026-02-30T00:00:00Z")),
        "401",
        "401",
    ),
    Case(
        "timestamp",
        "leap second: `2026-06-30T23:59:60Z`",
        _signed_at(_stamp("2026-06-30T23:59:60Z")),
        "401",
        "401",
    ),
    Case(
        "timestamp",
        "5,000 characters",
        _signed_at(_stamp("2026-05-24T21:10:37" + "0" * 4981)),
        "401",
        "401",
    ),
    Case("timestamp", "empty", _signed_at(_stamp("")), "401", "401"),
    # --- Content-Length values -------------------------------------------------------
    Case("Content-Length", "`²` (the latin-1 byte 0xB2)", _content_length(b"\xb2"), "400", "400"),
    Case("Content-Length", "5,000 digits", _content_length(b"9" * 5000), "400", "400"),
    Case("Content-Length", "`abc`", _content_length(b"abc"), "400", "400"),
    Case("Content-Length", "`-1`", _content_length(b"-1"), "400", "400"),
    Case("Content-Length", "`+2`", _content_length(b"+2", b"{}"), "400", "400"),
    Case("Content-Length", "`0x10`", _content_length(b"0x10"), "400", "400"),
    Case("Content-Length", "20 digits", _content_length(b"1" * 20), "400", "400"),
    Case(
        "Content-Length",
        "two different values",
        _raw(lambda t, b: request(t, [*bad_signature(t, b), ("Content-Length", "2")], b)),
        "401",
        "400",
    ),
    Case(
        "Content-Length",
        "`9999999999999999999` (19 digits), no body",
        _content_length(b"9" * 19, b""),
        "413",
        "413",
    ),
    Case(
        "Content-Length",
        "1 MiB + 1 declared, body never sent",
        _content_length(str(MIB + 1).encode(), b""),
        "413",
        "413",
    ),
    # --- Content-Length lies ---------------------------------------------------------
    Case("framing", "Content-Length 0 with a body", _content_length(b"0"), "401", "401"),
    Case(
        "framing",
        "Content-Length 2, then a second request in the same bytes",
        _raw(_smuggle),
        "401",
        "401",
    ),
    Case(
        "framing",
        "Content-Length 100 more than the body sent",
        _raw(
            lambda t, b: request(
                t, [*bad_signature(t, b), ("Content-Length", str(len(b) + 100))], b, length=False
            )
        ),
        "no answer, then 400",
        "no answer, then 401",
        stall=True,
    ),
    Case(
        "framing",
        "no Content-Length, no chunking: body unframed",
        _raw(lambda t, b: request(t, bad_signature(t, b), b, length=False)),
        "401",
        "401",
    ),
    Case(
        "framing",
        "`Transfer-Encoding: chunked` and a Content-Length",
        _chunked(_chunk(b"{}") + b"0\r\n\r\n", extra=[("Content-Length", "7")]),
        "401",
        "400",
    ),
    Case(
        "framing",
        "`Transfer-Encoding: gzip`",
        _raw(lambda t, b: request(t, [*bad_signature(t, b), ("Transfer-Encoding", "gzip")], b)),
        "401",
        "400",
    ),
    Case(
        "framing",
        "`Expect: 100-continue`, 1 MiB + 1 declared",
        _content_length(str(MIB + 1).encode(), b"", [("Expect", "100-continue")]),
        "413",
        "413",
    ),
    # --- chunked bodies --------------------------------------------------------------
    Case("chunked", "chunk size `zz`", _chunked(b"zz\r\n{}\r\n0\r\n\r\n"), "400", "400"),
    Case("chunked", "chunk size `²`", _chunked(b"\xb2\r\n{}\r\n0\r\n\r\n"), "400", "400"),
    Case("chunked", "chunk size `-2`", _chunked(b"-2\r\n{}\r\n0\r\n\r\n"), "400", "400"),
    Case(
        "chunked",
        "chunk size of 40 hex digits",
        _chunked(b"f" * 40 + b"\r\n{}\r\n0\r\n\r\n"),
        NOT_SENT,
        "no answer, then 400",
        stall=True,
    ),
    Case("chunked", "chunk without its CRLF", _chunked(b"2\r\n{}XX0\r\n\r\n"), "400", "400"),
    Case(
        "chunked",
        "no last chunk",
        _chunked(_chunk(b"{}")),
        "no answer, then 400",
        "no answer, then 400",
        stall=True,
    ),
    Case(
        "chunked",
        "1 MiB + 1 in chunks of 64 KiB",
        _chunked(
            b"".join(_chunk(b"x" * (1 << 16)) for _ in range(16)) + _chunk(b"x") + b"0\r\n\r\n"
        ),
        "413",
        "413",
    ),
    # --- large and nested bodies -----------------------------------------------------
    Case("body", "1 MiB + 1 sent whole", _unsigned(body=b" " * (MIB + 1)), "413", "413"),
    Case("body", "signed, empty", _signed_body(b""), "400", "400"),
    Case("body", "signed, 200,000 nested arrays", _signed_body(_NESTED), "400", "400"),
    Case("body", "unsigned, 200,000 nested arrays", _unsigned(body=_NESTED), "401", "401"),
    Case("body", "signed, `1e999999`", _signed_body(b"1e999999"), "400", "400"),
    Case(
        "body",
        "signed, an object with the event's fields missing",
        _signed_body(b'{"event":"capsule.pause"}'),
        "400",
        "400",
    ),
]
