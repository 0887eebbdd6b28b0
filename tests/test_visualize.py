"""The flow as Graphviz DOT and Mermaid text."""

from __future__ import annotations

from pymetrix import Metrics
from pymetrix.types import FlowEntry
from pymetrix.visualize import to_dot, to_mermaid


def _metrics() -> Metrics:
    m = Metrics("Test")
    m.hit("Home")
    m.hit("Blog", caller="Home")
    m.hit("Blog", caller="Home")
    return m


def test_dot_has_one_node_per_id_and_labelled_edges() -> None:
    assert to_dot(_metrics()) == (
        'digraph "pymetrix" {\n'
        "  rankdir=LR;\n"
        '  n0 [label="(start)"];\n'
        '  n1 [label="Home"];\n'
        '  n2 [label="Blog"];\n'
        '  n0 -> n1 [label="1"];\n'
        '  n1 -> n2 [label="2"];\n'
        "}\n"
    )


def test_mermaid_has_one_node_per_id_and_labelled_edges() -> None:
    assert to_mermaid(_metrics()) == (
        "flowchart LR\n"
        '  n0["(start)"]\n'
        '  n1["Home"]\n'
        '  n2["Blog"]\n'
        "  n0 -->|1| n1\n"
        "  n1 -->|2| n2\n"
    )


def test_hostile_ids_cannot_break_out_of_their_labels() -> None:
    flow: list[FlowEntry] = [{"caller": 'a"] --> x["pwn', "id": "<b>\\", "hits": 1}]
    dot = to_dot(flow)
    assert '[label="a\\"] --> x[\\"pwn"]' in dot
    assert '[label="<b>\\\\"]' in dot
    mermaid = to_mermaid(flow)
    assert 'n0["a#34;] --#62; x[#34;pwn"]' in mermaid
    assert 'n1["#60;b#62;\\"]' in mermaid
    assert mermaid.count("-->") == 1
