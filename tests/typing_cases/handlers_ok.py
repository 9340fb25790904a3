"""Handlers whose types fit their registrations: mypy --strict accepts this file."""

from wrenn_webhooks import CapsulePause, Delivery, Event, HostUp, WebhookReceiver

receiver = WebhookReceiver("secret")


@receiver.on("capsule.pause", outcome="error")
def pause(event: CapsulePause) -> None:
    print(event.reason, event.capsule_id)


@receiver.on("host.up")
async def host(event: HostUp, delivery: Delivery) -> None:
    print(event.host_id, delivery.delivery_id)


@receiver.on("capsule.pause")
def any_event(event: Event) -> None:
    print(event.event)


@receiver.on(["capsule.*", "volume.create"])
def many(event: Event) -> None:
    print(event.event)


pause(CapsulePause.model_validate_json(b"{}"))
