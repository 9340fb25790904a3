from __future__ import annotations

import subprocess
import sys

import wrenn_webhooks
from wrenn_webhooks import errors
from wrenn_webhooks.events import EVENT_CLASSES


def test_all_is_pinned() -> None:
    assert sorted(wrenn_webhooks.__all__) == sorted(
        [
            # one class per EventType member, checked below
            *(cls.__name__ for cls in EVENT_CLASSES.values()),
            "Response",
            "WebhookReceiver",
            "Router",
            "UnknownEventTypeWarning",
            "WeakSecretWarning",
            "IdempotencyStore",
            "MemoryIdempotencyStore",
            "SQLiteIdempotencyStore",
            "SQLiteInbox",
            "Actor",
            "ActorKind",
            "ConfigurationError",
            "Delivery",
            "Event",
            "EventType",
            "HandlerError",
            "InvalidPayload",
            "MalformedHeaderError",
            "MissingHeaderError",
            "Outcome",
            "PayloadTooLargeError",
            "RequestError",
            "Resource",
            "SignatureError",
            "SignatureMismatchError",
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


def test_every_class_of_the_table_is_exported() -> None:
    """Exports are written out for type checkers: a new event type must be added there."""
    exported = [name for name in wrenn_webhooks.__all__ if name in wrenn_webhooks.events.__all__]
    classes = [cls.__name__ for cls in EVENT_CLASSES.values()]
    missing = [name for name in classes if name not in wrenn_webhooks.__all__]
    assert not missing, f"add to wrenn_webhooks/__init__.py (import and __all__): {missing}"
    for cls in EVENT_CLASSES.values():
        assert getattr(wrenn_webhooks, cls.__name__) is cls
    assert [name for name in exported if name in classes] == classes  # in the table's order


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
