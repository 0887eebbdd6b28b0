"""Readers of what a test recorded, shaped for short assertions."""

from __future__ import annotations

from pymetrix import Metrics


def hits(metrics: Metrics) -> dict[str, int]:
    """Hits per node."""
    return {row["id"]: row["hits"] for row in metrics.aggregate()}


def edges(metrics: Metrics) -> dict[tuple[str | None, str], int]:
    """Hits per (caller, node)."""
    return {(row["caller"], row["id"]): row["hits"] for row in metrics.flow()}


def details(metrics: Metrics, node: str) -> list[tuple[str | None, float | None, int | None]]:
    """(caller, duration, status) of every hit on ``node``, in time order."""
    for entry in metrics.time_series(ids=[node], detail=True)["nodes"]:
        if entry["id"] == node:
            return [(c["caller"], c["duration"], c["status"]) for c in entry["callers"]]
    return []
