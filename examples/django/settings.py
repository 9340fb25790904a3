"""A minimal Django project serving the webhook (``examples.django.settings``).

Run: ``WRENN_WEBHOOK_SECRET=... gunicorn examples.django.wsgi:application``.
"""

from __future__ import annotations

import os
import secrets

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_hex(32)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "examples.django.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",  # APPEND_SLASH: the webhook answers both
    "django.middleware.csrf.CsrfViewMiddleware",  # the webhook's view is exempt
]
USE_TZ = True

WRENN_WEBHOOK_SECRET = os.environ["WRENN_WEBHOOK_SECRET"]  # the channel's secret, as given
WRENN_WEBHOOK_PREVIOUS_SECRET = os.environ.get("WRENN_WEBHOOK_PREVIOUS_SECRET", "")
WRENN_WEBHOOK_STORE = os.environ.get("WRENN_WEBHOOK_STORE", "memory://")  # sqlite:///... shared
