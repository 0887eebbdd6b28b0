"""Options a store URL carries in its query string: declared once, checked on open."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from ..errors import StoreError

__all__ = ["WRITER_OPTIONS", "Option", "choice", "count", "seconds", "split_options"]


@dataclass(frozen=True, slots=True)
class Option:
    """How to read one option: ``parse`` raises ``ValueError`` for what ``expected`` is not."""

    parse: Callable[[str], Any]
    expected: str


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _seconds(low: float, high: float, *, open_low: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = float(text)
        if not math.isfinite(value) or value > high or value < low or (open_low and value == low):
            raise ValueError(text)
        return value

    return parse


count = Option(_count, "an int >= 1")


def choice(*values: str) -> Option:
    """One of ``values``."""

    def parse(text: str) -> str:
        if text not in values:
            raise ValueError(text)
        return text

    return Option(parse, " or ".join(repr(v) for v in values))


def seconds(low: float, high: float, *, open_low: bool = False) -> Option:
    """Seconds from ``low`` (excluded if ``open_low``) to ``high``."""
    bound = ">" if open_low else ">="
    return Option(_seconds(low, high, open_low=open_low), f"seconds {bound} {low:g}, <= {high:g}")


WRITER_OPTIONS: dict[str, Option] = {
    "flush_interval": seconds(0, 3600, open_low=True),
    "batch_size": count,
    "max_buffer": count,
    "overflow": choice("drop", "block"),
}
"""Options of every store written by a background writer (SQLite, PostgreSQL)."""


def split_options(
    url: str, shown_url: str, known: dict[str, Option], *, keep_unknown: bool
) -> tuple[str, dict[str, Any]]:
    """Take Pymetrix's options out of ``url``'s query string.

    Returns the URL without them and the options parsed. Unknown parameters stay in the
    URL if ``keep_unknown`` (a database driver's own, which it checks), else they are an
    error, as are invalid values and an option given twice.
    """
    parts = urlsplit(url)
    rest: list[tuple[str, str]] = []
    options: dict[str, Any] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        option = known.get(key)
        if option is None:
            if not keep_unknown:
                valid = ", ".join(sorted(known)) or "none"
                raise StoreError(f"unknown store URL option {key!r} (known: {valid})", shown_url)
            rest.append((key, value))
            continue
        if key in options:
            raise StoreError(f"store URL option {key!r} is given twice", shown_url)
        try:
            options[key] = option.parse(value)
        except ValueError:
            raise StoreError(
                f"invalid store URL option {key}={value!r}: expected {option.expected}", shown_url
            ) from None
    # Rebuilt by hand: urlunsplit would turn "sqlite:////abs" into "sqlite://abs".
    base = url.split("?", 1)[0]
    if parts.fragment:
        base = base.split("#", 1)[0]
    return (f"{base}?{urlencode(rest)}" if rest else base), options
