import os

from flask import Flask, request

from wrenn_webhooks import CapsulePause, ChannelTest, WebhookReceiver

receiver = WebhookReceiver(secret=os.environ["WRENN_WEBHOOK_SECRET"])


@receiver.on("capsule.pause", outcome="error")
def pause_failed(event: CapsulePause) -> None:
    print(f"capsule {event.capsule_id} failed to pause: {event.error}")


@receiver.on("channel.test")
def channel_test(event: ChannelTest) -> None:
    print("test delivery received: the channel is wired up")


app = Flask(__name__)


@app.post("/webhooks/wrenn")
def wrenn_webhook():
    response = receiver.handle(request.get_data(), request.headers)
    return response.body, response.status_code, response.headers
