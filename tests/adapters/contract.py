"""What every framework adapter is tested through: one client shape, one answer shape.

Each adapter has a module ``tests/adapters/<name>_client.py`` with a
``make_client(receiver)`` context manager that serves ``receiver`` through
that adapter, mounted at ``PATH``, and yields a ``Client``. The shared suite
in ``test_contract.py`` runs every status of the contract through each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from wrenn_webhooks import WebhookReceiver

PATH = "/webhooks/wrenn"
"""Where each client mounts the receiver (without the trailing slash)."""


@dataclass
class Answer:
    """An adapter's answer: status, the JSON body (``None`` if not JSON), headers in lower case."""

    status: int
    body: Any
    headers: Mapping[str, str]


class Client(Protocol):
    """Sends requests to a receiver served through one adapter."""

    def request(
        self,
        method: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        slash: bool = False,
    ) -> Answer:
        """Send ``method`` to ``PATH`` (``PATH + "/"`` with ``slash``) and return the answer."""
        ...


ClientFactory = Callable[[WebhookReceiver], AbstractContextManager[Client]]


def lower(headers: Iterator[tuple[str, str]] | Mapping[str, str]) -> dict[str, str]:
    """Headers keyed in lower case, as the suite reads them."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {name.lower(): value for name, value in items}
