"""How a hit is packed into ints, in memory and in stored chunks.

A hit's node and caller pack into one int, its *key*: ``(caller + 1) << 32 | node``, where
both are indexes into the store's names and a caller of -1 means none; the key is also
the key of the hit's caller->node edge, so counting keys counts edges. Its duration and
status pack into another, its *extra*: ``(duration in microseconds + 1) << 10 | status``,
0 meaning neither. Every store and reader packs and unpacks through these.
"""

from __future__ import annotations

__all__ = [
    "KEY_MASK",
    "KEY_SHIFT",
    "MAX_MICROSECONDS",
    "STATUS_BITS",
    "STATUS_MASK",
    "caller_of",
    "node_of",
    "pack_extra",
    "pack_key",
    "unpack_duration",
]

KEY_SHIFT = 32
KEY_MASK = (1 << KEY_SHIFT) - 1
STATUS_BITS = 10
STATUS_MASK = (1 << STATUS_BITS) - 1
MAX_MICROSECONDS = (1 << 52) - 1


def pack_key(node: int, caller: int) -> int:
    """The key of a hit on ``node`` from ``caller`` (-1: none)."""
    return (caller + 1) << KEY_SHIFT | node


def node_of(key: int) -> int:
    return key & KEY_MASK


def caller_of(key: int) -> int:
    """The caller's index in ``key``, -1 for none."""
    return (key >> KEY_SHIFT) - 1


def pack_extra(duration: float | None, status: int | None) -> int:
    """Duration (seconds, kept to the microsecond) and status code as one int."""
    extra = status or 0
    if duration is not None:
        extra |= (min(round(duration * 1e6), MAX_MICROSECONDS) + 1) << STATUS_BITS
    return extra


def unpack_duration(extra: int) -> float | None:
    micros = extra >> STATUS_BITS
    return (micros - 1) / 1e6 if micros else None
