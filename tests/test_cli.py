"""The ``pymetrix`` command, end to end in subprocesses, over a real SQLite store."""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import pty
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import pytest

from pymetrix import ManualClock, Metrics

CLI = [sys.executable, "-m", "pymetrix.cli"]
START = datetime(2024, 1, 9, 18, 0, 0)


def run(
    *args: str, timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env=_env(), cwd=cwd
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYMETRIX_STORE", None)
    env.pop("PYMETRIX_APP", None)
    env.pop("PYMETRIX_TOKEN", None)
    return env


def assert_one_line_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert text in lines[0]
    assert "Traceback" not in result.stderr


def record(url: str, app: str = "default") -> Metrics:
    """Hits at 18:00:00.000, .001, ... : Home x3, Blog x2, Post x1, in a known order."""
    metrics = Metrics(app, store=url, clock=ManualClock(START, step=0.001))
    metrics.hit("Home")
    metrics.hit("Blog", caller="Home", duration=0.010, status=200)
    metrics.hit("Home")
    metrics.hit("Blog", caller="Home", duration=0.030, status=500)
    metrics.hit("Post", caller="Blog", duration=0.020)
    metrics.hit("Home")
    return metrics


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/hits.db"
    record(url).close()
    return url


@pytest.fixture
def expected(store_url: str) -> Iterator[Metrics]:
    """The same store opened in this process, to compare exports with."""
    metrics = Metrics("default", store=store_url)
    yield metrics
    metrics.close()


# -- stats -------------------------------------------------------------------------------


def test_stats_prints_the_aggregate_as_a_table_most_hit_first(store_url: str) -> None:
    result = run("stats", "--store", store_url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["node", "hits", "p50", "ms", "p95", "ms", "errors"]
    rows = [line.split() for line in lines[2:5]]
    assert [(r[0], r[1], r[4]) for r in rows] == [
        ("Home", "3", "0"),
        ("Blog", "2", "1"),
        ("Post", "1", "0"),
    ]
    assert rows[0][2:4] == ["-", "-"]
    # Percentiles come from the latency sketch: within 1 % of 10, 30 and 20 ms.
    assert [float(v) for v in rows[1][2:4] + rows[2][2:4]] == pytest.approx(
        [10.0, 30.0, 20.0, 20.0], rel=0.011
    )
    assert lines[-1] == "3 nodes, 6 hits"


def test_stats_filters_by_ids_and_time(store_url: str) -> None:
    result = run(
        "stats", "--store", store_url, "--ids", "Home,Post", "--since", "2024-01-09 18:00:00.002"
    )
    assert result.returncode == 0, result.stderr
    assert [line.split()[:2] for line in result.stdout.splitlines()[2:4]] == [
        ["Home", "2"],
        ["Post", "1"],
    ]


def test_stats_reads_the_app_named_by_app(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/apps.db"
    record(url, app="shop").close()
    record(url, app="blog").close()
    result = run("stats", "--store", url, "--app", "shop")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "3 nodes, 6 hits"


# -- which app ---------------------------------------------------------------------------


@pytest.fixture
def shop_url(tmp_path: Path) -> str:
    """A store holding one app, "shop", as the quick start records it."""
    url = f"sqlite:///{tmp_path}/shop.db"
    record(url, app="shop").close()
    return url


@pytest.mark.parametrize(
    "command",
    [
        ["stats"],
        ["export", "--data", "aggregate"],
        ["stream", "--data", "aggregate", "--duration", "0.3"],
    ],
)
def test_commands_read_the_only_app_of_a_store_without_app(
    shop_url: str, command: list[str]
) -> None:
    result = run(*command, "--store", shop_url)
    assert result.returncode == 0, result.stderr
    if command[0] == "stats":
        assert result.stdout.splitlines()[-1] == "3 nodes, 6 hits"
    else:
        rows = json.loads(result.stdout.splitlines()[0])
        rows = rows["message"] if isinstance(rows, dict) else rows
        assert rows[0] == {"id": "Home", "hits": 3}
    assert result.stderr == ""


def test_serve_shows_the_only_app_of_a_store_without_app(shop_url: str) -> None:
    process = start("serve", "--store", shop_url, "--port", "0")
    assert process.stdout is not None
    try:
        banner = process.stdout.readline()
        url = banner.split(": ", 1)[1].strip()
        status, body = _fetch(url + "api/aggregate")
    finally:
        stop(process)
    assert "for 'shop'" in banner
    assert status == 200
    assert body["message"][0] == {"id": "Home", "hits": 3}


@pytest.mark.parametrize("command", ["stats", "export", "stream", "serve"])
def test_a_store_of_several_apps_without_app_is_an_error_listing_them(
    tmp_path: Path, command: str
) -> None:
    url = f"sqlite:///{tmp_path}/apps.db"
    record(url, app="shop").close()
    blog = Metrics("blog", store=url)
    blog.hit("Post")
    blog.close()
    extra = {"export": ["--data", "flow"], "serve": ["--port", "0"]}.get(command, [])
    result = run(command, "--store", url, *extra)
    assert_one_line_error(result, "holds 2 apps")
    assert "--app" in result.stderr
    assert "'blog' (1 hit), 'shop' (6 hits)" in result.stderr


def test_an_app_the_store_does_not_hold_is_an_error_listing_those_it_holds(shop_url: str) -> None:
    result = run("stats", "--store", shop_url, "--app", "Shop")
    assert_one_line_error(result, "no app 'Shop'")
    assert "'shop' (6 hits)" in result.stderr
    # Reading registered nothing: the store still holds one app.
    assert run("stats", "--store", shop_url).returncode == 0


def test_apps_lists_each_app_with_its_hits_and_first_and_last_hit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/apps.db"
    record(url, app="shop").close()
    blog = Metrics("blog", store=url, clock=ManualClock(datetime(2024, 1, 10, 9, 30)))
    blog.hit("Post")
    blog.close()
    Metrics("idle", store=url).close()
    result = run("apps", "--store", url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["app", "hits", "first", "hit", "last", "hit"]
    assert [line.split() for line in lines[2:5]] == [
        ["blog", "1", "2024-01-10", "09:30:00.000000", "2024-01-10", "09:30:00.000000"],
        ["idle", "0", "-", "-"],
        ["shop", "6", "2024-01-09", "18:00:00.000000", "2024-01-09", "18:00:00.005000"],
    ]
    assert lines[-1] == "3 apps, 7 hits"


# -- read-only commands create nothing ---------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["stats"],
        ["export", "--data", "flow"],
        ["stream"],
        ["serve", "--port", "0"],
        ["apps"],
    ],
)
def test_read_commands_refuse_a_missing_sqlite_file_and_create_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    result = run(*command, "--store", "sqlite:///nothere.db", cwd=tmp_path)
    assert_one_line_error(result, "nothere.db")
    assert "does not exist" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_demo_on_a_busy_port_fails_before_creating_its_database(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("demo", "--port", str(port), "--duration", "1", cwd=tmp_path)
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}")
    assert list(tmp_path.iterdir()) == []


def test_a_sqlite_url_with_one_slash_is_refused_naming_both_spellings(tmp_path: Path) -> None:
    result = run("stats", "--store", "sqlite:/pymetrix.db", cwd=tmp_path)
    assert_one_line_error(result, "sqlite:/pymetrix.db")
    assert "sqlite:///pymetrix.db" in result.stderr
    assert "sqlite:////pymetrix.db" in result.stderr
    assert list(tmp_path.iterdir()) == []


# -- export ------------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["time_series", "aggregate", "flow"])
def test_export_json_is_the_seed_envelope(store_url: str, expected: Metrics, data: str) -> None:
    result = run("export", "--store", store_url, "--data", data)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected.export(data)


def test_export_time_series_json_read_in_chunks_equals_the_whole(
    store_url: str, expected: Metrics
) -> None:
    result = run(
        "export", "--store", store_url, "--data", "time_series", "--chunk-size", "1", "--detail"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected.export("time_series", detail=True)


def test_export_ndjson_time_series_is_one_hit_per_line_in_time_order(store_url: str) -> None:
    result = run(
        "export", "--store", store_url, "--data", "time_series", "--format", "ndjson",
        "--chunk-size", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(h["id"], h["caller"]) for h in lines] == [
        ("Home", None),
        ("Blog", "Home"),
        ("Home", None),
        ("Blog", "Home"),
        ("Post", "Blog"),
        ("Home", None),
    ]
    assert lines[3] == {
        "time": "2024-01-09 18:00:00.003000",
        "id": "Blog",
        "caller": "Home",
        "duration": 0.03,
        "status": 500,
    }


def test_export_csv_has_a_header_and_a_row_per_entry(store_url: str) -> None:
    result = run(
        "export", "--store", store_url, "--data", "aggregate", "--format", "csv", "--stats"
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["id"], r["hits"], r["errors"]) for r in rows] == [
        ("Home", "3", "0"),
        ("Blog", "2", "1"),
        ("Post", "1", "0"),
    ]
    assert rows[0]["p50"] == ""
    series = run("export", "--store", store_url, "--data", "time_series", "--format", "csv")
    table = list(csv.reader(io.StringIO(series.stdout)))
    assert table[0] == ["time", "id", "caller", "duration", "status"]
    assert table[2] == ["2024-01-09 18:00:00.001000", "Blog", "Home", "0.01", "200"]
    assert len(table) == 7


def test_export_filters_by_time_window(store_url: str) -> None:
    result = run(
        "export", "--store", store_url, "--data", "time_series", "--format", "ndjson",
        "--since", "2024-01-09 18:00:00.002", "--until", "2024-01-09T18:00:00.005",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [
        "Home",
        "Blog",
        "Post",
    ]


@pytest.mark.parametrize("window", [["--until", "9999-12-31"], ["--since", "0001-01-01"]])
@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_export_and_stats_read_times_beyond_nanosecond_range_as_the_ends_of_time(
    store_url: str, window: list[str], fmt: str
) -> None:
    whole = run("export", "--store", store_url, "--data", "time_series", "--format", fmt)
    assert whole.returncode == 0, whole.stderr
    result = run("export", "--store", store_url, "--data", "time_series", "--format", fmt, *window)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == whole.stdout
    stats = run("stats", "--store", store_url, *window)
    assert (stats.returncode, stats.stderr) == (0, "")
    assert stats.stdout.splitlines()[-1] == "3 nodes, 6 hits"
    empty = run("export", "--store", store_url, "--data", "aggregate", "--since", "9999-12-31")
    assert (empty.returncode, json.loads(empty.stdout)) == (0, {"message": [], "response": 200})


def test_export_to_a_file_writes_nothing_on_stdout(store_url: str, tmp_path: Path) -> None:
    target = tmp_path / "flow.json"
    result = run("export", "--store", store_url, "--data", "flow", "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert json.loads(target.read_text())["message"][0] == {"caller": None, "id": "Home", "hits": 3}


def test_export_shows_progress_on_a_terminal_only(store_url: str) -> None:
    args = [*CLI, "export", "--store", store_url, "--data", "time_series", "--chunk-size", "2"]
    leader, follower = pty.openpty()
    try:
        process = subprocess.run(
            args, stdout=subprocess.PIPE, stderr=follower, timeout=60, env=_env()
        )
        os.close(follower)
        follower = -1
        shown = _read_all(leader)
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    assert process.returncode == 0
    assert b"\rexporting [" in shown
    assert b"100% 6/6 hits" in shown
    piped = run("export", "--store", store_url, "--data", "time_series", "--chunk-size", "2")
    assert piped.stderr == ""


def _read_all(fd: int) -> bytes:
    out = b""
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:  # the pty's other end is closed: all read
            return out
        if not data:
            return out
        out += data


# -- stream ------------------------------------------------------------------------------


class Lines:
    """A subprocess's stdout lines, read in a thread so that waits can time out."""

    def __init__(self, stream: IO[str]) -> None:
        self._queue: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)

    def next(self, timeout: float = 10) -> str:
        return self._queue.get(timeout=timeout)

    def poll(self, timeout: float) -> str | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return process.returncode, err


def test_stream_prints_new_hits_as_ndjson_until_ctrl_c(store_url: str) -> None:
    process = start("stream", "--store", store_url, "--interval", "0.1")
    assert process.stdout is not None
    lines = Lines(process.stdout)
    writer = Metrics("default", store=store_url)
    try:
        # The command may still be starting: hit until one arrives, then one more.
        line = None
        deadline = time.monotonic() + 30
        while line is None and time.monotonic() < deadline:
            writer.hit("Pricing", caller="Home")
            writer.flush()
            line = lines.poll(0.3)
        assert line is not None
        first = json.loads(line)
        writer.hit("Signup", caller="Pricing", duration=0.5, status=201)
        writer.flush()
        record_ = json.loads(lines.next())
        while record_["id"] == "Pricing":
            record_ = json.loads(lines.next())
    finally:
        writer.close()
        code, err = stop(process)
    assert first["id"] == "Pricing"
    assert first["callers"][0]["caller"] == "Home"
    assert record_["id"] == "Signup"
    assert record_["hits"] == 1
    assert record_["callers"][0] | {"time": None} == {
        "caller": "Pricing",
        "time": None,
        "duration": 0.5,
        "status": 201,
    }
    assert code == 0
    assert "Traceback" not in err


def test_stream_aggregate_prints_it_then_each_change(store_url: str) -> None:
    process = start("stream", "--store", store_url, "--data", "aggregate", "--interval", "0.1")
    assert process.stdout is not None
    lines = Lines(process.stdout)
    try:
        first = json.loads(lines.next())
        writer = Metrics("default", store=store_url)
        writer.hit("Post")
        writer.close()
        second = json.loads(lines.next())
    finally:
        code, err = stop(process)
    assert first == [
        {"id": "Home", "hits": 3},
        {"id": "Blog", "hits": 2},
        {"id": "Post", "hits": 1},
    ]
    assert second[2] == {"id": "Post", "hits": 2}
    assert code == 0
    assert err == ""


def test_stream_stops_by_itself_after_duration(store_url: str) -> None:
    result = run("stream", "--store", store_url, "--data", "flow", "--duration", "0.5")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0])[0] == {"caller": None, "id": "Home", "hits": 3}


# -- serve -------------------------------------------------------------------------------


def _fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_serve_prints_its_url_and_serves_the_api_until_ctrl_c(store_url: str) -> None:
    process = start("serve", "--store", store_url, "--port", "0")
    assert process.stdout is not None
    try:
        banner = process.stdout.readline()
        url = banner.split(": ", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:")
        status, body = _fetch(url + "api/aggregate")
    finally:
        code, err = stop(process)
    assert status == 200
    assert body["message"][0] == {"id": "Home", "hits": 3}
    assert code == 0
    assert "Traceback" not in err


def test_serve_with_a_token_requires_it(store_url: str) -> None:
    process = start("serve", "--store", store_url, "--port", "0", "--token", "abc")
    assert process.stdout is not None
    try:
        url = process.stdout.readline().split(": ", 1)[1].strip()
        assert url.endswith("/?token=abc")
        base = url.split("?", 1)[0]
        refused, _ = _fetch(base + "api/flow")
        allowed, _ = _fetch(base + "api/flow", {"Authorization": "Bearer abc"})
    finally:
        stop(process)
    assert (refused, allowed) == (401, 200)


def _events(response: http.client.HTTPResponse, count: int) -> list[tuple[str, Any]]:
    """The next ``count`` SSE events with data, as (id, message)."""
    out: list[tuple[str, Any]] = []
    event_id = ""
    while len(out) < count:
        line = response.readline().decode()
        if not line:
            raise EOFError("stream ended")
        if line.startswith("id: "):
            event_id = line[4:].strip()
        elif line.startswith("data: "):
            out.append((event_id, json.loads(line[6:])["message"]))
    return out


def _stream(port: int, headers: dict[str, str]) -> tuple[Any, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    connection.request("GET", "/api/stream", headers=headers)
    response = connection.getresponse()
    assert response.status == 200
    return connection, response


def test_serve_streams_hits_another_process_records_and_resumes_after_a_reconnect(
    store_url: str,
) -> None:
    process = start("serve", "--store", store_url, "--port", "0")
    assert process.stdout is not None
    writer = Metrics("default", store=store_url)
    try:
        url = process.stdout.readline().split(": ", 1)[1].strip()
        port = int(url.rsplit(":", 1)[1].strip("/"))
        connection, response = _stream(port, {})
        writer.hit("Pricing", caller="Home")
        writer.flush()
        [(seen_id, first)] = _events(response, 1)
        connection.close()
        writer.hit("Signup", caller="Pricing")
        writer.hit("Home")
        writer.flush()
        connection, response = _stream(port, {"Last-Event-ID": seen_id})
        missed = _events(response, 2)
        connection.close()
    finally:
        writer.close()
        code, err = stop(process)
    assert (first["id"], first["hits"]) == ("Pricing", 1)
    assert [(m["id"], m["hits"]) for _, m in missed] == [("Signup", 1), ("Home", 4)]
    assert code == 0
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_serving_beyond_loopback_without_a_token_is_refused(store_url: str, command: str) -> None:
    result = run(command, "--store", store_url, "--host", "0.0.0.0", "--port", "0")
    assert_one_line_error(result, "refusing to serve on 0.0.0.0 without --token")


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "--store", "{url}"], "the following arguments are required: --data"),
        (["export", "--store", "{url}", "--data", "visitors"], "unknown data type 'visitors'"),
        (["stream", "--store", "{url}", "--data", "x"], "unknown data type 'x'"),
        (["stats"], "the following arguments are required: --store"),
        (["stats", "--store", "nosuch://x"], "cannot open store nosuch://x"),
        (["stats", "--store", "sqlite:///nonexistent-dir/deeper/x.db"], "cannot open store"),
        (["stats", "--store", "{url}", "--since", "last week"], "invalid since 'last week'"),
        (["export", "--store", "{url}", "--data", "flow", "--format", "xml"], "invalid choice"),
        (["stream", "--store", "{url}", "--interval", "0"], "expected a number of seconds > 0"),
        (["serve", "--store", "{url}", "--port", "99999"], "expected a port number"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_and_stores_exit_2_with_one_line(
    store_url: str, args: list[str], message: str
) -> None:
    result = run(*[a.replace("{url}", store_url) for a in args])
    assert_one_line_error(result, message)


def test_export_to_an_unwritable_file_exits_2_and_leaves_nothing(
    store_url: str, tmp_path: Path
) -> None:
    target = tmp_path / "missing-dir" / "out.json"
    result = run("export", "--store", store_url, "--data", "flow", "-o", str(target))
    assert_one_line_error(result, "No such file or directory")
    assert not target.exists()


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "pymetrix"
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    assert result.stdout.startswith("pymetrix ")


# -- series ----------------------------------------------------------------------------


def test_export_series_as_json_is_the_series_message(store_url: str, expected: Metrics) -> None:
    window = ("--since", "2024-01-09 18:00", "--until", "2024-01-09 19:00")
    result = run("export", "--store", store_url, "--data", "series", "--step", "1m", *window)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "message": expected.series(step="1m", since="2024-01-09 18:00", until="2024-01-09 19:00"),
        "response": 200,
    }


def test_export_series_as_ndjson_and_csv_has_a_row_per_node_and_bucket(store_url: str) -> None:
    window = ("--since", "2024-01-09", "--until", "2024-01-10", "--step", "1h")
    ndjson = run("export", "--store", store_url, "--data", "series", *window, "--format", "ndjson")
    assert ndjson.returncode == 0, ndjson.stderr
    rows = [json.loads(line) for line in ndjson.stdout.splitlines()]
    assert [(r["id"], r["hits"], r["errors"]) for r in rows] == [
        ("Home", 3, 0),
        ("Blog", 2, 1),
        ("Post", 1, 0),
    ]
    assert {r["time"] for r in rows} == {"2024-01-09 18:00:00.000000"}
    assert rows[1]["p95"] == pytest.approx(0.030, rel=0.01)
    csv_out = run("export", "--store", store_url, "--data", "series", *window, "--format", "csv")
    lines = csv_out.stdout.splitlines()
    assert lines[0] == "time,id,hits,errors,p50,p95,p99"
    assert [line.split(",")[1:4] for line in lines[1:]] == [
        ["Home", "3", "0"],
        ["Blog", "2", "1"],
        ["Post", "1", "0"],
    ]


def test_export_series_with_a_bad_step_is_a_one_line_error(store_url: str) -> None:
    assert_one_line_error(
        run("export", "--store", store_url, "--data", "series", "--step", "1 fortnight"),
        "invalid step",
    )
