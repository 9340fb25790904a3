"""The project's URL configuration: the webhook on both spellings of its path."""

from __future__ import annotations

from typing import Any

from wrenn_webhooks.django import urls

from .webhooks import receiver

urlpatterns: list[Any] = [*urls(receiver, "webhooks/wrenn")]
