"""Hypothesis strategies for Wrenn events and bodies."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import strategies as st

from wrenn_webhooks import Actor, Event, Resource
from wrenn_webhooks.events import EVENT_CLASSES, LEGACY_EVENT_TYPES

# Any Unicode text Go could carry (no lone surrogates: Go would send U+FFFD).
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
nonempty = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)
event_types = st.one_of(
    st.sampled_from(sorted(EVENT_CLASSES)),
    st.sampled_from(sorted(LEGACY_EVENT_TYPES)),
    st.from_regex(r"[a-z]{1,10}(\.[a-z]{1,10}){1,2}", fullmatch=True),
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.just(timezone.utc),
).map(lambda moment: moment.replace(microsecond=0))


@st.composite
def events(draw: st.DrawFn) -> Event:
    """Events as Go's encoder could send them (empty optional fields are absent)."""
    kind = draw(event_types)
    outcome = draw(st.one_of(st.none(), st.sampled_from(["success", "error"]), nonempty))
    error = draw(st.one_of(st.none(), nonempty)) if outcome == "error" else None
    actor_type = draw(st.one_of(st.sampled_from(["user", "api_key", "system"]), nonempty))
    data = {
        "event": kind,
        "outcome": outcome,
        "timestamp": draw(moments),
        "team_id": draw(text),
        "actor": Actor(
            type=actor_type,
            id=draw(st.one_of(st.none(), nonempty)),
            name=draw(st.one_of(st.none(), nonempty)),
        ),
        "resource": Resource(id=draw(text), type=draw(text)),
        "metadata": draw(st.dictionaries(text, text, max_size=4)),
        "error": error,
    }
    cls = EVENT_CLASSES.get(kind, Event)
    return cls.model_validate(data)
