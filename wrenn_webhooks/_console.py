"""The inbox console: a Flask blueprint to see a durable inbox and act on it.

Pages only read the inbox (``stats``, ``activity``, ``list``, ``get``); the three
actions (``retry``, ``retry_dead``, ``purge``) are POST forms, each carrying a token
signed for that action and event that expires after ``TOKEN_MAX_AGE`` seconds.
"""

from __future__ import annotations

import builtins
import json
import math
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, Literal, Protocol

from flask import (
    Blueprint,
    Request,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from .errors import ConfigurationError, StoreError
from .inbox.base import INBOX_ERROR, InboxItem

__all__ = ["TOKEN_MAX_AGE", "ConsoleInbox", "console"]

TOKEN_MAX_AGE = 600
"""Seconds an action's token stays valid after the page that holds it was rendered."""
_EXTENSION = "wrenn_webhooks.console"
"""``app.extensions`` key: the token serializer of each console, by blueprint name."""
_STATES = ("pending", "failed", "dead")
_INBOX_METHODS = ("stats", "activity", "list", "get", "retry", "retry_dead", "purge")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MINUTES = 60
_HEADERS = {
    # No script at all, no external resource: styles are inline, the chart is inline SVG.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline';"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
_NOTICES = {
    "retried": "Event {n} is due now.",
    "not-retried": "Event {n} is done or gone: nothing to retry.",
    "retried-dead": "{n} dead events are due now.",
    "purged": "Purged {n} done events.",
}


class ConsoleInbox(Protocol):
    """What the console uses of an inbox: ``SQLiteInbox`` and ``RedisInbox`` have it all."""

    def stats(self, *, now: float | None = None) -> dict[str, int | float | None]: ...

    def activity(
        self, *, now: float | None = None, minutes: int = 60
    ) -> dict[str, builtins.list[int]]: ...

    def list(
        self,
        status: Literal["pending", "failed", "dead", "done"] | None = None,
        *,
        limit: int = 100,
        offset: int = 0,
        event_type: str | None = None,
        resource_id: str | None = None,
    ) -> builtins.list[InboxItem]: ...

    def get(self, item_id: int) -> InboxItem | None: ...

    def retry(self, item_id: int) -> bool: ...

    def retry_dead(self, *, limit: int | None = None) -> int: ...

    def purge(self, older_than: float, *, now: float | None = None) -> int: ...


def console(
    inbox: ConsoleInbox,
    *,
    authorize: Callable[[Request], bool] | None = None,
    secret_key: str | bytes | None = None,
    name: str = "wrenn_console",
    url_prefix: str | None = None,
    page_size: int = 50,
) -> Blueprint:
    """A blueprint of pages to see ``inbox`` and act on it: retry, retry dead, purge.

    Args:
        inbox: A ``SQLiteInbox`` or ``RedisInbox`` (any ``ConsoleInbox``).
        authorize: Called with each request; ``False`` answers 403 and shows nothing.
            Required: there is no anonymous console.
        secret_key: Signs the actions' tokens; defaults to the app's ``SECRET_KEY``.
        name: The blueprint's name; it also salts the tokens, so that a token of one
            console is refused by another.
        url_prefix: Where to mount it, unless ``register_blueprint`` says.
        page_size: Events per page of a list.

    Raises:
        ConfigurationError: No ``authorize``, an inbox without the methods above, or a
            ``page_size`` below 1; when the blueprint is registered, no secret key.
    """
    if authorize is None or not callable(authorize):
        raise ConfigurationError(
            "the console needs authorize=, a function of the request that returns True"
            " for operators: there is no anonymous console"
        )
    # Looked up as the console will (not isinstance: Python 3.12 checks protocols with
    # getattr_static, which misses methods a wrapper provides through __getattr__).
    if not all(callable(getattr(inbox, method, None)) for method in _INBOX_METHODS):
        raise ConfigurationError(f"the console needs a SQLiteInbox or RedisInbox, not {inbox!r}")
    if page_size < 1:
        raise ConfigurationError("page_size must be at least 1")
    view = _Console(inbox, authorize, secret_key, name, page_size)
    bp = Blueprint(name, __name__, url_prefix=url_prefix, template_folder="templates")
    bp.record_once(view.setup)
    bp.before_request(view.guard)
    bp.after_request(_secured)
    bp.context_processor(view.helpers)
    bp.register_error_handler(StoreError, _unavailable)
    bp.add_url_rule("/", "overview", view.overview)
    bp.add_url_rule("/list/<state>", "events", view.events)
    bp.add_url_rule("/event/<int:item_id>", "event", view.event)
    bp.add_url_rule("/event/<int:item_id>/retry", "retry", view.retry, methods=["POST"])
    bp.add_url_rule("/retry-dead", "retry_dead", view.retry_dead, methods=["POST"])
    bp.add_url_rule("/purge", "purge", view.purge, methods=["POST"])
    return bp


class _Console:
    """The views of one console, over one inbox."""

    def __init__(
        self,
        inbox: ConsoleInbox,
        authorize: Callable[[Request], bool],
        secret_key: str | bytes | None,
        name: str,
        page_size: int,
    ) -> None:
        self.inbox = inbox
        self.authorize = authorize
        self.secret_key = secret_key
        self.name = name
        self.page_size = page_size

    # --- set-up, access and tokens ----------------------------------------------

    def setup(self, state: BlueprintSetupState) -> None:
        """Key the tokens when the blueprint is registered; no key is a configuration error."""
        key = self.secret_key or state.app.config.get("SECRET_KEY")
        if not key:
            raise ConfigurationError(
                f"console {self.name!r} signs its actions: set app.config['SECRET_KEY']"
                " or pass console(..., secret_key=...)"
            )
        serializer = URLSafeTimedSerializer(key, salt=f"wrenn-webhooks-console:{self.name}")
        state.app.extensions.setdefault(_EXTENSION, {})[self.name] = serializer

    def guard(self) -> None:
        """Refuse, with 403 and nothing else, every request ``authorize`` refuses."""
        if not self.authorize(request):
            abort(403)

    def token(self, action: str, item_id: int | None = None) -> str:
        """A token for one action (on one event), for a form of the page."""
        return str(self._serializer().dumps([action, item_id]))

    def check(self, action: str, item_id: int | None = None) -> None:
        """Answer 400 unless the form's token was signed for this action and event."""
        try:
            signed = self._serializer().loads(request.form.get("token", ""), max_age=TOKEN_MAX_AGE)
        except BadData:
            abort(400, "the form's token is missing, altered or expired: reload the page")
        if signed != [action, item_id]:
            abort(400, "the form's token is for another action: reload the page")

    def _serializer(self) -> URLSafeTimedSerializer:
        serializer: URLSafeTimedSerializer = current_app.extensions[_EXTENSION][self.name]
        return serializer

    def helpers(self) -> dict[str, Any]:
        """What every template of the console may call."""
        return {
            "token": self.token,
            "when": _when,
            "age": _age,
            "labels": _labels,
            "states": _STATES,
            "INBOX_ERROR": INBOX_ERROR,
        }

    # --- pages: they only read -----------------------------------------------------

    def overview(self) -> ResponseReturnValue:
        now = time.time()
        stats = self.inbox.stats(now=now)
        chart = _chart(self.inbox.activity(now=now, minutes=_MINUTES), now)
        return _page("overview.html", stats=stats, chart=chart, units=_UNITS)

    def events(self, state: str) -> ResponseReturnValue:
        if state not in _STATES:
            abort(404)
        event_type = request.args.get("type", "").strip() or None
        resource_id = request.args.get("resource", "").strip() or None
        page = max(1, request.args.get("page", 1, type=int) or 1)
        items = self.inbox.list(
            state,  # type: ignore[arg-type]  # one of _STATES
            limit=self.page_size + 1,
            offset=(page - 1) * self.page_size,
            event_type=event_type,
            resource_id=resource_id,
        )
        filters = {"type": event_type or "", "resource": resource_id or ""}
        return _page(
            "list.html",
            state=state,
            items=items[: self.page_size],
            page=page,
            more=len(items) > self.page_size,
            filters=filters,
            now=time.time(),
        )

    def event(self, item_id: int) -> ResponseReturnValue:
        item = self.inbox.get(item_id)
        if item is None:
            abort(404)
        handlers = dict.fromkeys(item.completed, "completed")
        handlers.update(item.last_errors)
        return _page(
            "event.html",
            item=item,
            handlers=sorted(handlers.items()),
            body=_pretty(item.body),
            now=time.time(),
        )

    # --- actions: POST, each with its token ----------------------------------------

    def retry(self, item_id: int) -> ResponseReturnValue:
        self.check("retry", item_id)
        notice = "retried" if self.inbox.retry(item_id) else "not-retried"
        return _back("event", item_id=item_id, notice=notice, n=item_id)

    def retry_dead(self) -> ResponseReturnValue:
        self.check("retry-dead")
        return _back("overview", notice="retried-dead", n=self.inbox.retry_dead())

    def purge(self) -> ResponseReturnValue:
        self.check("purge")
        try:
            amount = float(request.form.get("older_than", ""))
            seconds = amount * _UNITS[request.form.get("unit", "")]
        except (ValueError, KeyError):
            abort(400, "purge needs a number of seconds, minutes, hours or days")
        if not 0 <= seconds < math.inf:
            abort(400, "purge needs a duration of zero or more")
        return _back("overview", notice="purged", n=self.inbox.purge(seconds, now=time.time()))


def _page(template: str, **context: Any) -> str:
    """Render one of the console's templates, with the notice an action left, if any."""
    notice = _NOTICES.get(request.args.get("notice", ""))
    count = request.args.get("n", 0, type=int)
    shown = notice.format(n=count) if notice else None
    return render_template(f"wrenn_webhooks_console/{template}", notice=shown, **context)


def _back(endpoint: str, **values: Any) -> Response:
    """See the outcome of an action on a page (303: the browser GETs it)."""
    return redirect(url_for(f".{endpoint}", **values), code=303)


def _secured(response: Response) -> Response:
    response.headers.update(_HEADERS)
    return response


def _unavailable(error: StoreError) -> ResponseReturnValue:
    page = render_template("wrenn_webhooks_console/unavailable.html", error=str(error))
    return page, 503


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{datetime.fromtimestamp(seconds, timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


def _age(seconds: float | None) -> str:
    """A duration in words: ``"42 s"``, ``"5 min"``, ``"3 h 2 min"``, ``"2 d 4 h"``."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def _labels(item: InboxItem, now: float) -> builtins.list[str]:
    """Its status, then ``"in flight"`` (leased now) or ``"failed"`` (pending after a failure)."""
    if item.lease_until is not None and item.lease_until > now:
        return [item.status, "in flight"]
    return [item.status, "failed"] if item.failed else [item.status]


def _pretty(body: bytes) -> str:
    """The body as indented JSON, or as text if it is not JSON."""
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body.decode("utf-8", "replace")


def _chart(activity: dict[str, builtins.list[int]], now: float) -> dict[str, Any]:
    """Bars for an inline SVG: received and done, per minute, on one scale."""
    received, done = activity["received"], activity["done"]
    top = max(1, *received, *done)
    first = (math.floor(now / 60) - len(received) + 1) * 60

    def bars(counts: Sequence[int], shift: int) -> builtins.list[dict[str, Any]]:
        return [
            {
                "x": 10 * i + shift,
                "height": round(100 * count / top, 1),
                "count": count,
                "minute": f"{datetime.fromtimestamp(first + 60 * i, timezone.utc):%H:%M}",
            }
            for i, count in enumerate(counts)
        ]

    return {
        "received": bars(received, 1),
        "done": bars(done, 5),
        "top": top,
        "width": 10 * len(received),
        "first": _when(first),
        "totals": {"received": sum(received), "done": sum(done)},
    }
