"""Types that do not fit their class keys: mypy must reject each marked line."""

from wrenn_webhooks import CapsulePause, HostUp, WebhookReceiver
from wrenn_webhooks.testing import EventFactory, make_event

receiver = WebhookReceiver("secret")


@receiver.on(HostUp)  # error: the handler takes a CapsulePause
def wrong(event: CapsulePause) -> None:
    print(event.reason)


@receiver.on(CapsulePause)  # error: the handler takes a HostUp
def also_wrong(event: HostUp) -> None:
    print(event.host_id)


host: HostUp = make_event(CapsulePause)  # error: a CapsulePause is no HostUp

print(make_event("capsule.pause").reason)  # error: a string key gives Event


def test_with_the_fixture(wrenn_event: EventFactory) -> None:
    print(wrenn_event(HostUp).capsule_id)  # error: a HostUp has no capsule_id
