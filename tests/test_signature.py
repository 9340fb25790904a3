from __future__ import annotations

import contextlib
import hashlib
import hmac
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import Headers

from tests.vectors import (
    ESCAPED_BODY,
    ESCAPED_SIGNATURE,
    ESCAPED_TIMESTAMP,
    SAMPLE_BODY,
    SAMPLE_SIGNATURE,
    SAMPLE_TIMESTAMP,
    SECRET,
)
from wrenn_webhooks import (
    ConfigurationError,
    Delivery,
    MalformedHeaderError,
    MissingHeaderError,
    SignatureError,
    SignatureMismatchError,
    TimestampOutsideToleranceError,
    sign,
    verify,
)
from wrenn_webhooks.signature import DEFAULT_TOLERANCE, Verifier, _KeyedHmac

NOW = datetime(2026, 5, 24, 21, 10, 37, tzinfo=timezone.utc)
DELIVERY_ID = "5f0c8e1a-6a53-4c1e-9f9e-2b7d0f6f2a41"


def sample_headers(**override: str) -> dict[str, str]:
    headers = {
        "X-Wrenn-Signature": SAMPLE_SIGNATURE,
        "X-Wrenn-Timestamp": SAMPLE_TIMESTAMP,
        "X-Wrenn-Delivery": DELIVERY_ID,
    }
    headers.update(override)
    return headers


class TestKnownAnswers:
    def test_sign_matches_openssl_vector(self) -> None:
        headers = sign(SAMPLE_BODY, SECRET, timestamp=SAMPLE_TIMESTAMP, delivery_id=DELIVERY_ID)
        assert headers == sample_headers()

    def test_sign_spells_the_headers_as_the_wire_carries_them(self) -> None:
        # Go's Header.Set canonicalises "X-WRENN-SIGNATURE" before it is sent.
        headers = sign(SAMPLE_BODY, SECRET, timestamp=SAMPLE_TIMESTAMP)
        assert list(headers) == ["X-Wrenn-Signature", "X-Wrenn-Timestamp", "X-Wrenn-Delivery"]

    @pytest.mark.parametrize(
        "name", ["X-WRENN-SIGNATURE", "x-wrenn-signature", "X-Wrenn-Signature"]
    )
    def test_any_spelling_of_the_signature_header_verifies(self, name: str) -> None:
        headers = sample_headers()
        headers[name] = headers.pop("X-Wrenn-Signature")
        assert verify(SAMPLE_BODY, headers, SECRET, now=NOW).delivery_id == DELIVERY_ID

    def test_sign_vector_with_go_escapes_and_non_ascii(self) -> None:
        headers = sign(ESCAPED_BODY, SECRET, timestamp=ESCAPED_TIMESTAMP)
        assert headers["X-Wrenn-Signature"] == ESCAPED_SIGNATURE

    def test_verify_accepts_vectors(self) -> None:
        delivery = verify(SAMPLE_BODY, sample_headers(), SECRET, now=NOW)
        assert delivery == Delivery(DELIVERY_ID, NOW, 0)
        escaped = {"x-wrenn-signature": ESCAPED_SIGNATURE, "x-wrenn-timestamp": ESCAPED_TIMESTAMP}
        assert verify(ESCAPED_BODY, escaped, SECRET, now=NOW).delivery_id is None

    def test_key_is_the_hex_text_not_decoded_bytes(self) -> None:
        with pytest.raises(SignatureMismatchError):
            verify(SAMPLE_BODY, sample_headers(), bytes.fromhex(SECRET).decode("latin-1"), now=NOW)


