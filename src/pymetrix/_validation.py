"""Checks at the boundary: what a node id, duration, status and interval may be."""

from __future__ import annotations

import math
import re
from typing import Any

from .errors import InvalidDuration, InvalidNodeId, InvalidNodeType, InvalidStatus

# C0 and C1 control characters, DEL included: they break logs, terminals and CSV.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_id(value: Any, max_length: int, what: str = "node id") -> str:
    """Return ``value`` if it is a valid node id, else raise."""
    if not isinstance(value, str):
        raise InvalidNodeType(value, what)
    if not value:
        raise InvalidNodeId(value, "it is empty", what)
    if len(value) > max_length:
        raise InvalidNodeId(value, f"longer than {max_length} characters", what)
    match = _CONTROL.search(value)
    if match is not None:
        raise InvalidNodeId(value, f"control character {match.group()!r} at {match.start()}", what)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        # A lone surrogate (json.loads('"\\ud800"') makes one): no database, JSON
        # encoder or terminal downstream could take it.
        raise InvalidNodeId(
            value, f"not valid Unicode: lone surrogate {value[exc.start]!r} at {exc.start}", what
        ) from None
    return value


def check_duration(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidDuration(value)
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidDuration(value)
    return seconds


def check_status(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise InvalidStatus(value)
    return int(value)


def is_positive(value: Any) -> bool:
    """Whether ``value`` is a finite number > 0 (a bool is not a number here)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )
