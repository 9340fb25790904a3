"""Production-style gunicorn settings for the example receiver.

    .venv/bin/gunicorn -c examples/gunicorn.conf.py examples.receiver:app

Every worker process shares one SQLite idempotency store, so a redelivery that
lands on another worker is still recognised as a duplicate (or answered 409
while the first attempt runs).
"""

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
# Wrenn gives up on an attempt after 10 s; a worker stuck longer is no use.
timeout = 15
graceful_timeout = 10
# Deduplication shared by all workers (and by restarts): one SQLite file in WAL mode.
raw_env = [
    "WRENN_WEBHOOK_STORE="
    + os.environ.get("WRENN_WEBHOOK_STORE", "sqlite:///wrenn-idempotency.db"),
]
accesslog = "-"