class TestSign:
    def test_default_timestamp_is_now_in_wrenn_format(self) -> None:
        # Whole seconds cut as sign() cuts them: datetime.now() rounds to the
        # microsecond, so just before a second turns it could already say the next.
        before = datetime.fromtimestamp(int(time.time()), timezone.utc)
        stamp = sign(b"{}", SECRET)["X-Wrenn-Timestamp"]
        parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        assert stamp.endswith("Z") and len(stamp) == 20
        assert before <= parsed <= before + timedelta(seconds=2)

    def test_datetime_timestamp_is_formatted_in_utc_whole_seconds(self) -> None:
        moment = datetime(2026, 5, 24, 23, 10, 37, 999, tzinfo=timezone(timedelta(hours=2)))
        assert sign(b"{}", SECRET, timestamp=moment)["X-Wrenn-Timestamp"] == SAMPLE_TIMESTAMP

    def test_naive_datetime_is_refused(self) -> None:
        with pytest.raises(ConfigurationError):
            sign(b"{}", SECRET, timestamp=datetime(2026, 1, 1))

    def test_fresh_delivery_id_each_call(self) -> None:
        assert sign(b"{}", SECRET)["X-Wrenn-Delivery"] != sign(b"{}", SECRET)["X-Wrenn-Delivery"]

    @pytest.mark.parametrize("bad", ["", [], [""], ["ok", ""], [None], " ", "\t\n", ["ok", "  "]])
    def test_no_or_empty_secret_fails_closed(self, bad: object) -> None:
        with pytest.raises(ConfigurationError):
            sign(b"{}", bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError):
            verify(SAMPLE_BODY, sample_headers(), bad, now=NOW)  # type: ignore[arg-type]


class TestHeaders:
    @pytest.mark.parametrize(
        "transform",
        [str.lower, str.upper, str.title, lambda name: name],
        ids=["lower", "upper", "title", "as-sent"],
    )
    def test_names_are_case_insensitive(self, transform: object) -> None:
        headers = {transform(k): v for k, v in sample_headers().items()}  # type: ignore[operator]
        assert verify(SAMPLE_BODY, headers, SECRET, now=NOW).delivery_id == DELIVERY_ID

    def test_werkzeug_headers(self) -> None:
        headers = Headers(list(sample_headers().items()))
        assert verify(SAMPLE_BODY, headers, SECRET, now=NOW).delivery_id == DELIVERY_ID

    def test_asgi_style_byte_pairs(self) -> None:
        pairs = [(k.lower().encode(), v.encode()) for k, v in sample_headers().items()]
        assert verify(SAMPLE_BODY, pairs, SECRET, now=NOW).delivery_id == DELIVERY_ID

    def test_uppercase_hex_signature_is_accepted(self) -> None:
        headers = sample_headers(**{"X-Wrenn-Signature": "sha256=" + SAMPLE_SIGNATURE[7:].upper()})
        verify(SAMPLE_BODY, headers, SECRET, now=NOW)


class TestErrors:
    @pytest.mark.parametrize("name", ["X-Wrenn-Signature", "X-Wrenn-Timestamp"])
    def test_missing_header(self, name: str) -> None:
        headers = sample_headers()
        del headers[name]
        with pytest.raises(MissingHeaderError, match=name.title()):
            verify(SAMPLE_BODY, headers, SECRET, now=NOW)

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "sha256=",
            SAMPLE_SIGNATURE[7:],
            "sha1=" + SAMPLE_SIGNATURE[7:],
            SAMPLE_SIGNATURE + "0",
            SAMPLE_SIGNATURE[:-1] + "g",
            "sha256=" + "é" * 64,
            "v1," + SAMPLE_SIGNATURE,
        ],
    )
    def test_malformed_signature(self, value: str) -> None:
        with pytest.raises(MalformedHeaderError, match="sha256="):
            verify(SAMPLE_BODY, sample_headers(**{"X-Wrenn-Signature": value}), SECRET, now=NOW)

    @pytest.mark.parametrize(
        "value",
        [
            "2026-05-24T21:10:37",  # no UTC offset
            "2026-05-24 21:10:37Z",
            "1779657037",
            "2026-02-30T21:10:37Z",
            "2026-05-24T25:10:37Z",
            "2026-05-24T21:10:37+0000",
            "٢٠٢٦-05-24T21:10:37Z",
            "x" * 10_000,
            "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
            "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
        ],
    )
    def test_malformed_timestamp(self, value: str) -> None:
        with pytest.raises(MalformedHeaderError, match="X-Wrenn-Timestamp"):
            verify(SAMPLE_BODY, sample_headers(**{"X-Wrenn-Timestamp": value}), SECRET, now=NOW)

    def test_offset_timestamps_are_rfc3339_too(self) -> None:
        stamp = "2026-05-24T23:10:37+02:00"
        headers = sign(SAMPLE_BODY, SECRET, timestamp=stamp)
        assert verify(SAMPLE_BODY, headers, SECRET, now=NOW).timestamp == NOW

    def test_mismatch_never_echoes_secret_or_expected_signature(self) -> None:
        headers = sample_headers(**{"X-Wrenn-Signature": "sha256=" + "0" * 64})
        with pytest.raises(SignatureMismatchError) as info:
            verify(SAMPLE_BODY, headers, SECRET, now=NOW)
        assert SECRET not in str(info.value)
        assert SAMPLE_SIGNATURE[7:] not in str(info.value)
        assert "ttl_expired" not in str(info.value)

    def test_tampered_body(self) -> None:
        with pytest.raises(SignatureMismatchError):
            verify(SAMPLE_BODY.replace(b"error", b"errox"), sample_headers(), SECRET, now=NOW)

    def test_bad_delivery_id(self) -> None:
        with pytest.raises(MalformedHeaderError, match="X-Wrenn-Delivery"):
            verify(SAMPLE_BODY, sample_headers(**{"X-Wrenn-Delivery": "a\tb"}), SECRET, now=NOW)

    def test_non_text_header_value(self) -> None:
        headers: dict[str, object] = {**sample_headers(), "X-Wrenn-Signature": 42}
        with pytest.raises(MalformedHeaderError):
            verify(SAMPLE_BODY, headers, SECRET, now=NOW)  # type: ignore[arg-type]

    def test_every_error_is_a_signature_error_with_401(self) -> None:
        for cls in (
            MissingHeaderError,
            MalformedHeaderError,
            TimestampOutsideToleranceError,
            SignatureMismatchError,
        ):
            assert issubclass(cls, SignatureError)
            assert cls.status_code == 401


