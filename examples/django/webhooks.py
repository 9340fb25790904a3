"""The handlers, on a ``Router``: ``urls.py`` serves them with a receiver built from settings."""

from __future__ import annotations

from wrenn_webhooks import CapsulePause, Router

router = Router()


@router.on(CapsulePause, outcome="error")
def pause_failed(event: CapsulePause) -> None:
    # A plain handler runs in the request's thread, as the code of any Django view
    # does: the ORM works here as usual.
    print(f"capsule {event.capsule_id} failed to pause: {event.error}")
