"""The durable inbox: store each event before answering, handle it in workers."""

from __future__ import annotations

from .base import Inbox, InboxItem
from .sqlite import SQLiteInbox
from .worker import Worker

__all__ = ["Inbox", "InboxItem", "SQLiteInbox", "Worker"]
