"""The example project's settings with the async view's URL configuration, for uvicorn."""

from __future__ import annotations

from examples.django.settings import (  # noqa: F401  (Django reads them from this module)
    ALLOWED_HOSTS,
    DEBUG,
    INSTALLED_APPS,
    MIDDLEWARE,
    SECRET_KEY,
    USE_TZ,
    WRENN_WEBHOOK_PREVIOUS_SECRET,
    WRENN_WEBHOOK_SECRET,
    WRENN_WEBHOOK_STORE,
)

ROOT_URLCONF = "examples.django.async_urls"
