"""Sign and verify Wrenn deliveries on the raw bytes.

Wrenn signs ``timestamp + "." + body`` with HMAC-SHA256, keyed with the channel
secret's UTF-8 text, and sends ``sha256=<64 lowercase hex>``; see the protocol
notes, "Headers".
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import math
import re
import sys
import time
import uuid
import warnings
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import NamedTuple

from . import _headers
from ._headers import HeaderSource
from .errors import (
    ConfigurationError,
    MalformedHeaderError,
    MissingHeaderError,
    SignatureMismatchError,
    TimestampOutsideToleranceError,
    WrennWebhookError,
)

__all__ = ["DEFAULT_TOLERANCE", "Delivery", "WeakSecretWarning", "sign", "verify"]

DEFAULT_TOLERANCE = 300.0
"""Seconds a signed timestamp may lie in the past or the future."""
MIN_SECRET_LENGTH = 32
"""Receivers warn about shorter secrets; Wrenn generates 64 hex characters."""

_PREFIX = "sha256="
_HEX = re.compile(r"[0-9a-fA-F]{64}")
_ISO_Z = sys.version_info >= (3, 11)  # fromisoformat reads "Z" since 3.11
_RFC3339 = re.compile(
    r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:[Zz]|[+-]\d\d:\d\d)", re.ASCII
)


class Delivery(NamedTuple):
    """What a verified request says about itself, beyond the event.

    Attributes:
        delivery_id: The ``X-Wrenn-Delivery`` value. Every attempt gets a new
            one, so it cannot tell a retry from a new event; ``None`` if absent.
        timestamp: The signed ``X-Wrenn-Timestamp``, timezone-aware UTC.
        secret_index: Position of the matching secret in the configured list,
            for rotation reports (0 when a single secret was given).
        redelivery: True when an earlier attempt with the same body was seen.
    """

    delivery_id: str | None
    timestamp: datetime
    secret_index: int = 0
    redelivery: bool = False


class WeakSecretWarning(UserWarning):
    """A receiver was given a secret shorter than 32 characters.

    Wrenn generates 64 hex characters; a short secret is one a team typed in.
    Only a warning, from ``WebhookReceiver`` and the Flask extension (never
    from ``sign()``, ``verify()`` or the test kit), so tests can use short
    secrets knowingly: silence it with ``warnings.filterwarnings`` there.
    """


def secrets_tuple(secret: str | Sequence[str]) -> tuple[str, ...]:
    """Validate one secret or a list of them; fail closed on anything empty or blank."""
    secrets = (secret,) if isinstance(secret, str) else tuple(secret) if secret else ()
    if not secrets:
        raise ConfigurationError("no webhook secret configured; pass the channel's secret")
    for item in secrets:
        if not isinstance(item, str) or not item:
            raise ConfigurationError("every webhook secret must be a non-empty string")
        if item.isspace():
            raise ConfigurationError(
                "a webhook secret is blank (only whitespace); pass the channel's secret"
            )
        _keyed(item)  # rejects secrets that cannot be UTF-8 encoded
    return secrets


def warn_weak_secrets(secrets: tuple[str, ...]) -> None:
    """Warn (``WeakSecretWarning``) about each secret shorter than ``MIN_SECRET_LENGTH``.

    The warning points at the first caller outside this package: the line
    that built the receiver or called ``init_app``.
    """
    for number, item in enumerate(secrets, start=1):
        if len(item) < MIN_SECRET_LENGTH:
            which = (
                "the webhook secret" if len(secrets) == 1 else f"secret {number} of {len(secrets)}"
            )
            warnings.warn(
                f"{which} is only {len(item)} characters; use {MIN_SECRET_LENGTH} or more, "
                "such as the 64 Wrenn generates (or `wrenn-webhooks secret` prints)",
                WeakSecretWarning,
                stacklevel=_outside_package(),
            )


def _outside_package() -> int:
    """The ``stacklevel`` of the first frame outside ``wrenn_webhooks``, for its caller's warn()."""
    package = __name__.partition(".")[0]
    frame, level = inspect.currentframe(), 0  # 0: this frame; 1: its caller, which warns
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == package:
        frame, level = frame.f_back, level + 1
    return max(level, 1)


def seconds_setting(name: str, value: object) -> float:
    """``value`` as a positive, finite number of seconds (a ``timedelta`` too).

    Raises:
        ConfigurationError: Anything else, ``bool`` and numeric strings included.
    """
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise ConfigurationError(
            f"{name} must be a positive number of seconds, not {type(value).__name__}"
        )
    if not 0 < seconds < math.inf:
        raise ConfigurationError(
            f"{name} must be a positive, finite number of seconds, not {value}"
        )
    return float(seconds)


