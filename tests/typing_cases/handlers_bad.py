"""A handler typed for one event, registered for another: mypy must reject it."""

from wrenn_webhooks import CapsulePause, HostUp, WebhookReceiver

receiver = WebhookReceiver("secret")


@receiver.on("host.up")
def wrong(event: CapsulePause) -> None:
    print(event.reason)


@receiver.on("capsule.pause")
def also_wrong(event: HostUp) -> None:
    print(event.host_id)