class TestTolerance:
    @pytest.mark.parametrize("seconds", [-300, -1, 0, 1, 300])
    def test_inside_the_window_both_ways(self, seconds: int) -> None:
        verify(SAMPLE_BODY, sample_headers(), SECRET, now=NOW + timedelta(seconds=seconds))

    @pytest.mark.parametrize(("seconds", "where"), [(301, "past"), (-301, "future")])
    def test_outside_the_window_says_how_far(self, seconds: int, where: str) -> None:
        with pytest.raises(TimestampOutsideToleranceError, match=f"301 s in the {where}") as info:
            verify(SAMPLE_BODY, sample_headers(), SECRET, now=NOW + timedelta(seconds=seconds))
        assert info.value.skew == seconds

    def test_configurable_as_seconds_or_timedelta(self) -> None:
        later = NOW + timedelta(seconds=30)
        with pytest.raises(TimestampOutsideToleranceError):
            verify(SAMPLE_BODY, sample_headers(), SECRET, tolerance=10, now=later)
        verify(SAMPLE_BODY, sample_headers(), SECRET, tolerance=timedelta(minutes=1), now=later)

    def test_now_as_posix_seconds(self) -> None:
        verify(SAMPLE_BODY, sample_headers(), SECRET, now=NOW.timestamp())

    @pytest.mark.parametrize(
        "bad",
        [0, -5, float("nan"), float("inf"), timedelta(0), None, "300", True, [300]],
    )
    def test_tolerance_must_be_a_finite_positive_number(self, bad: Any) -> None:
        with pytest.raises(ConfigurationError, match="tolerance"):
            verify(SAMPLE_BODY, sample_headers(), SECRET, tolerance=bad, now=NOW)

    def test_stale_is_reported_before_signature_work(self) -> None:
        headers = sample_headers(**{"X-Wrenn-Signature": "sha256=" + "0" * 64})
        with pytest.raises(TimestampOutsideToleranceError):
            verify(SAMPLE_BODY, headers, SECRET, now=NOW + timedelta(hours=1))


class TestRotation:
    def test_new_and_old_side_by_side_reports_which_matched(self) -> None:
        new = "n" * 64
        assert verify(SAMPLE_BODY, sample_headers(), [new, SECRET], now=NOW).secret_index == 1
        headers = sign(SAMPLE_BODY, new, timestamp=SAMPLE_TIMESTAMP)
        assert verify(SAMPLE_BODY, headers, [new, SECRET], now=NOW).secret_index == 0

    def test_old_secret_removed_rejects(self) -> None:
        with pytest.raises(SignatureMismatchError, match="secret"):
            verify(SAMPLE_BODY, sample_headers(), ["n" * 64], now=NOW)


