"""The AWS Lambda handler, invoked with API Gateway REST API events (payload format 1.0).

``aws_lambda_http_api_client.py`` (format 2.0) and ``aws_lambda_function_url_client.py``
(function URLs, bodies base64-encoded) run the same suite through the other two
formats, with the ``LambdaClient`` defined here. Each request is turned into an
event by the test kit's builders, and the handler's answer back into an ``Answer``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from tests.adapters.contract import PATH, Answer, Client, lower
from wrenn_webhooks import WebhookReceiver
from wrenn_webhooks.aws_lambda import lambda_handler
from wrenn_webhooks.testing import api_gateway_event

BuildEvent = Callable[[bytes, dict[str, str], str, str], dict[str, Any]]
"""``(body, headers, method, path)`` to the event Lambda gives the function."""

SHAPES = {
    "1.0": {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"},
    "2.0": {"statusCode", "headers", "body", "isBase64Encoded"},
}
"""The keys of an answer in each payload format."""


class LambdaClient:
    """Sends each request as one invocation of the receiver's Lambda handler."""

    def __init__(self, receiver: WebhookReceiver, build: BuildEvent, version: str) -> None:
        self.handler = lambda_handler(receiver)
        self.build = build
        self.version = version

    def request(
        self,
        method: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        slash: bool = False,
    ) -> Answer:
        event = self.build(body, dict(headers or {}), method, PATH + "/" * slash)
        # Through JSON and back, as Lambda delivers an event and reads an answer.
        result = json.loads(json.dumps(self.handler(json.loads(json.dumps(event)), None)))
        assert set(result) == SHAPES[self.version], result
        assert result["isBase64Encoded"] is False
        if self.version == "1.0":
            assert result["multiValueHeaders"] == {k: [v] for k, v in result["headers"].items()}
        answer_headers = lower(result["headers"])
        is_json = answer_headers.get("content-type", "").startswith("application/json")
        return Answer(
            result["statusCode"], json.loads(result["body"]) if is_json else None, answer_headers
        )


def rest_api_event(body: bytes, headers: dict[str, str], method: str, path: str) -> dict[str, Any]:
    return api_gateway_event(body, headers, version="1.0", method=method, path=path)


@contextmanager
def make_client(receiver: WebhookReceiver) -> Iterator[Client]:
    yield LambdaClient(receiver, rest_api_event, "1.0")
