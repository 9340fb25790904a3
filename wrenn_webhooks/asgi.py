"""The ASGI adapter: a plain ASGI application over ``WebhookReceiver.handle_async()``.

Two ways to serve it. In Starlette or FastAPI, add its routes, which answer the
path with and without the trailing slash::

    app = Starlette(routes=[*routes(receiver, "/webhooks/wrenn"), ...])
    app.router.routes.extend(routes(receiver, "/webhooks/wrenn"))   # FastAPI

or, on its own, as the top-level application of any ASGI server::

    app = asgi_app(receiver, path="/webhooks/wrenn")    # uvicorn module:app

Not ``app.mount(...)``: a ``Mount`` answers the path without the trailing slash
with a 307 redirect before the application sees it, and Wrenn does not follow
redirects (protocol notes, "Transport"), so every delivery to that spelling
would fail. The application itself imports nothing but the SDK; ``routes()``
imports Starlette (the ``asgi`` extra).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

from ._headers import is_content_length
from .errors import ConfigurationError, RequestError
from .receiver import Response, WebhookReceiver

if TYPE_CHECKING:
    from starlette.routing import Route

__all__ = ["ASGIApp", "asgi_app", "routes"]

logger = logging.getLogger("wrenn_webhooks")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
"""An ASGI 3 application, as Starlette's ``starlette.types.ASGIApp`` spells it."""

_BAD_LENGTH = "Content-Length must be 1 to 19 ASCII digits"
_CUT_SHORT = "the body ended before its Content-Length"
# The answers are flat dicts built here and in the receiver: no cycles to look for.
_encode = json.JSONEncoder(check_circular=False).encode


def asgi_app(receiver: WebhookReceiver, *, path: str | None = None) -> ASGIApp:
    """Return an ASGI application that runs ``receiver.handle_async()`` for each ``POST``.

    The raw body is read from ``receive()`` and never past ``max_body_bytes``
    plus one chunk: a declared ``Content-Length`` over the limit is answered
    413 before any of the body is read, one that is not 1 to 19 ASCII digits
    400, and a body without a length (chunked) 413 once it passes the limit.
    Other methods are answered 405 with ``Allow: POST``, and a client that
    goes away before its body ends gets no answer and runs no handler.
    ``async def`` handlers are awaited on the server's event loop; plain ones,
    and the calls of a store that may block, run in worker threads.

    As the top-level application it also answers the lifespan protocol
    (start-up and shutdown complete at once) and refuses WebSocket connections.

    Args:
        receiver: The receiver to run.
        path: Answer this path only, with or without the trailing slash, and 404
            any other (after removing the scope's ``root_path``). ``None``, the
            default, answers every path: for an application that a router
            (``routes()``) hands the requests for one path.

    Raises:
        ConfigurationError: ``receiver`` is not a ``WebhookReceiver``, or
            ``path`` does not start with ``/``.
    """
    return _ReceiverApp(receiver, path)


def routes(receiver: WebhookReceiver, path: str, *, name: str = "wrenn_webhooks") -> list[Route]:
    """Return the Starlette routes that serve ``receiver`` at ``path``, slash or not.

    Two ``Route`` objects over one ``asgi_app(receiver)``: ``path`` and
    ``path + "/"``, so that both spellings are answered directly (Wrenn does
    not follow the redirect a router or a ``Mount`` sends for the other one).
    The second is left out of OpenAPI schemas. Add them to a Starlette app's
    ``routes``, a FastAPI app's ``app.router.routes`` or an ``APIRouter``'s.

    Args:
        receiver: The receiver to run.
        path: The URL path to give Wrenn, such as ``"/webhooks/wrenn"``; a
            trailing slash makes no difference.
        name: The route's name, for ``url_path_for(name)``.

    Raises:
        ConfigurationError: ``receiver`` is not a ``WebhookReceiver``, or
            ``path`` does not start with ``/``.
        ImportError: Starlette is not installed (``pip install 'wrenn-webhooks[asgi]'``).
    """
    try:
        from starlette.routing import Route
    except ImportError as exc:
        raise ImportError(
            "wrenn_webhooks.asgi.routes() needs Starlette: pip install 'wrenn-webhooks[asgi]'"
        ) from exc
    base = _base_path(path)
    app = _ReceiverApp(receiver, None)
    main = Route(base or "/", app, name=name)
    if not base:
        return [main]
    return [main, Route(base + "/", app, name=f"{name}_slash", include_in_schema=False)]