class TestVerifier:
    def test_the_keyed_state_is_copied_never_consumed(self) -> None:
        # One keyed HMAC per secret serves every delivery: a mismatch in between
        # must leave it as keyed, and each success is a plain Delivery.
        verifier = Verifier([SECRET, "n" * 64], DEFAULT_TOLERANCE)
        now = NOW.timestamp()
        first = verifier.verify(SAMPLE_BODY, sample_headers(), now)
        with pytest.raises(SignatureMismatchError):
            verifier.verify(SAMPLE_BODY + b" ", sample_headers(), now)
        again = verifier.verify(SAMPLE_BODY, sample_headers(), now)
        assert first == again == Delivery(DELIVERY_ID, NOW, 0, False)
        assert type(again) is Delivery


@given(body=st.binary(max_size=2048), secret=st.text(min_size=1).filter(str.isprintable))
def test_verify_accepts_what_sign_makes(body: bytes, secret: str) -> None:
    try:
        headers = sign(body, secret, timestamp=NOW)
    except ConfigurationError:  # secrets that are not encodable text
        return
    assert verify(body, headers, secret, now=NOW).timestamp == NOW


@given(body=st.binary(min_size=1, max_size=512), data=st.data())
def test_any_flipped_byte_fails(body: bytes, data: st.DataObject) -> None:
    headers = sign(body, SECRET, timestamp=NOW)
    index = data.draw(st.integers(0, len(body) - 1))
    bit = data.draw(st.integers(0, 7))
    tampered = bytearray(body)
    tampered[index] ^= 1 << bit
    with pytest.raises(SignatureMismatchError):
        verify(bytes(tampered), headers, SECRET, now=NOW)


_header_values = st.one_of(
    st.none(),
    st.text(max_size=300),
    st.binary(max_size=300),
    st.sampled_from([SAMPLE_SIGNATURE, SAMPLE_TIMESTAMP, "sha256=" + "a" * 64]),
)


@given(
    body=st.binary(max_size=1024),
    sig=_header_values,
    stamp=_header_values,
    delivery=_header_values,
    extra=st.dictionaries(st.text(max_size=40), st.text(max_size=100), max_size=5),
)
def test_hostile_input_raises_only_signature_errors(
    body: bytes, sig: object, stamp: object, delivery: object, extra: dict[str, str]
) -> None:
    headers: dict[str, object] = dict(extra)
    for name, value in (
        ("X-Wrenn-Signature", sig),
        ("x-wrenn-timestamp", stamp),
        ("X-WRENN-DELIVERY", delivery),
    ):
        if value is not None:
            headers[name] = value
    with contextlib.suppress(SignatureError):
        verify(body, headers, SECRET, now=NOW)  # type: ignore[arg-type]


@given(
    body=st.binary(max_size=1024), secret=st.text(min_size=1, max_size=80).filter(str.isprintable)
)
def test_signature_agrees_with_itsdangerous(body: bytes, secret: str) -> None:
    """An independent HMAC-SHA256 (itsdangerous, a Flask dependency) as the oracle."""
    from itsdangerous.signer import HMACAlgorithm

    try:
        headers = sign(body, secret, timestamp=SAMPLE_TIMESTAMP)
    except ConfigurationError:
        return
    message = SAMPLE_TIMESTAMP.encode() + b"." + body
    expected = HMACAlgorithm(hashlib.sha256).get_signature(secret.encode(), message).hex()
    assert headers["X-Wrenn-Signature"] == "sha256=" + expected


@given(key=st.binary(max_size=200), message=st.binary(max_size=1024))
def test_the_keyed_hmac_is_hmac_sha256(key: bytes, message: bytes) -> None:
    # Keys shorter than, equal to and longer than SHA-256's 64-byte block.
    expected = hmac.new(key, message, hashlib.sha256).hexdigest()
    assert _KeyedHmac(key).hexdigest(message) == expected


def test_a_keyed_hmac_serves_many_messages() -> None:
    keyed = _KeyedHmac(SECRET.encode())
    for message in (b"", b"a", b"a" * 1000, b"a"):
        assert keyed.hexdigest(message) == hmac.new(SECRET.encode(), message, "sha256").hexdigest()
