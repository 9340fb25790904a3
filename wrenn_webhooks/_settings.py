"""Settings read from a mapping (Flask's ``app.config``, Django's settings): one reading for both.

Every adapter that takes its configuration from keys such as
``WRENN_WEBHOOK_SECRET`` reads them here, so the rules (one secret per
string, numbers as the environment gives them) are the same everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .errors import ConfigurationError
from .stores import IdempotencyStore, store_from_url


def config_secrets(config: Mapping[str, Any], prefix: str) -> list[str]:
    """The secrets of ``{prefix}_SECRET``, then those of ``{prefix}_PREVIOUS_SECRET``.

    One rule for both keys: a string is one secret, never split, since a team's
    own secret may hold a comma; a list or tuple gives several. An unset or
    empty previous secret means no rotation is in progress.
    """
    key, previous_key = f"{prefix}_SECRET", f"{prefix}_PREVIOUS_SECRET"
    secrets = _secrets_of(key, config.get(key))
    if not secrets:
        raise ConfigurationError(
            f"set {key} to the channel's secret (and, during a rotation,"
            f" {previous_key} to the secret it replaces)"
        )
    return secrets + _secrets_of(previous_key, config.get(previous_key))


def _secrets_of(key: str, value: object) -> list[str]:
    if value is None or (isinstance(value, str) and not value):
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    # The type only: the value may be a secret in another form (bytes, say).
    raise ConfigurationError(
        f"{key} must be a string (one secret) or a list of strings, not {type(value).__name__}"
    )


def config_number(key: str, value: object, *, whole: bool) -> float:
    """A positive, finite number from ``app.config``, or a string of one (as the environment gives).

    A string is ASCII digits with, unless ``whole``, an optional fraction
    (``"300"``, ``"2.5"``), surrounding whitespace ignored: no sign, exponent,
    ``inf`` or ``nan``. A ``whole`` number is an ``int``; ``bool`` is neither.

    Raises:
        ConfigurationError: Anything else, naming ``key``.
    """
    number = _config_number(value, whole=whole)
    if number is None or not 0 < number < math.inf:
        what = "whole number of bytes" if whole else "finite number of seconds"
        example = '1048576 or "1048576"' if whole else '300 or "300" or "2.5"'
        raise ConfigurationError(
            f"{key} must be a positive {what}, such as {example}, not {value!r}"
        )
    return number


def _config_number(value: object, *, whole: bool) -> float | None:
    if isinstance(value, str):
        digits, dot, fraction = value.strip().partition(".")
        if not (digits.isascii() and digits.isdecimal()):
            return None
        if not dot:
            return int(digits)
        if whole or not (fraction.isascii() and fraction.isdecimal()):
            return None
        return float(f"{digits}.{fraction}")
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
        return None
    return value


def store_from_config(
    value: object, *, key: str = "WRENN_WEBHOOK_STORE"
) -> IdempotencyStore | None:
    """Turn ``WRENN_WEBHOOK_STORE`` (or ``key``) into a store (``None``: the receiver's default)."""
    if value is None or isinstance(value, IdempotencyStore):
        return value
    if isinstance(value, str):
        return store_from_url(value)
    raise ConfigurationError(f"{key} must be a store URL or an IdempotencyStore")


def options_from_config(
    config: Mapping[str, Any], prefix: str, options: Mapping[str, Any]
) -> dict[str, Any]:
    """``options`` (``WebhookReceiver``'s keywords but ``secret``), completed from ``config``.

    ``{prefix}_TOLERANCE``, ``{prefix}_MAX_BODY_BYTES`` and ``{prefix}_STORE``
    fill what ``options`` leaves out; what ``options`` gives wins.
    """
    completed = {key: value for key, value in options.items() if key != "secret"}
    for key, option, whole in (
        (f"{prefix}_TOLERANCE", "tolerance", False),
        (f"{prefix}_MAX_BODY_BYTES", "max_body_bytes", True),
    ):
        if option not in completed and config.get(key) is not None:
            completed[option] = config_number(key, config[key], whole=whole)
    if "idempotency" not in completed:
        completed["idempotency"] = store_from_config(
            config.get(f"{prefix}_STORE"), key=f"{prefix}_STORE"
        )
    return completed