def _base_path(path: str) -> str:
    """``path`` without its trailing slashes ("" for the root), checked."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigurationError(f"the webhook path must start with '/', not {path!r}")
    return path.rstrip("/")


class _ReceiverApp:
    """The application ``asgi_app()`` returns: an object, so routers treat it as ASGI.

    (Starlette's ``Route`` wraps a plain function as a request handler, but
    passes the requests for its path to any other callable as they come.)
    """

    def __init__(self, receiver: WebhookReceiver, path: str | None) -> None:
        if not isinstance(receiver, WebhookReceiver):
            raise ConfigurationError(
                f"the ASGI app serves a WebhookReceiver, not {type(receiver).__name__}"
            )
        self.receiver = receiver
        self.paths: frozenset[str] | None = None
        if path is not None:
            base = _base_path(path)  # "" for "/": the route path of a request to root_path
            self.paths = frozenset({base, base + "/"})

    def __repr__(self) -> str:
        where = "every path" if self.paths is None else max(self.paths)
        return f"<wrenn_webhooks ASGI app for {self.receiver!r} at {where}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection: an HTTP request, a lifespan, or a WebSocket (refused)."""
        kind = scope["type"]
        if kind == "http":
            response = self._refusal(scope)
            if response is None:
                response = await self._deliver(_header_map(scope["headers"]), receive)
            if response is not None:
                await _answer(send, response)
        elif kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "websocket":
            # Closed before it is accepted: the server answers the handshake 403.
            await send({"type": "websocket.close", "code": 1008})
        else:  # the ASGI specification: raise for a scope type the app does not know
            raise ConfigurationError(f"the Wrenn webhook app serves HTTP, not {kind!r}")

    def _refusal(self, scope: Scope) -> Response | None:
        """The 404 for another path or the 405 for another method; ``None`` to go on."""
        if self.paths is not None and _route_path(scope) not in self.paths:
            return Response(404, {"ok": False, "error": "not found"})  # not this receiver's
        if scope["method"] != "POST":
            refusal = RequestError(
                "only POST is allowed here", status_code=405, troubleshooting="405"
            )
            return self.receiver.refused(refusal, _header_map(scope["headers"]), Allow="POST")
        return None

    async def _deliver(self, headers: dict[str, str], receive: Receive) -> Response | None:
        """Read the body within the limit and run the receiver; ``None`` if the client left."""
        receiver = self.receiver
        limit = receiver.max_body_bytes
        declared = headers.get("content-length")
        length = None
        if declared is not None:
            # int() alone would take "-1", "²" or " 1_0", and raise on 5,000 digits.
            if not is_content_length(declared):
                return receiver.refused(RequestError(_BAD_LENGTH), headers)
            length = int(declared)
            if length > limit:  # answered at once, not after the client sent it all
                return receiver.too_large(headers)
        body = await _read_body(receive, limit)
        if body is None:
            # The client went away mid-body (Wrenn's own timeout is 10 s), or the
            # server refused the body's framing and answered 400 itself: either
            # way there is no whole body to verify, and no one left to answer.
            logger.warning("wrenn delivery: the request ended before its body did; no answer")
            return None
        if len(body) > limit:
            return receiver.too_large(headers)
        if length is not None and len(body) != length:
            return receiver.refused(RequestError(_CUT_SHORT), headers)
        return await receiver.handle_async(body, headers)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or its first chunks once they pass ``limit``; ``None`` on disconnect."""
    message = await receive()
    if message["type"] != "http.request":
        return None
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body  # the usual case: the whole body in one message
    chunks = [body]
    size = len(body)
    while size <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk: bytes = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    # Past the limit, nothing more is read: the answer is 413 whatever follows.
    return b"".join(chunks)


def _header_map(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The request's headers by lower-case name, a repeated one joined with ``", "``.

    Joined as HTTP combines a repeated field, and as a WSGI server does: a
    signature sent twice reads as one malformed value (401), not as the first.
    """
    headers: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        if key in headers:
            text = f"{headers[key]}, {text}"
        headers[key] = text
    return headers


def _route_path(scope: Scope) -> str:
    """The request's path inside the application: ``path`` less ``root_path``."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :]
    return path


async def _answer(send: Send, response: Response) -> None:
    """Send ``response``: its status, its headers and its body as JSON."""
    payload = _encode(response.body).encode()
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.items()
    ]
    headers.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _lifespan(receive: Receive, send: Send) -> None:
    """Answer the lifespan protocol: nothing to start or stop, so complete both at once."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
