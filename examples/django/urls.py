"""The project's URL configuration: the webhook at /webhooks/wrenn, with or without the slash."""

from __future__ import annotations

from wrenn_webhooks.django import urls

from .webhooks import router

# Builds the receiver, once, from WRENN_WEBHOOK_SECRET and the other settings:
# a mistake in them fails here, so `manage.py check` reports it.
urlpatterns = [*urls(router, "webhooks/wrenn")]
