"""The webhook on Django's async view, for a project served over ASGI (uvicorn, Daphne).

The URL configuration of ``urls.py`` with ``asynchronous=True``.
"""

from __future__ import annotations

from wrenn_webhooks import CapsuleDestroy, CapsulePause, Router
from wrenn_webhooks.django import urls

router = Router()


@router.on(CapsulePause, outcome="error")
async def pause_failed(event: CapsulePause) -> None:
    # Awaited on the server's event loop: the ORM through its async methods only,
    # such as `await Incident.objects.acreate(...)`.
    print(f"capsule {event.capsule_id} failed to pause: {event.error}")


@router.on(CapsuleDestroy)
def destroyed(event: CapsuleDestroy) -> None:
    # A plain handler runs in a worker thread, so it may block: on the ORM's
    # synchronous calls here, see "Async" in the documentation.
    print(f"capsule {event.capsule_id} destroyed")


urlpatterns = [*urls(router, "webhooks/wrenn", asynchronous=True)]
