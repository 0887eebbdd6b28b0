"""The "write your own integration" example of docs/integrations.md, run as written."""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pymetrix import InvalidArgument
from pymetrix.integrations import UNMATCHED

from ._helpers import details, edges, hits

DOC = Path(__file__).parents[2] / "docs" / "integrations.md"


def example_blocks() -> list[str]:
    """The Python blocks of the doc's "Write your own integration" section, in order."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Write your own integration", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


def run_example() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "own_integration_example"}
    for block in example_blocks():
        exec(compile(block, str(DOC), "exec"), namespace)
    return namespace


@pytest.fixture
def example() -> Iterator[tuple[dict[str, Any], str]]:
    """The example's namespace, and the base URL of its handler served on a free port."""
    namespace = run_example()
    handler = namespace["Handler"]
    handler.log_message = lambda *args: None  # keep the test output quiet
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield namespace, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        namespace["metrics"].close()


def get(url: str, **headers: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def test_the_docs_have_the_example() -> None:
    blocks = example_blocks()
    assert len(blocks) == 2
    assert "def recording_handler(" in blocks[0]
    assert "metrics.set_caller(" in blocks[1]


def test_the_example_adapter_records_routes_callers_and_statuses(
    example: tuple[dict[str, Any], str],
) -> None:
    namespace, base = example
    metrics = namespace["metrics"]
    metrics.flush()
    before = hits(metrics)  # the example's own set_caller snippet recorded "smtp"
    assert before == {"smtp": 1}
    assert get(f"{base}/") == (200, b"home")
    assert get(f"{base}/items/7", Referer=f"{base}/") == (200, b"item 7")
    assert get(f"{base}/health") == (200, b"ok")
    assert get(f"{base}/nowhere/1")[0] == 404
    assert get(f"{base}/items/8", Referer="http://elsewhere.test/")[0] == 200
    assert hits(metrics) == {
        "smtp": 1,
        "/": 1,
        "load_item": 2,
        "/items/{item_id}": 2,
        UNMATCHED: 1,
    }
    assert edges(metrics) == {
        ("queue:send_email", "smtp"): 1,
        (None, "/"): 1,
        ("/", "/items/{item_id}"): 1,
        (None, "/items/{item_id}"): 1,
        ("/items/{item_id}", "load_item"): 2,
        (None, UNMATCHED): 1,
    }
    assert [status for _, _, status in details(metrics, UNMATCHED)] == [404]
    ((_, duration, status), *_) = details(metrics, "/items/{item_id}")
    assert status == 200
    assert duration is not None
    assert duration > 0


def test_the_example_adapter_refuses_a_misspelt_option() -> None:
    namespace = run_example()
    with pytest.raises(InvalidArgument, match="exlude"):
        namespace["recording_handler"]({}, namespace["metrics"], exlude=["/health"])
    namespace["metrics"].close()
