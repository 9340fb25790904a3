"""Trace deliveries with OpenTelemetry, from Wrenn's request to the inbox worker's handlers.

Serve it with ``flask --app examples.tracing run`` and run its handlers with
``wrenn-webhooks worker examples.tracing:receiver``: both processes import this module,
so both set up tracing. Set ``WRENN_WEBHOOK_SECRET``, and ``WRENN_INBOX_DB`` to choose
the inbox file. The spans are printed; in production export them with OTLP instead.
"""

from __future__ import annotations

import logging
import os

from flask import Flask
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from wrenn_webhooks import CapsulePause, WebhookReceiver
from wrenn_webhooks.flask import blueprint
from wrenn_webhooks.inbox import SQLiteInbox
from wrenn_webhooks.tracing import Tracing

log = logging.getLogger("examples.tracing")

# Once per process, at start-up. With opentelemetry-exporter-otlp installed:
# BatchSpanProcessor(OTLPSpanExporter()) sends the spans to a collector.
provider = TracerProvider(resource=Resource.create({"service.name": "billing-webhooks"}))
provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("examples.tracing")

inbox = SQLiteInbox(os.environ.get("WRENN_INBOX_DB", "wrenn-inbox.db"))
receiver = WebhookReceiver(os.environ["WRENN_WEBHOOK_SECRET"], inbox=inbox)
receiver.add_observer(Tracing())  # spans go to the provider set above


@receiver.on("capsule.pause", outcome="error")
def page_on_call(event: CapsulePause) -> None:
    # Runs in the worker, under the span "wrenn handler examples.tracing.page_on_call",
    # in the trace of the request that stored the event: so does this span of its own.
    with tracer.start_as_current_span("page on-call") as span:
        span.set_attribute("capsule.id", event.capsule_id)
        log.error("PAGE capsule %s failed to pause: %s", event.capsule_id, event.error)


app = Flask(__name__)
app.register_blueprint(blueprint(receiver), url_prefix="/webhooks/wrenn")
