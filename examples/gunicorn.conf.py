"""Production-style gunicorn settings for the example receiver.

    WRENN_WEBHOOK_SECRET=... .venv/bin/gunicorn -c examples/gunicorn.conf.py examples.receiver:app

Without ``WRENN_WEBHOOK_SECRET`` (or with a blank one) gunicorn stops at once, in
one line; the example itself refuses to load without it too, under any server.
During a rotation, ``WRENN_WEBHOOK_PREVIOUS_SECRET`` holds the secret it replaces.
Each holds one secret, never split on commas, as the example and the Flask
extension read them.

Every worker process shares one SQLite idempotency store, so a redelivery that
lands on another worker is still recognised as a duplicate (or answered 409
while the first attempt runs).

Threads, not sync workers: a client that sends its headers and then holds back the
body (slowly or never) holds whatever reads it, one sync worker or one thread, until
it gives up. 2 workers of 16 threads outlast at least 15 such clients (all of them
may land on one worker), where 2 sync workers are held by 2. Against any number
of slow clients, put nginx in front (``examples/nginx.conf``): it reads every body
whole before passing the request on.
"""

import os
import sys

# Checked here too, before any worker starts: a secret the receiver would refuse
# stops every worker with a traceback, this stops gunicorn with one line.
if not os.environ.get("WRENN_WEBHOOK_SECRET", "").strip():
    sys.exit(
        "set WRENN_WEBHOOK_SECRET to the channel's secret (make run uses a development secret)"
    )
if os.environ.get("WRENN_WEBHOOK_PREVIOUS_SECRET", "").isspace():
    sys.exit(
        "WRENN_WEBHOOK_PREVIOUS_SECRET is blank: set it to the previous secret during a"
        " rotation, or unset it"
    )

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "16"))
# A thread stuck on a handler does not stop its worker's heartbeat: gthread workers are
# killed only when the whole process hangs. Wrenn gives up on an attempt after 10 s.
timeout = 15
graceful_timeout = 10
# No keep-alive: Wrenn sends one request per event, minutes apart, and a connection
# closed after each answer cannot be closed by the server just as the next one reuses it.
keepalive = 0
# Deduplication shared by all workers (and by restarts): one SQLite file in WAL mode.
raw_env = [
    "WRENN_WEBHOOK_STORE="
    + os.environ.get("WRENN_WEBHOOK_STORE", "sqlite:///wrenn-idempotency.db"),
]
accesslog = "-"
# gunicorn 25.1 and later open a control socket, by default one path per user
# ($HOME/.gunicorn/gunicorn.ctl) that every gunicorn on the host then fights over and
# forks around; the receiver has no use for it (older versions ignore this setting).
control_socket_disable = True
