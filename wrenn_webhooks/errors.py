"""The exception tree: one root, each class knowing the HTTP status it maps to.

Nothing here imports from the rest of the package, so every module can raise
these errors and every adapter can map them with a single ``except``.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "HandlerError",
    "InvalidPayload",
    "MalformedHeaderError",
    "MissingHeaderError",
    "PayloadTooLargeError",
    "RequestError",
    "SignatureError",
    "SignatureMismatchError",
    "StoreError",
    "TimestampOutsideToleranceError",
    "WrennWebhookError",
]


class WrennWebhookError(Exception):
    """Root of every error the SDK raises.

    Attributes:
        status_code: The HTTP status an adapter answers with for this error.
        troubleshooting: The anchor of this error's section on the docs'
            Troubleshooting page, such as ``"401-wrong-secret"``; the log line
            of a refused delivery names it (``see=troubleshooting#...``).
    """

    status_code: int = 500
    troubleshooting: str = "500"


class ConfigurationError(WrennWebhookError, ValueError):
    """The SDK was set up wrongly, for example with no secret.

    Raised at construction or registration time, never for request content.
    """


class SignatureError(WrennWebhookError):
    """A delivery's signature headers are missing, malformed, stale or wrong (401)."""

    status_code = 401
    troubleshooting = "401"


class MissingHeaderError(SignatureError):
    """A required header is absent."""

    troubleshooting = "401-missing-header"


class MalformedHeaderError(SignatureError):
    """A header is present but not in the form Wrenn sends."""

    troubleshooting = "401-malformed-header"


class TimestampOutsideToleranceError(SignatureError):
    """The signed timestamp is too far in the past or the future.

    Attributes:
        skew: Seconds between the receiver's clock and the signed timestamp;
            positive when the timestamp lies in the past.
    """

    troubleshooting = "401-timestamp"

    def __init__(self, message: str, *, skew: float) -> None:
        super().__init__(message)
        self.skew = skew


class SignatureMismatchError(SignatureError):
    """No configured secret produces the delivery's signature."""

    troubleshooting = "401-wrong-secret"


class PayloadTooLargeError(WrennWebhookError):
    """The body is larger than the receiver accepts (413)."""

    status_code = 413
    troubleshooting = "413"


class RequestError(WrennWebhookError):
    """An adapter refused the request before the receiver could read it (400 by default).

    A broken ``Content-Length``, a body cut short, a method other than POST:
    what only the web framework's side of the request shows. Adapters pass it
    to ``WebhookReceiver.refused()`` so the answer is logged and observed.
    """

    status_code = 400
    troubleshooting = "400-framing"

    def __init__(
        self, message: str, *, status_code: int = 400, troubleshooting: str = "400-framing"
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.troubleshooting = troubleshooting


class InvalidPayload(WrennWebhookError):  # noqa: N818 - public name fixed by the API
    """The body is correctly signed but is not a valid Wrenn event (400)."""

    status_code = 400
    troubleshooting = "400-invalid-event"


class HandlerError(WrennWebhookError):
    """A handler raised; the original exception is the ``__cause__`` (500).

    Attributes:
        failures: ``(handler name, exception)`` for every handler that failed.
    """

    def __init__(self, message: str, failures: tuple[tuple[str, BaseException], ...] = ()) -> None:
        super().__init__(message)
        self.failures = failures


class StoreError(WrennWebhookError):
    """The idempotency store or the inbox could not be reached or written (503)."""

    status_code = 503
    troubleshooting = "503"
