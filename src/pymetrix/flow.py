"""The original Pymetrix's ``FlowNode``: a named node for ``add_to_analytics`` (see
``compat``). A node may be created anew on every request: hits add up per ``name``."""

from __future__ import annotations

from .compat import FlowNode, FlowNodeType

__all__ = ["FlowNode", "FlowNodeType"]
