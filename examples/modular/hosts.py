"""Host handlers, registered on their own ``Router``."""

from __future__ import annotations

from wrenn_webhooks import HostDown, HostUp, Router

router = Router()
down: set[str] = set()


@router.on("host.down")
def host_down(event: HostDown) -> None:
    down.add(event.host_id)


@router.on("host.up")
def host_up(event: HostUp) -> None:
    down.discard(event.host_id)
