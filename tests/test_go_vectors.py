"""Check the encoder and parser against bodies marshalled by Go's ``encoding/json``.

``tests/data/go_vectors.json`` is written by ``tests/go/gen_vectors.go`` (see its
header to regenerate); these tests only read it, so Go is not needed to run them.
Each vector holds the wire bytes Go produced and the event's field values as
plain JSON, so the event is rebuilt here without looking at the wire.

Invalid UTF-8 in a Go string goes on the wire as the escape ``\\ufffd``; decoded,
it is U+FFFD, which Go itself re-encodes as raw UTF-8 (and sorts as such among
metadata keys). For those vectors the expected re-encoding is Go's own
decode + encode round trip, ``go_roundtrip_b64``.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from wrenn_webhooks import Actor, Event, EventType, Resource, encode_event, parse_event

VECTORS_FILE = Path(__file__).parent / "data" / "go_vectors.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))


def _wire(vector: dict[str, Any]) -> bytes:
    return base64.b64decode(vector["wire_b64"], validate=True)


def _reencoded(vector: dict[str, Any]) -> bytes:
    """What Go sends for the event a receiver decodes from the wire."""
    roundtrip = vector.get("go_roundtrip_b64")
    return base64.b64decode(roundtrip, validate=True) if roundtrip else _wire(vector)


def _from_fields(fields: dict[str, Any]) -> Event:
    """Rebuild the event from Go's field values, the wire bytes unseen."""
    actor = fields["actor"]
    return parse_event(
        {
            "event": fields["event"],
            "outcome": fields["outcome"],
            "timestamp": datetime.strptime(fields["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=timezone.utc
            ),
            "team_id": fields["team_id"],
            "actor": Actor(type=actor["type"], id=actor["id"], name=actor["name"]),
            "resource": Resource(id=fields["resource"]["id"], type=fields["resource"]["type"]),
            # Insertion order as in the Go source, unsorted: the encoder must sort.
            "metadata": dict(fields["metadata"] or []),
            "error": fields["error"],
        }
    )


by_name = pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])


@by_name
def test_parsed_wire_re_encodes_to_go_bytes(vector: dict[str, Any]) -> None:
    wire = _wire(vector)
    event = parse_event(wire)
    assert event.sent_as == vector["fields"]["event"]  # event.event: its new name, if older
    assert encode_event(event) == _reencoded(vector)


@by_name
def test_event_built_from_fields_encodes_to_go_bytes(vector: dict[str, Any]) -> None:
    assert encode_event(_from_fields(vector["fields"])) == _reencoded(vector)


@by_name
def test_go_round_trip_is_stable(vector: dict[str, Any]) -> None:
    body = _reencoded(vector)
    assert encode_event(parse_event(body)) == body


def test_only_invalid_utf8_changes_in_gos_own_round_trip() -> None:
    changed = {v["name"] for v in VECTORS if v.get("go_roundtrip_b64")}
    assert changed
    assert all(name.startswith("invalid-utf8/") for name in changed)
    assert all(b"\\ufffd" in _wire(v) for v in VECTORS if v["name"] in changed)


def test_vectors_cover_every_event_type() -> None:
    names = [v["name"] for v in VECTORS]
    assert len(names) == len(set(names))
    types = {v["fields"]["event"] for v in VECTORS}
    assert {t.value for t in EventType} <= types
    assert "volume.create" in types  # a type this SDK has no class for


def test_vectors_avoid_toolchain_dependent_escapes() -> None:
    # Go before 1.22 writes \b and \f as \u0008 and \u000c; the generator leaves
    # them out so the file does not depend on the Go release that wrote it.
    for vector in VECTORS:
        wire = _wire(vector)
        assert b"\\u0008" not in wire
        assert b"\\u000c" not in wire
        assert b"\\b" not in wire.replace(b"\\\\", b"")
        assert b"\\f" not in wire.replace(b"\\\\", b"")
