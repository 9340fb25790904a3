"""The AWS Lambda adapter: a handler for API Gateway and function URL events.

Build the receiver once per container, at module level, and hand Lambda the
handler this module makes for it::

    receiver = WebhookReceiver(os.environ["WRENN_WEBHOOK_SECRET"])
    handler = lambda_handler(receiver)       # the function's handler: "module.handler"

Three event formats reach it, told apart by the event itself:

- an API Gateway REST API (payload format 1.0): ``httpMethod``, ``headers``
  and ``multiValueHeaders``, ``body``, ``isBase64Encoded``; an HTTP API set to
  payload format 1.0 sends the same, with ``"version": "1.0"``;
- an API Gateway HTTP API (payload format 2.0): ``"version": "2.0"``,
  ``requestContext.http.method``, header names in lower case and a repeated
  header's values joined with commas, cookies apart in ``cookies``;
- a Lambda function URL: the 2.0 format.

Each answer has the shape of the format its event came in. Only the standard
library is used: no boto3, no call to AWS.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from . import _headers
from .errors import MalformedHeaderError, RequestError
from .receiver import Response, WebhookReceiver

__all__ = ["LambdaHandler", "lambda_handler"]

logger = logging.getLogger("wrenn_webhooks")

_V1 = "1.0"
"""Payload format 1.0: API Gateway REST APIs, and HTTP APIs set to it."""
_V2 = "2.0"
"""Payload format 2.0: API Gateway HTTP APIs (their default) and Lambda function URLs."""


class LambdaHandler(Protocol):
    """A Lambda handler: an API Gateway or function URL event in, the answer out."""

    def __call__(self, event: object, context: object = None) -> dict[str, Any]:
        """Answer one invocation; ``context`` (Lambda's) is not used."""
        ...


def lambda_handler(receiver: WebhookReceiver) -> LambdaHandler:
    """Return a Lambda handler that runs each event through ``receiver.handle()``.

    The event's payload format, 1.0 (REST APIs) or 2.0 (HTTP APIs, function
    URLs), is read from the event itself (``version``, else ``httpMethod`` for
    1.0 or ``requestContext.http`` for 2.0), and the answer takes the shape
    that format expects: ``statusCode``, ``headers``, ``body`` (the JSON text
    of ``Response.body``) and ``isBase64Encoded``, plus ``multiValueHeaders``
    for 1.0.

    Before the receiver sees anything, in this order:

    | the event                                              | status               |
    |--------------------------------------------------------|----------------------|
    | not a JSON object, or of neither payload format        | 400                  |
    | a method other than ``POST``                           | 405, ``Allow: POST`` |
    | no body, or a body or header that is not text          | 400                  |
    | a body over ``max_body_bytes`` (measured, not decoded) | 413                  |
    | a Wrenn header sent twice, or holding a comma          | 401                  |
    | ``isBase64Encoded`` and a body that is not base64      | 400                  |

    Then ``handle()`` answers, with the statuses of its own table. Lambda has
    already buffered the whole body: its size is checked first, on the text
    Lambda was given, so an oversized body is neither decoded nor verified.

    A Wrenn header arrives once, and none of its values holds a comma. The 2.0
    format joins a repeated header's values with commas, the 1.0 format lists
    them: either way a header sent twice, even with the same value, is refused
    rather than one of its values picked.

    Never raises for anything the event contains. A ``ConfigurationError`` from
    the receiver (the application's mistake, not the request's) propagates:
    Lambda reports the invocation as failed, API Gateway or the function URL
    answers with a 5xx, and Wrenn retries.
    """

    def handler(event: object, context: object = None) -> dict[str, Any]:
        version = _format(event)
        request = _request(event, version, receiver)
        if not isinstance(request, Response):
            response = receiver.handle(*request)
        elif isinstance(request.error, (RequestError, MalformedHeaderError)):  # _refused()
            allow = {"Allow": request.headers["Allow"]} if "Allow" in request.headers else {}
            response = receiver.refused(request.error, {}, **allow)
        else:  # too_large(): logged and observed already
            response = request
        return _result(version, response)

    return handler


def _refused(status: int, error: str, **headers: str) -> Response:
    """An answer given before the receiver; ``handler`` has the receiver log and observe it."""
    answer = {"ok": False, "error": error}
    if status == 401:
        return Response(status, answer, error=MalformedHeaderError(error))
    anchor = {405: "405"}.get(status, "400-framing")
    refusal = RequestError(error, status_code=status, troubleshooting=anchor)
    return Response(status, answer, {"Content-Type": "application/json", **headers}, error=refusal)


def _format(event: object) -> str | None:
    """The payload format of ``event``, ``"1.0"`` or ``"2.0"``; ``None`` for neither."""
    if not isinstance(event, Mapping):
        return None
    version = event.get("version")
    if version is None:
        if "httpMethod" in event:
            return _V1
        context = event.get("requestContext")
        return _V2 if isinstance(context, Mapping) and "http" in context else None
    return version if version in (_V1, _V2) else None


def _request(
    event: object, version: str | None, receiver: WebhookReceiver
) -> Response | tuple[bytes, dict[str, str]]:
    """The body and headers of ``event``, or its answer from the table of ``lambda_handler``."""
    if version is None or not isinstance(event, Mapping):
        return _refused(
            400,
            "not an API Gateway or Lambda function URL event: expected payload format 1.0"
            " (httpMethod) or 2.0 (version and requestContext.http)",
        )
    method = _method(event, version)
    if isinstance(method, Response):
        return method
    if method != "POST":
        return _refused(405, "only POST is allowed: Wrenn delivers with POST", Allow="POST")
    headers = _header_map(event, version)
    if isinstance(headers, Response):
        return headers
    body = _body(event)
    if isinstance(body, Response):
        return body
    text, encoded = body
    # The decoded size, before any decoding: base64 gives 3 bytes per 4 characters,
    # and no character takes less than one byte in UTF-8.
    size = len(text) // 4 * 3 - text[-2:].count("=") if encoded else len(text)
    if size > receiver.max_body_bytes:
        return receiver.too_large(headers)  # the receiver's own answer and log line
    repeated = _repeated(headers)
    if repeated is not None:
        return _refused(
            401, f"{repeated} was sent more than once (or holds a comma); Wrenn sends it once"
        )
    decoded = _decoded(text, encoded)
    return decoded if isinstance(decoded, Response) else (decoded, headers)


def _method(event: Mapping[Any, Any], version: str) -> str | Response:
    if version == _V1:
        method = event.get("httpMethod")
    else:
        context = event.get("requestContext")
        http = context.get("http") if isinstance(context, Mapping) else None
        method = http.get("method") if isinstance(http, Mapping) else None
    if not isinstance(method, str):
        where = "httpMethod" if version == _V1 else "requestContext.http.method"
        return _refused(400, f"the event's {where} must be a string")
    return method


def _header_map(event: Mapping[Any, Any], version: str) -> dict[str, str] | Response:
    """The headers in lower case, a repeated one's values joined with commas, as 2.0 has them.

    Format 1.0 has ``headers`` (the last value of each) and ``multiValueHeaders``
    (all of them): the latter when present, else the former.
    """
    multi = event.get("multiValueHeaders") if version == _V1 else None
    source = multi if multi is not None else event.get("headers")
    if source is None:
        return {}
    if not isinstance(source, Mapping):
        return _refused(400, "the event's headers must be a JSON object")
    folded: dict[str, str] = {}
    for name, value in source.items():
        values = value if multi is not None and isinstance(value, list) else [value]
        if not isinstance(name, str) or not all(isinstance(v, str) for v in values):
            return _refused(400, "the event's header names and values must be strings")
        key = name.lower()
        # Two spellings of one name are one header given twice.
        folded[key] = ",".join([folded[key], *values]) if key in folded else ",".join(values)
    return folded


def _repeated(headers: dict[str, str]) -> str | None:
    """The first Wrenn header given more than once: Wrenn sends each once, without a comma."""
    for name in _headers.NAMES:
        if "," in headers.get(name.lower(), ""):
            return name
    return None


def _body(event: Mapping[Any, Any]) -> tuple[str, bool] | Response:
    """The event's ``body`` text and whether it is base64."""
    text = event.get("body")
    if text is None:
        return _refused(400, "the request has no body: Wrenn sends a JSON event")
    if not isinstance(text, str):
        return _refused(400, "the event's body must be a string")
    encoded = event.get("isBase64Encoded", False)
    if not isinstance(encoded, bool):
        return _refused(400, "the event's isBase64Encoded must be true or false")
    return text, encoded


def _decoded(text: str, encoded: bool) -> bytes | Response:
    """The body's bytes: ``text`` in UTF-8, or decoded from base64."""
    if not encoded:
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, from a "\ud800" in the event's JSON
            return _refused(400, "the body is not valid Unicode text")
    try:
        body = base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error, or a character outside ASCII
        body = None
    # Python takes excess padding ("QQ===") and stray low bits ("QR=="), which RFC 4648
    # does not: only the one text API Gateway would have sent for these bytes is base64.
    if body is None or base64.b64encode(body).decode("ascii") != text:
        return _refused(400, "isBase64Encoded is true but the body is not valid base64")
    return body


def _result(version: str | None, response: Response) -> dict[str, Any]:
    """The Lambda answer to API Gateway or the function URL, in ``version``'s shape.

    An event of no known format gets the 2.0 shape, which 1.0 accepts too.
    """
    headers = dict(response.headers)
    result: dict[str, Any] = {
        "statusCode": response.status_code,
        "headers": headers,
        "body": _encode(response.body),
        "isBase64Encoded": False,
    }
    if version == _V1:
        result["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
    return result


# The answers are flat dicts built here and in the receiver: no cycles to look for.
_encode = json.JSONEncoder(check_circular=False).encode
