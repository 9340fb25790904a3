"""The settings of a minimal Django project that receives Wrenn webhooks.

Run it with ``WRENN_WEBHOOK_SECRET=... gunicorn examples.django.wsgi:application``.
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
    "django.middleware.common.CommonMiddleware",  # APPEND_SLASH: never for the webhook
    "django.middleware.csrf.CsrfViewMiddleware",  # on for the project; the webhook is exempt
]
USE_TZ = True

# The channel's secret, as Wrenn shows it: a string is one secret, never split.
WRENN_WEBHOOK_SECRET = os.environ["WRENN_WEBHOOK_SECRET"]
# During a rotation, the secret it replaces; "" when none is in progress.
WRENN_WEBHOOK_PREVIOUS_SECRET = os.environ.get("WRENN_WEBHOOK_PREVIOUS_SECRET", "")
# "sqlite:///path/to/file.db" to share the records between gunicorn's workers.
WRENN_WEBHOOK_STORE = os.environ.get("WRENN_WEBHOOK_STORE", "memory://")
