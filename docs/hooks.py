"""MkDocs hook: fill the reference tables from the SDK's own definitions.

A page asks for a table with a marker such as ``<!-- wrenn:event-table -->``;
the build replaces it with Markdown generated from ``wrenn_webhooks`` itself,
so the event reference, the status contract, the CLI reference and the table of
hostile requests (``tests/hostile_cases.py``, the test's own cases) cannot drift
from the code. An unknown marker fails the build.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the benchmarks package lives beside the docs
    sys.path.insert(0, str(ROOT))

from benchmarks import report as bench_report  # noqa: E402
from tests.hostile_cases import CASES as HOSTILE_CASES  # noqa: E402
from wrenn_webhooks import ActorKind, WebhookReceiver  # noqa: E402
from wrenn_webhooks.cli import cli  # noqa: E402
from wrenn_webhooks.events import EVENT_CLASSES, Event, EventType  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"

_MARKER = re.compile(r"<!-- wrenn:([a-z-]+) -->")


def _md(text: str) -> str:
    """Turn a docstring's reST literals into Markdown code spans, on one line."""
    return " ".join(text.replace("``", "`").split())


def _summary(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    return _md(doc.split("\n\n")[0])


def _outcome(cls: type[Event]) -> str:
    if cls.has_outcome is None:
        return "unknown"
    return "`success` / `error`" if cls.has_outcome else "none"


def _accessors(cls: type[Event]) -> list[tuple[str, str]]:
    """The typed properties a class adds over ``Event``, in definition order."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, Event)) or klass is Event:
            continue
        for name, value in vars(klass).items():
            if isinstance(value, property):
                found[name] = _summary(value)
    return list(found.items())


def event_table() -> str:
    """One row per typed event class, in the order of the table, ``EventType``."""
    rows = [
        "| event type | class | outcome | resource type | metadata keys | subscribable | meaning |",
        "|---|---|---|---|---|---|---|",
    ]
    for event_type, cls in EVENT_CLASSES.items():
        keys = ", ".join(f"`{key}`" for key in cls.metadata_keys) or "none"
        rows.append(
            f"| `{event_type}` | [`{cls.__name__}`][wrenn_webhooks.{cls.__name__}] "
            f"| {_outcome(cls)} | `{cls.resource_type}` | {keys} "
            f"| {'yes' if cls.subscribable else 'no'} | {_summary(cls)} |"
        )
    return "\n".join(rows)


def accessor_table() -> str:
    """The typed properties of each class, beside the fields every event has."""
    rows = ["| class | property | returns |", "|---|---|---|"]
    for cls in EVENT_CLASSES.values():
        for name, summary in _accessors(cls):
            rows.append(f"| `{cls.__name__}` | `{name}` | {summary} |")
    return "\n".join(rows)


def older_names() -> str:
    """Each older name Wrenn 0.1.x servers send, with today's name of its type."""
    return ", ".join(
        f"`{old}` (now `{member}`)" for member in EventType for old in member.older_names
    )


def event_class_reference() -> str:
    """The import of every event class, then the API reference of each, in the table's order."""
    names = "".join(f"    {name},\n" for name in sorted(c.__name__ for c in EVENT_CLASSES.values()))
    entries = (
        f"::: wrenn_webhooks.{cls.__name__}\n    options:\n      heading_level: 3"
        for cls in EVENT_CLASSES.values()
    )
    return "\n\n".join((f"```python\nfrom wrenn_webhooks import (\n{names})\n```", *entries))


def actor_kinds() -> str:
    return "\n".join(f"- `{kind.value}`" for kind in ActorKind)


def status_table() -> str:
    """The status contract, copied from ``WebhookReceiver.handle``'s docstring."""
    doc = inspect.getdoc(WebhookReceiver.handle) or ""
    lines = [_md(line) for line in doc.splitlines() if line.lstrip().startswith("|")]
    if len(lines) < 3:
        raise PluginError("WebhookReceiver.handle's docstring has lost its status table")
    return "\n".join(lines)


def hostile_table() -> str:
    """The hostile requests ``tests/test_hostile_requests.py`` sends, with the answers it checks."""
    rows = [
        "| # | kind | request | werkzeug (`make run`, `wrenn-webhooks serve`) "
        "| gunicorn (`examples/gunicorn.conf.py`) |",
        "|---|---|---|---|---|",
    ]
    for number, case in enumerate(HOSTILE_CASES, start=1):
        cells = (case.kind, case.input, case.werkzeug, case.gunicorn)
        if any("|" in cell for cell in cells):
            raise PluginError(f"hostile case {number} has a '|' that would break the table")
        rows.append(f"| {number} | {' | '.join(cells)} |")
    return "\n".join(rows)


CLI_NAME = "wrenn-webhooks"
CLI_WIDTH = 88
"""Columns of the rendered ``--help`` text, fixed so the build does not depend on the terminal."""


def _help_sections(
    command: click.Command, parent: click.Context | None, path: tuple[str, ...]
) -> list[str]:
    """The ``--help`` of ``command`` and, for a group, of every subcommand below it."""
    ctx = click.Context(
        command,
        info_name=path[-1] if path else CLI_NAME,
        parent=parent,
        terminal_width=CLI_WIDTH,
        max_content_width=CLI_WIDTH,
        **command.context_settings,
    )
    level = "#" * min(3 + max(len(path) - 1, 0), 6)
    title, anchor = " ".join((CLI_NAME, *path)), "-".join((CLI_NAME, *path))
    sections = [f"{level} `{title}` {{#{anchor}}}\n\n```text\n{command.get_help(ctx)}\n```"]
    if isinstance(command, click.Group):
        for sub_name in command.list_commands(ctx):
            sub = command.get_command(ctx, sub_name)
            if sub is not None and not sub.hidden:
                sections += _help_sections(sub, ctx, (*path, sub_name))
    return sections


def cli_reference() -> str:
    """Every command's ``--help``, from ``wrenn-webhooks`` down through each group."""
    return "\n\n".join(_help_sections(cli, None, ()))


def _results(*names: str) -> str:
    """The named reports in benchmarks/results/, rendered; a note for any not yet run."""
    sections = []
    for name in names:
        path = RESULTS / f"{name}.json"
        if path.exists():
            sections.append(bench_report.render_report(json.loads(path.read_text()), 3, name))
        else:
            sections.append(f"*No `{name}` results yet: run `make bench` or `make test-slow`.*\n")
    return "\n".join(sections)


LOAD_LABELS = {
    "scenario": "Scenario",
    "sent": "Sent",
    "accepted": "Accepted (2xx)",
    "handled_once": "Handled once",
    "duplicates_suppressed": "Duplicates suppressed",
    "errors": "Errors",
    "seconds": "Seconds",
    "requests_per_second": "Deliveries per second",
    "duplicates_200": 'Duplicates answered 200 with `"duplicate": true`',
    "duplicates_409": "Duplicates answered 409 (first attempt still running)",
    "first_attempts_failed": "First attempts answered 500",
    "retries_accepted": "Retries accepted",
    "completed_handlers_not_rerun": "Retries that ran the failed handler alone",
    "workers_killed": "Workers killed",
    "first_attempts_lost": "First attempts not accepted",
    "retries": "Retries sent",
    "handler_reruns": "Handlers run again (killed before their completion was recorded)",
    "inbox_done": "Inbox: done",
    "inbox_dead": "Inbox: dead letters",
    "drain_seconds_after_load": "Seconds to drain the inbox after the load",
    "rejected_401": "Answered 401",
    "by_skew": "Signed {}",
    "rejected_legitimate": "Legitimate deliveries answered 401",
    "by_phase": "{} secret",
    "reloads_at": "Deliveries answered before gunicorn {}",
    "old_secret_after_removal": "Old secret after its removal",
}
"""Words for the measures of ``tests/test_load.py``; another measure shows under its key."""


def _label(key: str, part: str | None = None) -> str:
    """The words for a measure, or for one ``part`` of a breakdown (``{}`` in its label)."""
    label = LOAD_LABELS.get(key) or key.replace("_", " ").capitalize()
    if part is None:
        return label
    words = re.sub(r"^(past|future) (\d+)$", r"\2 s in the \1", part.replace("_", " "))
    text = label.format(words) if "{}" in label else f"{label}: {words}"
    return text[:1].upper() + text[1:]


def _status_counts(value: object) -> bool:
    """Whether ``value`` counts answers by HTTP status, as ``{"200": 500}``."""
    return isinstance(value, dict) and all(
        isinstance(k, str) and len(k) == 3 and k.isdigit() for k in value
    )


def _figure(value: object) -> str:
    """A measure's value: numbers with thousands separators, answers counted by status."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, dict) and value and _status_counts(value):
        return ", ".join(f"{_figure(count)} answered {status}" for status, count in value.items())
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_figure(item)}" for key, item in value.items())
    return str(value)


def _measures(result: dict[str, Any], keys: list[str]) -> list[tuple[str, str]]:
    """``(measure, value)`` rows for ``keys``; a breakdown (a dict) gives a row per part."""
    rows = []
    for key in keys:
        value = result[key]
        if isinstance(value, dict) and not _status_counts(value):
            rows += [(_label(key, str(part)), _figure(item)) for part, item in value.items()]
        else:
            rows.append((_label(key), _figure(value)))
    return rows


def load_results() -> str:
    """``benchmarks/results/load.json``: one row per scenario, then each one's own measures.

    The summary has the measures every scenario reports; below it, each scenario
    has a small table of the measures only it reports.
    """
    path = RESULTS / "load.json"
    if not path.exists():
        return "*No `load` results yet: run `make test-slow`.*\n"
    report = json.loads(path.read_text())
    results: list[dict[str, Any]] = report.get("results") or []
    if not results:
        return "*The last `make test-slow` recorded no load scenario.*\n"
    shared = [k for k in results[0] if k != "scenario" and all(k in r for r in results)]
    merged = "handled_once" in shared and "events" in shared  # "2,993 of 3,000"
    columns = [k for k in shared if not (merged and k == "events")]

    def cell(result: dict[str, Any], key: str) -> str:
        if merged and key == "handled_once":
            return f"{result['handled_once']:,} of {result['events']:,}"
        return _figure(result[key])

    summary = bench_report.table(
        [_label("scenario"), *(_label(k) for k in columns)],
        (
            [str(r.get("scenario", "?")).capitalize(), *(cell(r, k) for k in columns)]
            for r in results
        ),
        "l" + "r" * len(columns),
    )
    machine, setup = report.get("machine", {}), report.get("setup", {})
    intro = (
        f"Run at {report.get('generated_at', 'an unknown time')} on {machine.get('system', '?')}"
        f" with {machine.get('cpus', '?')} CPUs and Python {machine.get('python', '?')};"
        f" {setup.get('concurrency', '?')} concurrent clients."
    )
    sections = [intro, summary]
    for result in results:
        own = [k for k in result if k != "scenario" and k not in shared]
        if own:
            title = str(result.get("scenario", "?")).capitalize()
            table = bench_report.table(["Measure", "Value"], _measures(result, own), "lr")
            sections.append(f"**{title}**\n\n{table}")
    return "\n\n".join(sections) + "\n"


_WORKERS = ("2 sync", "2 gthread x 8, keep-alive", "2 gthread x 8, close")
"""The worker configurations of ``bench_http``, in its order."""

PRODUCTION_TARGETS: tuple[tuple[str, str, str, float], ...] = (
    # (configuration, report, the row's name in it, target)
    ("Shared SQLite idempotency store", "http", "SDK, sqlite store", 0.85),
    ("Redis idempotency store, everysec", "http", "SDK, redis store (everysec)", 0.85),
    ("Redis idempotency store, always", "http", "SDK, redis store (always)", 0.60),
    ("SQLite inbox, NORMAL", "inbox", "SQLite NORMAL", 0.90),
    ("SQLite inbox, FULL", "inbox", "SQLite FULL", 0.60),
    ("Redis inbox, everysec", "inbox", "Redis everysec", 0.85),
    ("Redis inbox, always", "inbox", "Redis always", 0.60),
)
"""Each production configuration's target: its share of the bare view's requests per second."""

PEER_TARGETS = (
    ("Redis inbox", "SDK RedisInbox (everysec)"),
    ("SQLite inbox", "SDK SQLiteInbox (NORMAL)"),
)
"""Rows of the inbox report's peers table that must accept at least the faster peer's rate."""

DRAIN_TARGETS = (
    ("SQLite NORMAL", "1 in-process", 11_000),
    ("Redis everysec", "1 in-process", 3_000),
    ("Redis everysec", "2 processes", 5_000),
)
"""Drain rates (events per second) that the inbox worker keeps at least."""


def _met(measured: float | None, target: float) -> str:
    if measured is None:
        return "not run"
    return "met" if measured >= target else "**not met**"


def production_targets() -> str:
    """The targets of the production configurations against the last ``make bench``.

    Shares of the bare view come from ``http.json`` (one row per worker
    configuration) and ``inbox.json`` (2 sync workers); a configuration missing from
    the results (no ``redis-server``, say) shows as not run.
    """
    reports = {}
    for name in ("http", "inbox"):
        path = RESULTS / f"{name}.json"
        reports[name] = json.loads(path.read_text()) if path.exists() else {}
    rows = []
    for configuration, name, row_name, target in PRODUCTION_TARGETS:
        found = {
            row.get("workers", "2 sync")
            + (
                "" if row.get("connection") in (None, "server closes") else f", {row['connection']}"
            ): row.get("ratio_to_bare", row.get("vs_bare"))
            for row in reports[name].get("results", [])
            if row_name in (row.get("app"), row.get("backend"))
        }
        for workers in _WORKERS if name == "http" else _WORKERS[:1]:
            share = found.get(workers)
            measured = bench_report.NONE if share is None else f"{share:.1%}"
            rows.append((configuration, workers, measured, f"{target:.0%}", _met(share, target)))
    peers = {row["case"]: row for row in (reports["inbox"].get("peers") or {}).get("results", [])}
    for configuration, case in PEER_TARGETS:
        ratio = peers.get(case, {}).get("ratio_to_faster_peer")
        measured = bench_report.NONE if ratio is None else f"{ratio:.2f}x the faster peer"
        rows.append((configuration, "2 sync", measured, "1.00x", _met(ratio, 1.0)))
    drains = {(row["backend"], row["workers"]): row for row in reports["inbox"].get("drain", [])}
    for backend, workers, target in DRAIN_TARGETS:
        rate = drains.get((backend, workers), {}).get("events_per_s_median")
        measured = bench_report.NONE if rate is None else f"{rate:,} events/s"
        rows.append(
            (f"Drain, {backend}", workers, measured, f"{target:,} events/s", _met(rate, target))
        )
    headers = ["Configuration", "Workers", "Measured", "Target", ""]
    return bench_report.table(headers, rows, "llrrl") + "\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "event-table": event_table,
    "accessor-table": accessor_table,
    "actor-kinds": actor_kinds,
    "event-class-reference": event_class_reference,
    "legacy-types": older_names,
    "status-table": status_table,
    "hostile-table": hostile_table,
    "cli-reference": cli_reference,
    "bench-results": lambda: _results(
        "core", "http", "shared_store", "asgi", "inbox", "memory", "observe"
    ),
    "load-results": load_results,
    "production-targets": production_targets,
}


def render(markdown: str) -> str:
    """Replace every ``<!-- wrenn:NAME -->`` marker with its generated Markdown."""

    def replace(match: re.Match[str]) -> str:
        generator = GENERATORS.get(match.group(1))
        if generator is None:
            raise PluginError(f"unknown docs marker {match.group(0)}")
        return generator()

    return _MARKER.sub(replace, markdown)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """MkDocs event: runs on each page's Markdown before it is converted."""
    return render(markdown)
