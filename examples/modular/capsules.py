"""Capsule handlers, registered on a module-level ``Router``."""

from __future__ import annotations

import logging

from wrenn_webhooks import CapsuleDestroy, CapsulePause, Event, Router

router = Router()
log = logging.getLogger(__name__)
destroyed: list[str] = []


@router.on("capsule.pause", outcome="error")
def failed_pause(event: CapsulePause) -> None:
    log.error("capsule %s failed to pause: %s", event.capsule_id, event.error)


@router.on("capsule.destroy")
def record_destroy(event: CapsuleDestroy) -> None:
    destroyed.append(event.capsule_id)


@router.on("capsule.*", outcome="error")
def any_capsule_failure(event: Event) -> None:
    log.warning("%s failed for %s", event.event, event.resource.id)
