"""Registrations and factories whose types fit: mypy --strict accepts this file.

Class keys are checked and give their class; string keys are not checked and give ``Event``.
"""

from typing_extensions import assert_type

from wrenn_webhooks import (
    CapsulePause,
    Delivery,
    Event,
    EventType,
    HostUp,
    VolumeCreate,
    WebhookReceiver,
)
from wrenn_webhooks.testing import EventFactory, make_event

receiver = WebhookReceiver("secret")


@receiver.on(CapsulePause, outcome="error")
def pause(event: CapsulePause) -> None:
    print(event.reason, event.capsule_id)


@receiver.on(HostUp)
async def host(event: HostUp, delivery: Delivery) -> None:
    print(event.host_id, delivery.delivery_id)


@receiver.on(VolumeCreate)
def volume(event: Event) -> None:  # a handler for a base class takes any of its subclasses
    print(event.event)


@receiver.on("capsule.pause")
def any_event(event: Event) -> None:
    print(event.event)


@receiver.on(["capsule.*", VolumeCreate, "volume.delete"])
def many(event: Event) -> None:
    print(event.event)


assert_type(make_event(CapsulePause), CapsulePause)
assert_type(make_event(VolumeCreate, outcome="error", seed=1), VolumeCreate)
assert_type(make_event("capsule.pause"), Event)
assert_type(make_event(EventType.CAPSULE_PAUSE), Event)
assert_type(make_event(), Event)
pause(make_event(CapsulePause))


def test_with_the_fixture(wrenn_event: EventFactory) -> None:
    assert_type(wrenn_event(CapsulePause), CapsulePause)
    assert_type(wrenn_event(HostUp, now=0.0), HostUp)
    assert_type(wrenn_event("host.up"), Event)
    print(wrenn_event(CapsulePause, outcome="error").reason)


factory: EventFactory = make_event
