"""The original Pymetrix's ``FlowNode``: a named node for ``add_to_analytics``.

A node may be created anew on every request: hits add up per ``name``.
"""

from __future__ import annotations

from .endpoints import Endpoint

__all__ = ["FlowNode", "FlowNodeType"]


class FlowNode:
    """A node of the flow, named ``name``, wrapping an :class:`~pymetrix.endpoints.Endpoint`.

    Args:
        ep: the endpoint this node stands for.
        name: the node id hits are counted under (default: the endpoint's path).
    """

    __slots__ = ("endpoint", "name")

    def __init__(self, ep: Endpoint, name: str | None = None) -> None:
        self.endpoint = ep
        self.name = ep.endpoint if name is None else name

    def __repr__(self) -> str:
        return f"FlowNode({self.endpoint!r}, name={self.name!r})"


FlowNodeType = FlowNode
"""The annotation the original used for nodes."""