def delivery_id_of(headers: HeaderSource) -> str | None:
    """The ``X-Wrenn-Delivery`` of a request refused before ``verify``, if well formed.

    Well formed as ``verify`` requires it: 1 to 200 printable ASCII characters.
    Unverified: for a log line that matches a rejected attempt to Wrenn's own
    log, never for deduplication or audit.
    """
    try:
        delivery_id = _headers.read(headers)[2]
    except (WrennWebhookError, TypeError, ValueError):  # a value that is not text: no id
        return None
    if delivery_id is not None and (
        0 < len(delivery_id) <= 200 and delivery_id.isascii() and delivery_id.isprintable()
    ):
        return delivery_id
    return None


class _KeyedHmac:
    """HMAC-SHA256 (RFC 2104) with its key hashed in once, for many messages.

    HMAC is ``H((K ^ opad) + H((K ^ ipad) + message))``. The two padded-key
    states are hashed here, once per secret; each message then costs two copies
    of a ``hashlib`` state and the hashing of the message itself. The standard
    library's ``hmac`` builds the same two states the same way where OpenSSL's
    HMAC is missing; copying OpenSSL's HMAC context per message costs more than
    hashing a webhook body. Tests compare every digest with ``hmac.new``.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def hexdigest(self, message: bytes) -> str:
        """The lowercase hex HMAC-SHA256 of ``message``."""
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


_BLOCK = hashlib.sha256().block_size
_IPAD = bytes(byte ^ 0x36 for byte in range(256))
_OPAD = bytes(byte ^ 0x5C for byte in range(256))


@lru_cache(maxsize=64)
def _keyed(secret: str) -> _KeyedHmac:
    try:
        key = secret.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigurationError("a webhook secret must be valid Unicode text") from None
    return _KeyedHmac(key)


def _digest(secret: str, timestamp: str, body: bytes) -> str:
    return _keyed(secret).hexdigest(timestamp.encode("utf-8") + b"." + bytes(body))


def format_timestamp(moment: datetime | None = None) -> str:
    """Format a moment as Wrenn does: RFC 3339, UTC, whole seconds (default: now)."""
    if moment is None:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if moment.tzinfo is None:
        raise ConfigurationError("timestamp must be timezone-aware")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign(
    body: bytes,
    secret: str,
    *,
    timestamp: datetime | str | None = None,
    delivery_id: str | None = None,
) -> dict[str, str]:
    """Sign a body and return the three headers exactly as Wrenn sends them.

    Args:
        body: The exact request body.
        secret: The channel secret.
        timestamp: The signing time; a ``str`` is used verbatim. Default: now.
        delivery_id: Default: a new random UUID.
    """
    (secret,) = secrets_tuple(secret)
    stamp = timestamp if isinstance(timestamp, str) else format_timestamp(timestamp)
    return {
        _headers.SIGNATURE: _PREFIX + _digest(secret, stamp, body),
        _headers.TIMESTAMP: stamp,
        _headers.DELIVERY: delivery_id if delivery_id is not None else str(uuid.uuid4()),
    }


def parse_timestamp(value: str) -> datetime:
    """Parse an RFC 3339 timestamp with a UTC offset, as in ``X-Wrenn-Timestamp``.

    Raises:
        MalformedHeaderError: Not RFC 3339, no offset, or not a real moment.
    """
    if len(value) > 40 or not _RFC3339.fullmatch(value):
        raise MalformedHeaderError(
            f"{_headers.TIMESTAMP} must be an RFC 3339 time with a UTC offset, "
            "such as 2026-05-24T21:10:37Z"
        )
    text = value
    if not (_ISO_Z and len(value) == 20 and value[19] == "Z" and value[10] == "T"):
        # Anything but Wrenn's own form (the hot path) is normalised first.
        text = value.upper()
        if text[-1] == "Z":
            text = text[:-1] + "+00:00"  # Python 3.10's fromisoformat wants an offset
        if "." in text:  # fromisoformat takes exactly 6 fraction digits everywhere
            head, _, rest = text.partition(".")
            text = f"{head}.{rest[:-6][:6].ljust(6, '0')}{rest[-6:]}"
    try:
        moment = datetime.fromisoformat(text)
        return moment if moment.tzinfo is timezone.utc else moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # Overflow: year 1 or 9999 moved to UTC
        raise MalformedHeaderError(f"{_headers.TIMESTAMP} is not a real date and time") from None


def verify(
    body: bytes,
    headers: HeaderSource,
    secret: str | Sequence[str],
    *,
    tolerance: float | timedelta = DEFAULT_TOLERANCE,
    now: datetime | float | None = None,
) -> Delivery:
    """Check a delivery's signature and freshness and describe the delivery.

    Checks run cheapest first: headers present and well formed, timestamp
    within ``tolerance`` of ``now`` in either direction, then the HMAC of
    ``timestamp + "." + body`` against each secret in constant time.

    Args:
        body: The raw request body, before anything parsed it.
        headers: Any mapping or werkzeug ``Headers``; names are case-insensitive.
        secret: The channel secret, or several during a rotation.
        tolerance: Seconds (or a ``timedelta``) the timestamp may be off.
        now: The receiver's clock, as an aware ``datetime`` or POSIX seconds.

    Raises:
        SignatureError: A header is missing or malformed, the timestamp is
            outside the tolerance window, or no secret matches.
        ConfigurationError: No secret, an empty secret, or a bad tolerance.
    """
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ConfigurationError("now must be timezone-aware")
        now = now.timestamp()
    if type(body) is not bytes and not isinstance(body, (bytearray, memoryview)):
        raise TypeError(f"body must be bytes, not {type(body).__name__}")
    moment = time.time() if now is None else float(now)
    return Verifier(secret, tolerance).verify(bytes(body), headers, moment)


class Verifier:
    """``verify`` with its secrets keyed and its settings checked once, for reuse."""

    __slots__ = ("_keys", "_last", "tolerance")

    def __init__(self, secret: str | Sequence[str], tolerance: float | timedelta) -> None:
        self._keys = tuple(enumerate(_keyed(item) for item in secrets_tuple(secret)))
        self.tolerance = seconds_setting("tolerance", tolerance)
        # Deliveries in a burst share their signing second: keep the last parse.
        self._last: tuple[str, datetime, float, bytes] = ("", datetime.min, 0.0, b"")

    @property
    def secret_count(self) -> int:
        """How many secrets are accepted (never the secrets themselves)."""
        return len(self._keys)

    def verify(self, body: bytes, headers: HeaderSource, now: float) -> Delivery:
        """Verify as ``verify()`` does, with ``body`` as ``bytes`` and ``now`` in POSIX seconds."""
        signature, stamp, delivery_id = _headers.read(headers)
        if signature is None:
            raise MissingHeaderError(f"missing {_headers.SIGNATURE} header")
        if stamp is None:
            raise MissingHeaderError(f"missing {_headers.TIMESTAMP} header")
        if len(signature) != 71 or not signature.startswith(_PREFIX) or not signature.isascii():
            raise _malformed_signature()
        if delivery_id is not None and not (  # the rule of delivery_id_of(), inline: hot path
            0 < len(delivery_id) <= 200 and delivery_id.isascii() and delivery_id.isprintable()
        ):
            raise MalformedHeaderError(
                f"{_headers.DELIVERY} must be 1-200 printable ASCII characters"
            )
        last_stamp, moment, signed_at, signed_prefix = self._last
        if stamp != last_stamp:
            moment = parse_timestamp(stamp)
            signed_at = moment.timestamp()
            signed_prefix = stamp.encode("ascii") + b"."
            self._last = (stamp, moment, signed_at, signed_prefix)
        skew = now - signed_at
        tolerance = self.tolerance
        if not -tolerance <= skew <= tolerance:
            where = "in the past" if skew > 0 else "in the future"
            raise TimestampOutsideToleranceError(
                f"{_headers.TIMESTAMP} is {abs(skew):.0f} s {where}, outside the "
                f"{tolerance:.0f} s tolerance; check both clocks, or this is a replay",
                skew=skew,
            )
        message = signed_prefix + body
        given = signature[7:]
        if not given.islower():  # Wrenn sends lower case; upper case is accepted too
            given = given.lower()
        for index, key in self._keys:
            if hmac.compare_digest(key.hexdigest(message), given):
                return Delivery(delivery_id, moment, index)
        if not _HEX.fullmatch(given):  # only now: well-formed signatures pay nothing for it
            raise _malformed_signature()
        raise SignatureMismatchError(
            "signature does not match the configured secret"
            + ("s" if len(self._keys) > 1 else "")
            + "; check that it is the channel's current secret in Wrenn"
        )


def _malformed_signature() -> MalformedHeaderError:
    return MalformedHeaderError(f"{_headers.SIGNATURE} must be 'sha256=' followed by 64 hex digits")
