"""The AWS Lambda handler, invoked with API Gateway HTTP API events (payload format 2.0)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.adapters.aws_lambda_client import LambdaClient
from tests.adapters.contract import Client
from wrenn_webhooks import WebhookReceiver
from wrenn_webhooks.testing import api_gateway_event


def http_api_event(body: bytes, headers: dict[str, str], method: str, path: str) -> dict[str, Any]:
    return api_gateway_event(body, headers, version="2.0", method=method, path=path)


@contextmanager
def make_client(receiver: WebhookReceiver) -> Iterator[Client]:
    yield LambdaClient(receiver, http_api_event, "2.0")
