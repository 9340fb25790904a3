"""The tests' default URL configuration: empty; each test overrides ``ROOT_URLCONF``."""

from __future__ import annotations

from typing import Any

urlpatterns: list[Any] = []
