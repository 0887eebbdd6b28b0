"""The original Pymetrix's surface, as its README used it, runs unchanged."""

from __future__ import annotations

import json

import pytest

from pymetrix import endpoints, flow, metrics
from pymetrix.metrics import Metrics


def test_original_django_style_views_add_up_per_name(capsys: pytest.CaptureFixture[str]) -> None:
    metricman = metrics.Metrics(loc="Test")

    def blog(request: object) -> str:
        node2: flow.FlowNodeType = flow.FlowNode(
            endpoints.Endpoint(endpoint="/blog", id=blog), name="Blog"
        )
        metricman.add_to_analytics(node2)
        return "<h1>Blog works!</h1>"

    def home(request: object) -> str:
        node1: flow.FlowNodeType = flow.FlowNode(
            endpoints.Endpoint(endpoint="/home1", id=home), name="Home"
        )
        metricman.add_to_analytics(node1)
        return "<h1>Home works!</h1>"

    for view in (home, blog, blog, home, blog):
        view(object())

    assert metricman.aggregate() == [{"id": "Home", "hits": 2}, {"id": "Blog", "hits": 3}]
    ts = metricman.time_series()
    assert ts["id"] == "Test"
    assert [(n["id"], n["hits"], len(n["callers"])) for n in ts["nodes"]] == [
        ("Home", 2, 2),
        ("Blog", 3, 3),
    ]
    # As in the original's FastAPI example, the result goes into a JSON response.
    body = json.dumps({"response": 200, "message": metricman.aggregate()})
    assert json.loads(body)["message"][1] == {"id": "Blog", "hits": 3}

    metricman.display()
    metricman.display(id="Blog")
    out = capsys.readouterr().out.splitlines()
    assert out == ["id    hits", "Home  2", "Blog  3", "id    hits", "Blog  3"]


def test_original_layer_name_argument_is_accepted() -> None:
    metricman = Metrics(loc=__file__)

    def foo() -> None:
        ep1 = endpoints.Endpoint(endpoint="/", id=foo)
        foo_obj = flow.FlowNode(ep1, name="Object1")
        metricman.add_to_analytics(foo_obj, layerName="foo")

    foo()
    foo()
    assert metricman.aggregate() == [{"id": "Object1", "hits": 2}]
    assert metricman.id == __file__


def test_endpoint_and_flow_node_keep_what_they_were_given() -> None:
    def view() -> None: ...

    ep = endpoints.Endpoint(endpoint="/about", id=view)
    node = flow.FlowNode(ep, name="About")
    assert (ep.endpoint, ep.id, node.endpoint, node.name) == ("/about", view, ep, "About")
    assert flow.FlowNode(ep).name == "/about"
    assert flow.FlowNodeType is flow.FlowNode


def test_visualize_imports_as_in_the_original() -> None:
    import pymetrix.visualize as vs

    m = Metrics("Test")
    m.hit("Blog", caller="Home")
    assert "Blog" in vs.to_mermaid(m)
