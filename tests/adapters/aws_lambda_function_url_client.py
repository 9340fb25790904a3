"""The AWS Lambda handler behind a function URL (payload format 2.0), bodies base64-encoded.

A function URL base64-encodes a body it does not take for text; sending every body
so runs the whole contract through the handler's decoding.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.adapters.aws_lambda_client import LambdaClient
from tests.adapters.contract import Client
from wrenn_webhooks import WebhookReceiver
from wrenn_webhooks.testing import function_url_event


def url_event(body: bytes, headers: dict[str, str], method: str, path: str) -> dict[str, Any]:
    return function_url_event(body, headers, method=method, path=path, base64_encoded=True)


@contextmanager
def make_client(receiver: WebhookReceiver) -> Iterator[Client]:
    yield LambdaClient(receiver, url_event, "2.0")
