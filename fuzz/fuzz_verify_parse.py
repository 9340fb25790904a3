"""Coverage-guided fuzzing of ``verify``, ``parse_event`` and ``WebhookReceiver.handle``.

Run it with ``make fuzz`` (``FUZZ_SECONDS`` bounds the run), or directly::

    .venv/bin/python fuzz/fuzz_verify_parse.py -max_total_time=60 fuzz/corpus

Each input is decoded with ``atheris.FuzzedDataProvider`` into a body (raw bytes,
a realistic Wrenn body with a splice, or JSON assembled from fuzzed fields), a
signing time (near the receiver's clock, fuzzed text, or RFC 3339 built from
fuzzed parts), a signature (often the correct one), a delivery id, and a header
container (``dict``, pairs of ``str`` or ``bytes``, names in any case, repeated
names). A finding is any of:

- an exception from ``verify`` or ``parse_event`` other than the SDK's own
  ``WrennWebhookError`` subclasses, or any from ``encode_event`` of a parsed event;
- any exception from ``handle`` (it must never raise for request content);
- a status outside the contract, or 500 although no handler raised;
- a handler run for a request whose signature ``verify`` rejected;
- a correctly signed request answered anything but 200 or 400;
- a response body that is not a JSON object, or that contains a secret.

``WRENN_FUZZ_SKIP`` lets a long run go on past findings already reported: a
comma-separated list of exception class names, each optionally narrowed to the
function that raised it (``OverflowError@parse_timestamp``). Skipped inputs are
printed to stderr the 1st, 2nd, 4th, 8th... time each of them is seen.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Feed the regular expressions and string comparisons the SDK runs back to the fuzzer.
atheris.enabled_hooks.add("RegEx")
atheris.enabled_hooks.add("str")

with atheris.instrument_imports(include=["wrenn_webhooks"]):
    from wrenn_webhooks import Event, WebhookReceiver, parse_event, sign, verify
    from wrenn_webhooks.errors import WrennWebhookError
    from wrenn_webhooks.testing import encode_event, make_event

SECRETS = ("whsec-fuzz-new-3f1c9a", "d3v5ecre7-old-ääé-☃")
WRONG_SECRET = "not-the-secret"
NOW = datetime(2026, 5, 24, 21, 10, 37, tzinfo=timezone.utc).timestamp()
MAX_BODY = 4096
CONTRACT = frozenset({200, 202, 400, 401, 409, 413, 500, 503})
NAMES = ("X-Wrenn-Signature", "X-Wrenn-Timestamp", "X-Wrenn-Delivery")
SEEDS = tuple(
    encode_event(make_event(kind, outcome=outcome, now=NOW, seed=index))
    for index, (kind, outcome) in enumerate(
        [
            ("capsule.pause", "error"),
            ("capsule.create", "success"),
            ("capsule.destroy", "success"),
            ("host.down", None),
            ("channel.test", None),
            ("template.snapshot.delete", "error"),
            ("volume.create", "success"),
            ("capsule.created", None),
        ]
    )
)
EVENT_TYPES = (
    "capsule.pause",
    "capsule.create",
    "capsule.resume",
    "capsule.destroy",
    "template.snapshot.create",
    "host.up",
    "channel.test",
    "capsule.state.changed",
    "volume.delete",
    "capsule.paused",
)

calls: list[str] = []
handler_should_fail = [False]
skip = frozenset(filter(None, os.environ.get("WRENN_FUZZ_SKIP", "").split(",")))
skipped: dict[str, int] = {}

receiver = WebhookReceiver(SECRETS, max_body_bytes=MAX_BODY, clock=lambda: NOW)


class _FormatOnly(logging.Handler):
    """Format every record the SDK logs (a bad format string is a finding), print none."""

    def emit(self, record: logging.LogRecord) -> None:
        record.getMessage()


_sdk_log = logging.getLogger("wrenn_webhooks")
_sdk_log.addHandler(_FormatOnly())
_sdk_log.setLevel(logging.INFO)
_sdk_log.propagate = False


@receiver.on("*")
def record(event: Event) -> None:
    calls.append(event.event)
    if handler_should_fail[0]:
        raise RuntimeError("handler failure")


@receiver.on("capsule.*", outcome="error")
def record_error(event: Event) -> None:
    calls.append("error:" + event.event)


def _text(fdp: atheris.FuzzedDataProvider, limit: int) -> str:
    return str(fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, limit)))


def _body(fdp: atheris.FuzzedDataProvider) -> bytes:
    mode = fdp.ConsumeIntInRange(0, 3)
    if mode == 0:
        return bytes(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, MAX_BODY + 64)))
    if mode == 1:
        seed = SEEDS[fdp.ConsumeIntInRange(0, len(SEEDS) - 1)]
        at = fdp.ConsumeIntInRange(0, len(seed))
        cut = fdp.ConsumeIntInRange(0, 16)
        return seed[:at] + bytes(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 32))) + seed[at + cut :]
    if mode == 2:
        return SEEDS[fdp.ConsumeIntInRange(0, len(SEEDS) - 1)]
    data: dict[str, object] = {
        "event": (
            EVENT_TYPES[fdp.ConsumeIntInRange(0, len(EVENT_TYPES) - 1)]
            if fdp.ConsumeBool()
            else _text(fdp, 24)
        ),
        "timestamp": ("2026-05-24T21:10:37Z", _timestamp(fdp), _text(fdp, 30))[
            fdp.ConsumeIntInRange(0, 2)
        ],
        "team_id": _text(fdp, 12),
        "actor": {
            "type": ("user", "api_key", "system", _text(fdp, 8))[fdp.ConsumeIntInRange(0, 3)]
        },
        "resource": {"id": _text(fdp, 12), "type": _text(fdp, 8)},
    }
    if fdp.ConsumeBool():
        data["outcome"] = ("success", "error", None, _text(fdp, 8))[fdp.ConsumeIntInRange(0, 3)]
    if fdp.ConsumeBool():
        data["metadata"] = {
            _text(fdp, 6): _text(fdp, 6) for _ in range(fdp.ConsumeIntInRange(0, 3))
        }
    if fdp.ConsumeBool():
        data["error"] = _text(fdp, 16) if fdp.ConsumeBool() else fdp.ConsumeInt(4)
    for key in list(data)[: fdp.ConsumeIntInRange(0, 2)]:
        if fdp.ConsumeBool():
            del data[key]
    text = json.dumps(data, ensure_ascii=fdp.ConsumeBool(), separators=(",", ":"))
    return text.encode("utf-8", "surrogatepass")


def _part(fdp: atheris.FuzzedDataProvider, low: int, high: int, edges: tuple[int, ...]) -> int:
    """Mostly a valid value (edges included), sometimes anything of two digits."""
    choice = fdp.ConsumeIntInRange(0, 7)
    if choice == 0:
        return int(fdp.ConsumeIntInRange(0, 99))
    if choice <= 2:
        return edges[fdp.ConsumeIntInRange(0, len(edges) - 1)]
    return int(fdp.ConsumeIntInRange(low, high))


def _timestamp(fdp: atheris.FuzzedDataProvider) -> str:
    mode = fdp.ConsumeIntInRange(0, 3)
    if mode == 0:
        skew = fdp.ConsumeIntInRange(-400, 400)
        return datetime.fromtimestamp(NOW + skew, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if mode == 1:
        return _text(fdp, 48)
    year = _part(fdp, 0, 9999, (0, 1, 1969, 1970, 2026, 2038, 9999))
    month, day = _part(fdp, 1, 12, (1, 2, 12)), _part(fdp, 1, 31, (1, 28, 29, 30, 31))
    hour, minute = _part(fdp, 0, 23, (0, 23, 24)), _part(fdp, 0, 59, (0, 59, 60))
    second = _part(fdp, 0, 59, (0, 59, 60))
    sep = "Tt"[fdp.ConsumeIntInRange(0, 1)]
    stamp = f"{year:04d}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}:{second:02d}"
    if fdp.ConsumeBool():
        digits = fdp.ConsumeIntInRange(1, 10)
        stamp += "." + "".join(str(fdp.ConsumeIntInRange(0, 9)) for _ in range(digits))
    zone = fdp.ConsumeIntInRange(0, 3)
    if zone == 0:
        stamp += "Zz"[fdp.ConsumeIntInRange(0, 1)]
    elif zone < 3:
        hours, minutes = _part(fdp, 0, 23, (0, 14, 23, 24)), _part(fdp, 0, 59, (0, 30, 59, 60))
        stamp += f"{'+-'[zone - 1]}{hours:02d}:{minutes:02d}"
    return stamp


def _signature(fdp: atheris.FuzzedDataProvider, stamp: str, body: bytes) -> str:
    """A signature header value: often correct for one of the secrets, or for a wrong one."""
    mode = fdp.ConsumeIntInRange(0, 5)
    if mode <= 2:
        secret = (*SECRETS, WRONG_SECRET)[fdp.ConsumeIntInRange(0, 2)]
        try:
            value = sign(body, secret, timestamp=stamp)["X-Wrenn-Signature"]
        except UnicodeEncodeError:
            return "sha256=" + "0" * 64
        if fdp.ConsumeBool():
            value = "sha256=" + value[7:].upper()
        return value
    if mode == 3:
        return "sha256=" + _text(fdp, 70)
    if mode == 4:
        return "sha256=" + bytes(fdp.ConsumeBytes(32)).hex().ljust(64, "0")
    return _text(fdp, 80)


def _case(fdp: atheris.FuzzedDataProvider, name: str) -> str:
    style = fdp.ConsumeIntInRange(0, 3)
    if style == 3:
        return "".join(c.upper() if fdp.ConsumeBool() else c.lower() for c in name)
    return (name, name.lower(), name.upper())[style]


def _headers(fdp: atheris.FuzzedDataProvider, values: dict[str, str | None]) -> object:
    pairs: list[tuple[object, object]] = []
    for name, value in values.items():
        if value is None:
            continue
        for _ in range(fdp.ConsumeIntInRange(1, 2)):  # a repeated header, another spelling
            shown: object = value
            kind = fdp.ConsumeIntInRange(0, 5)
            if kind == 1:
                shown = value.encode("utf-8", "surrogatepass")
            elif kind == 2:
                shown = _text(fdp, 20)
            elif kind == 3:
                shown = ""
            elif kind == 4 and fdp.ConsumeBool():
                shown = fdp.ConsumeInt(2)  # not text at all
            pairs.append((_case(fdp, name), shown))
    for _ in range(fdp.ConsumeIntInRange(0, 2)):
        pairs.append((_text(fdp, 12), _text(fdp, 12)))
    container = fdp.ConsumeIntInRange(0, 2)
    if container == 0:
        return dict(pairs)
    if container == 1:
        return [
            (k.encode("utf-8", "surrogatepass") if isinstance(k, str) else k, v) for k, v in pairs
        ]
    return pairs


def TestOneInput(data: bytes) -> None:  # noqa: N802 - the name atheris documents
    fdp = atheris.FuzzedDataProvider(data)
    body = _body(fdp)
    stamp = _timestamp(fdp)
    signature = _signature(fdp, stamp, body)
    delivery = (None, "5f0c8e1a-6a53-4c1e-9f9e-2b7d0f6f2a41", _text(fdp, 220))[
        fdp.ConsumeIntInRange(0, 2)
    ]
    values = {NAMES[0]: signature, NAMES[1]: stamp, NAMES[2]: delivery}
    for name in NAMES[:2]:
        if fdp.ConsumeIntInRange(0, 15) == 0:
            values[name] = None
    headers = _headers(fdp, values)
    handler_should_fail[0] = fdp.ConsumeIntInRange(0, 7) == 0
    try:
        _check(body, headers)
    except Exception as exc:
        name = type(exc).__name__
        where = f"{name}@{traceback.extract_tb(exc.__traceback__)[-1].name}"
        if name not in skip and where not in skip:
            raise
        count = skipped[where] = skipped.get(where, 0) + 1
        if count & (count - 1) == 0:  # the 1st, 2nd, 4th, 8th... time
            print(
                f"skipped {where} (known) x{count}: {exc}; stamp {stamp!r}, body {body[:120]!r}",
                file=sys.stderr,
            )


def _check(body: bytes, headers: object) -> None:
    verified = False
    try:
        verify(body, headers, SECRETS, now=NOW)  # type: ignore[arg-type]
        verified = True
    except WrennWebhookError:
        pass
    parsed = True
    try:
        event = parse_event(body)
    except WrennWebhookError:
        parsed = False
    else:
        encode_event(event)  # what parse_event accepts, the testing kit can send again

    calls.clear()
    response = receiver.handle(body, headers)  # type: ignore[arg-type]
    status = response.status_code
    if status not in CONTRACT:
        raise AssertionError(f"status {status} is outside the contract")
    if calls and not verified:
        raise AssertionError(f"handlers {calls} ran for a request verify() rejects")
    if status == 500 and not handler_should_fail[0]:
        raise AssertionError(f"500 although no handler raised: {response.body}")
    if verified and len(body) <= MAX_BODY:
        expected = {200, 400} | ({500} if handler_should_fail[0] else set())
        if status not in expected:
            raise AssertionError(f"a correctly signed request got {status}: {response.body}")
        if (status == 400) == parsed:
            raise AssertionError(
                f"status {status} but parse_event() {'ac' if parsed else 're'}cepts"
            )
    encoded = json.dumps(response.body, ensure_ascii=False)
    if not isinstance(response.body, dict) or any(s in encoded for s in SECRETS):
        raise AssertionError(f"bad response body {encoded[:200]}")


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
