from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.vectors import SECRET


@pytest.fixture
def secret() -> str:
    return SECRET


@pytest.fixture
def now() -> datetime:
    """A frozen clock: the signing time of the sample vector."""
    return datetime(2026, 5, 24, 21, 10, 37, tzinfo=timezone.utc)
