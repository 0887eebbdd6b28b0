"""The original Pymetrix's API, gathered: what its README's examples import and call.

``Endpoint`` and ``FlowNode`` are re-exported where the original imported them from
(``pymetrix.endpoints``, ``pymetrix.flow``), and ``Metrics`` keeps the original's
``Metrics(loc=...)``, ``add_to_analytics(node)`` and ``display()``, so its examples run
unchanged::

    from pymetrix import endpoints, flow, metrics

    metricman = metrics.Metrics(loc="Test")
    blog = endpoints.Endpoint(endpoint="/blog", id=view)
    node: flow.FlowNodeType = flow.FlowNode(blog, name="Blog")
    metricman.add_to_analytics(node)

New code records with ``Metrics.hit`` or ``Metrics.track`` and needs none of this.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Endpoint", "FlowNode", "FlowNodeType"]


class Endpoint:
    """An endpoint as the original described it.

    Args:
        endpoint: the URL path, e.g. ``"/blog"``.
        id: the view function (or any object) serving it.
    """

    __slots__ = ("endpoint", "id")

    def __init__(self, endpoint: str, id: Any = None) -> None:
        self.endpoint = endpoint
        self.id = id

    def __repr__(self) -> str:
        return f"Endpoint(endpoint={self.endpoint!r}, id={self.id!r})"


class FlowNode:
    """A node of the flow, named ``name``, wrapping an :class:`Endpoint`.

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
