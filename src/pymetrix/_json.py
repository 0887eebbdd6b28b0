"""JSON output: orjson when installed (``pymetrix[fast]``), else the standard library."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps"]

try:
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    orjson = None  # type: ignore[assignment]


def dumps(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON."""
    if orjson is not None:
        return orjson.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
