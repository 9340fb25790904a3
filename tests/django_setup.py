"""Django's settings for the tests, configured once per process (Django allows no more)."""

from __future__ import annotations

import django
from django.conf import settings


def configure() -> None:
    """Configure Django for the tests, once; later calls change nothing."""
    if settings.configured:
        return
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
        USE_TZ=True,
        WRENN_WEBHOOK_SECRET="d" * 64,
    )
    django.setup()
