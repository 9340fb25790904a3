import os

from flask import Flask

from wrenn_webhooks import CapsulePause, ChannelTest, WebhookReceiver
from wrenn_webhooks.flask import blueprint

receiver = WebhookReceiver(secret=os.environ["WRENN_WEBHOOK_SECRET"])


@receiver.on("capsule.pause", outcome="error")
def pause_failed(event: CapsulePause) -> None:
    print(f"capsule {event.capsule_id} failed to pause: {event.error}")


@receiver.on("channel.test")
def channel_test(event: ChannelTest) -> None:
    print("test delivery received: the channel is wired up")


app = Flask(__name__)
# POST /webhooks/wrenn, with or without the trailing slash: Wrenn follows no redirects.
app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
