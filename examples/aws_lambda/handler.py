"""A Wrenn webhook receiver as an AWS Lambda function, behind API Gateway or a function URL.

Set the function's handler to ``handler.handler`` (this file at the root of the
deployment package), and its environment: ``WRENN_WEBHOOK_SECRET``, the channel's
secret, and ``WRENN_REDIS_URL``, a Redis every instance of the function reaches
(``rediss://`` for TLS). Package it with ``pip install "wrenn-webhooks[redis]"``.
"""

from __future__ import annotations

import os

from wrenn_webhooks import CapsulePause, ChannelTest, HostDown, WebhookReceiver
from wrenn_webhooks.aws_lambda import lambda_handler
from wrenn_webhooks.redis import RedisIdempotencyStore

# Module level: built once per instance, at its cold start, and reused by every
# invocation that instance serves (the secret keyed once, the Redis connections kept).
receiver = WebhookReceiver(
    os.environ["WRENN_WEBHOOK_SECRET"],
    # Lambda runs as many instances as deliveries arrive at once, and Wrenn's retry of
    # an event may reach another one: the records of handled events must be shared.
    # The default in-memory store would be one per instance.
    idempotency=RedisIdempotencyStore(os.environ["WRENN_REDIS_URL"]),
)


@receiver.on("capsule.pause", outcome="error")
def pause_failed(event: CapsulePause) -> None:
    print(f"capsule {event.capsule_id} failed to pause: {event.error}")


@receiver.on("host.down")
def host_down(event: HostDown) -> None:
    print(f"host {event.host_id} is down")


@receiver.on("channel.test")
def channel_test(event: ChannelTest) -> None:
    print("test delivery received: the channel is wired up")


# The entry point Lambda calls, handler(event, context), for all three event formats.
handler = lambda_handler(receiver)
