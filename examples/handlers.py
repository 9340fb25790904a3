"""Handlers: patterns, outcomes, order, errors, async, routers and the delivery.

The handlers page of the documentation includes this file piece by piece.
"""

from __future__ import annotations

import asyncio
import logging
import os

from wrenn_webhooks import (
    CapsuleCreate,
    CapsuleDestroy,
    CapsulePause,
    CapsuleResume,
    Delivery,
    Event,
    HostDown,
    Router,
    WebhookReceiver,
)

log = logging.getLogger("examples.handlers")

receiver = WebhookReceiver(secret=os.environ["WRENN_WEBHOOK_SECRET"])


# --8<-- [start:patterns]
@receiver.on("capsule.pause")  # one exact type, any outcome
def pause_seen(event: CapsulePause) -> None:
    log.info("capsule %s pause: %s", event.capsule_id, event.outcome)


@receiver.on("capsule.pause", outcome="error")  # failed pauses only
def pause_failed(event: CapsulePause) -> None:
    log.error("capsule %s failed to pause: %s", event.capsule_id, event.error)


@receiver.on("capsule.*", outcome="error")  # a glob: every failed capsule action
def capsule_failed(event: Event) -> None:
    log.error("%s failed for %s", event.event, event.resource.id)


@receiver.on(["host.up", "host.down"])  # a list of types or globs
def host_changed(event: Event) -> None:
    log.info("%s: %s", event.event, event.resource.id)


@receiver.on("*")  # everything, including types this SDK does not know
def audit(event: Event) -> None:
    log.info("audit: %s %s by %s", event.event, event.outcome or "-", event.actor.type)


# --8<-- [end:patterns]


# --8<-- [start:order]
@receiver.on("capsule.destroy")
def release_address(event: CapsuleDestroy) -> None:
    log.info("release the address of %s", event.capsule_id)


@receiver.on("capsule.destroy")
def close_billing(event: CapsuleDestroy) -> None:
    log.info("close billing for %s (runs even if release_address raised)", event.capsule_id)


@receiver.on_error
def report(exc: BaseException, event: Event, delivery: Delivery) -> None:
    log.warning("a handler failed on %s (delivery %s): %r", event.event, delivery.delivery_id, exc)


# --8<-- [end:order]


# --8<-- [start:delivery]
@receiver.on("capsule.create", outcome="error")
def create_failed(event: CapsuleCreate, delivery: Delivery) -> None:
    again = " (again: an earlier attempt failed)" if delivery.redelivery else ""
    log.error(
        "capsule %s from template %s failed to start: %s [delivery %s, signed %s]%s",
        event.capsule_id,
        event.template,
        event.error,
        delivery.delivery_id,
        delivery.timestamp.isoformat(),
        again,
    )


# --8<-- [end:delivery]


# --8<-- [start:async]
@receiver.on("host.down")
async def page_on_call(event: HostDown) -> None:
    await asyncio.sleep(0)  # stands for an async HTTP client call
    log.warning("paged on-call: host %s is down", event.host_id)


# --8<-- [end:async]


# --8<-- [start:router]
# capsules.py: handlers in their own module, with no receiver in sight
router = Router()


@router.on("capsule.resume", outcome="error")
def resume_failed(event: CapsuleResume) -> None:
    log.error("capsule %s failed to resume: %s", event.capsule_id, event.error)


# app.py: at start-up, before the first delivery
receiver.include_router(router)
# --8<-- [end:router]
