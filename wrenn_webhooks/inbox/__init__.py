"""The durable inbox: store each event before answering, handle it in workers."""

from __future__ import annotations

from .base import Inbox

__all__ = ["Inbox"]
