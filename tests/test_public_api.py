from __future__ import annotations

import subprocess
import sys

import wrenn_webhooks
from wrenn_webhooks import errors


def test_all_is_pinned() -> None:
    assert sorted(wrenn_webhooks.__all__) == sorted(
        [
            "Response",
            "WebhookReceiver",
            "Router",
            "UnknownEventTypeWarning",
            "IdempotencyStore",
            "MemoryIdempotencyStore",
            "SQLiteIdempotencyStore",
            "SQLiteInbox",
            "Actor",
            "ActorKind",
            "CapsuleCreate",
            "CapsuleDestroy",
            "CapsulePause",
            "CapsuleResume",
            "CapsuleStateChanged",
            "ChannelTest",
            "ConfigurationError",
            "Delivery",
            "Event",
            "EventType",
            "HandlerError",
            "HostDown",
            "HostUp",
            "InvalidPayload",
            "MalformedHeaderError",
            "MissingHeaderError",
            "Outcome",
            "PayloadTooLargeError",
            "Resource",
            "SignatureError",
            "SignatureMismatchError",
            "SnapshotCreate",
            "SnapshotDelete",
            "StoreError",
            "TimestampOutsideToleranceError",
            "WrennWebhookError",
            "__version__",
            "encode_event",
            "parse_event",
            "sign",
            "verify",
        ]
    )
    for name in wrenn_webhooks.__all__:
        assert hasattr(wrenn_webhooks, name), name


def test_every_error_descends_from_one_root() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.WrennWebhookError)


def test_core_imports_no_framework() -> None:
    code = (
        "import sys, wrenn_webhooks; "
        "print(sorted(m for m in ('flask', 'werkzeug', 'click', 'redis', 'pytest') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_package_is_typed() -> None:
    from importlib.resources import files

    assert files("wrenn_webhooks").joinpath("py.typed").is_file()
