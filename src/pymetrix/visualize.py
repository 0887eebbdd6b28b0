"""The flow as text diagrams: Graphviz DOT and Mermaid. No dependency needed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .types import FlowEntry

__all__ = ["START", "to_dot", "to_mermaid"]

START = "(start)"
"""The label of the node standing for 'no caller'."""


def _edges(source: Any) -> list[FlowEntry]:
    flow = getattr(source, "flow", None)
    if callable(flow):
        return list(flow())
    return list(source)


def _nodes(edges: Iterable[FlowEntry]) -> list[str]:
    seen: dict[str, None] = {}
    for edge in edges:
        seen.setdefault(START if edge["caller"] is None else edge["caller"], None)
        seen.setdefault(edge["id"], None)
    return list(seen)


def to_dot(source: Any, name: str = "pymetrix") -> str:
    """The flow as a Graphviz ``digraph``, edges labelled with their hits.

    Args:
        source: a :class:`~pymetrix.Metrics` or a list of flow entries.
        name: the graph's name.
    """
    edges = _edges(source)
    names = _nodes(edges)
    key = {node: f"n{i}" for i, node in enumerate(names)}
    # JSON string escaping is valid DOT string escaping for quotes and backslashes.
    lines = [f"digraph {json.dumps(name)} {{", "  rankdir=LR;"]
    lines += [f"  {key[node]} [label={json.dumps(node)}];" for node in names]
    for edge in edges:
        src = key[START if edge["caller"] is None else edge["caller"]]
        lines.append(f'  {src} -> {key[edge["id"]]} [label="{edge["hits"]}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_label(text: str) -> str:
    # Mermaid labels are quoted; quotes and markup are written as entity codes.
    replaced = "".join(f"#{ord(ch)};" if ch in '"<>&#`' else ch for ch in text)
    return f'"{replaced}"'


def to_mermaid(source: Any) -> str:
    """The flow as a Mermaid ``flowchart``, edges labelled with their hits.

    Args:
        source: a :class:`~pymetrix.Metrics` or a list of flow entries.
    """
    edges = _edges(source)
    names = _nodes(edges)
    key = {node: f"n{i}" for i, node in enumerate(names)}
    lines = ["flowchart LR"]
    lines += [f"  {key[node]}[{_mermaid_label(node)}]" for node in names]
    for edge in edges:
        src = key[START if edge["caller"] is None else edge["caller"]]
        lines.append(f"  {src} -->|{edge['hits']}| {key[edge['id']]}")
    return "\n".join(lines) + "\n"
