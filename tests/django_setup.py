"""Django's settings for the tests, configured once per process (Django allows no more).

Every test module that uses Django in this process calls ``configure()``; a test
mounts its own views with ``override_settings(ROOT_URLCONF=...)`` and changes
other settings the same way, so no test leaves settings behind for another.
The example project runs in processes of its own (gunicorn, ``manage.py``).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("django")

import django
from django.conf import settings

SECRET = "d" * 64
"""``WRENN_WEBHOOK_SECRET`` in the tests' settings."""


def configure() -> None:
    """Configure Django for the tests, once; later calls change nothing."""
    if settings.configured:
        return
    # A database file of this process's own, for the handlers that use the ORM: an
    # in-memory SQLite database is one per connection, and Django never closes those.
    folder = Path(tempfile.mkdtemp(prefix="wrenn-django-tests-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only-" + "k" * 40,
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF="tests.django_urls",
        APPEND_SLASH=True,  # the webhook's path must answer both spellings all the same
        MIDDLEWARE=[
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
        ],
        INSTALLED_APPS=[],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(folder / "db.sqlite3")}
        },
        USE_TZ=True,
        WRENN_WEBHOOK_SECRET=SECRET,
    )
    django.setup()
