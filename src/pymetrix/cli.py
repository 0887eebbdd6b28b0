"""The ``pymetrix`` command: demo, serve, export, stream, stats and apps.

Every command but ``demo`` reads an existing store named by ``--store URL`` (or the
``PYMETRIX_STORE`` environment variable), opened only to read: a store that does not
exist is an error, and nothing is created or registered in it. ``--app`` (``PYMETRIX_APP``)
names the app whose hits to read; without it, the store's only app. Errors print one line
on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, NoReturn, cast

from . import __version__
from ._json import dumps
from ._timefmt import TimeFormatter, parse_time
from .errors import MissingDependency, PymetrixError, StoreError
from .metrics import Metrics
from .pipeline import LiveFault
from .store import mask_url
from .store._cursor import Hit, HitCursor
from .store.base import AppCount, NodeCount, Query
from .types import DATA_TYPES, Series, SeriesLatencyNode
from .web.auth import is_loopback

__all__ = ["main"]

# The app a store is opened for to list its apps: read-only, it is not registered.
_ANY_APP = "default"
# Apps named in one error line at most.
_APPS_SHOWN = 10

_FORMATS = ("json", "ndjson", "csv")


class CommandError(Exception):
    """A failure to report in one line, exiting with status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with errors in one line (usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- argument parsing ----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pymetrix",
        description="Pymetrix: analytics for Python apps. Explore, export and serve hits.",
    )
    parser.add_argument("--version", action="version", version=f"pymetrix {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    demo = commands.add_parser(
        "demo",
        help="run a sample site with synthetic visitors and the dashboard",
        description="Start a sample web app instrumented with Pymetrix, drive synthetic "
        "visitors through it and serve the dashboard until Ctrl-C.",
    )
    demo.add_argument(
        "--store",
        metavar="URL",
        help="where the demo's hits are stored (default: ./pymetrix-demo.db)",
    )
    _listen_options(demo, default_port=8000)
    demo.add_argument("--duration", type=_seconds, help="stop by itself after this many seconds")
    demo.set_defaults(run=_demo)

    serve = commands.add_parser(
        "serve",
        help="serve the dashboard, API and metrics over a store",
        description="Serve the dashboard, the stats API with live streams and /metrics "
        "over an existing store (needs pymetrix[web]).",
    )
    _store_options(serve)
    _listen_options(serve, default_port=8000)
    serve.set_defaults(run=_serve)

    export = commands.add_parser(
        "export",
        help="write a time series, aggregate or flow as JSON, NDJSON or CSV",
        description="Write an export of a store, streamed in chunks: memory use does "
        "not grow with the data.",
    )
    _store_options(export)
    _data_option(export, required=True)
    _filter_options(export)
    export.add_argument(
        "--format", choices=_FORMATS, default="json", help="output format (default: json)"
    )
    export.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    export.add_argument(
        "--detail", action="store_true", help="time_series JSON: add duration and status"
    )
    export.add_argument(
        "--stats", action="store_true", help="aggregate: add p50, p95, p99 and errors"
    )
    export.add_argument(
        "--step",
        metavar="STEP",
        help="series: bucket width, e.g. 30s, 5m, 1h, 1d (default: chosen from the range)",
    )
    export.add_argument(
        "--top", type=_positive_int, metavar="N", help="series: only the N most hit nodes"
    )
    export.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=50_000,
        metavar="N",
        help="hits read from the store at a time (default: %(default)s)",
    )
    export.set_defaults(run=_export)

    stream = commands.add_parser(
        "stream",
        help="print the live export as NDJSON until Ctrl-C",
        description="Print new hits (time_series) or each change of the aggregate or "
        "flow as one JSON object per line, until Ctrl-C.",
    )
    _store_options(stream)
    _data_option(stream, required=False)
    stream.add_argument(
        "--ids", type=_ids, metavar="ID,ID", help="only these nodes (comma-separated)"
    )
    stream.add_argument(
        "--interval",
        type=_seconds,
        default=1.0,
        help="seconds between reads of the store (default: %(default)s)",
    )
    stream.add_argument("--duration", type=_seconds, help="stop by itself after this many seconds")
    stream.set_defaults(run=_stream)

    stats = commands.add_parser(
        "stats",
        help="print hits, latency and errors per node as a table",
        description="Print the aggregate of a store as a table, most hit nodes first.",
    )
    _store_options(stats)
    _filter_options(stats)
    stats.set_defaults(run=_stats)

    apps = commands.add_parser(
        "apps",
        help="list the apps of a store with their hits",
        description="List the apps a store holds, with their hits and the times of their "
        "first and last hit (UTC).",
    )
    _store_option(apps)
    apps.set_defaults(run=_apps)
    return parser


def _store_option(parser: argparse.ArgumentParser) -> None:
    store = os.environ.get("PYMETRIX_STORE")
    parser.add_argument(
        "--store",
        default=store,
        required=store is None,
        metavar="URL",
        help="the store to read, e.g. sqlite:///hits.db (env: PYMETRIX_STORE)",
    )


def _store_options(parser: argparse.ArgumentParser) -> None:
    _store_option(parser)
    parser.add_argument(
        "--app",
        default=os.environ.get("PYMETRIX_APP") or None,
        metavar="ID",
        help="the app whose hits to read (env: PYMETRIX_APP; default: the store's only "
        "app; pymetrix apps lists them)",
    )


def _listen_options(parser: argparse.ArgumentParser, default_port: int) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=default_port,
        help="port to listen on, 0 for any free one (default: %(default)s)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("PYMETRIX_TOKEN") or None,
        help="require this bearer token on every request (env: PYMETRIX_TOKEN)",
    )


def _data_option(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument(
        "--data",
        type=_data,
        required=required,
        default=None if required else "time_series",
        metavar="TYPE",
        help="time_series, aggregate, flow or series"
        + ("" if required else " (default: time_series)"),
    )


def _filter_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", metavar="TIME", help="only hits at or after this time")
    parser.add_argument("--until", metavar="TIME", help="only hits before this time")
    parser.add_argument(
        "--ids", type=_ids, metavar="ID,ID", help="only these nodes (comma-separated)"
    )


def _data(text: str) -> str:
    if text not in DATA_TYPES:
        raise argparse.ArgumentTypeError(
            f"unknown data type {text!r}: expected time_series, aggregate or flow"
        )
    return text


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, not {text!r}")
    return value


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, not {text!r}")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0..65535, not {text!r}")
    return int(text)


def _ids(text: str) -> frozenset[str]:
    ids = frozenset(piece for piece in text.split(",") if piece)
    if not ids:
        raise argparse.ArgumentTypeError("expected node ids separated by commas")
    return ids


# -- entry point ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pymetrix`` command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except KeyboardInterrupt:
        # Ctrl-C is how stream, serve and demo are meant to end; it cuts others short.
        return 0 if args.command in ("stream", "serve", "demo") else 130
    except BrokenPipeError:
        # The reader went away (``pymetrix export ... | head``): not an error of ours.
        _silence_stdout()
        return 0
    except (CommandError, PymetrixError, OSError, ValueError) as exc:
        # One line, whatever the message holds (a driver's may span several).
        message = " ".join(str(exc).split())
        print(f"pymetrix {args.command}: error: {message}", file=sys.stderr)
        return 2


def _silence_stdout() -> None:
    # Python flushes stdout at exit; with the pipe closed that would print a traceback.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _open(args: argparse.Namespace) -> Metrics:
    """The app ``--app`` names (else the store's only one), opened only to read."""
    url: str = args.store
    wanted: str | None = args.app
    metrics = _open_app(url, wanted or _ANY_APP)
    try:
        app = _choose_app(metrics.store.apps(), wanted, mask_url(url))
    except BaseException:
        metrics.close()
        raise
    if app != metrics.id:
        metrics.close()
        metrics = _open_app(url, app)
    return metrics


def _open_app(url: str, app: str) -> Metrics:
    try:
        return Metrics(app, store=url, read_only=True)
    except Exception as exc:
        # Ours, or a driver's own error (a database that refuses the connection, say).
        shown = mask_url(url)
        message = str(exc)
        if isinstance(exc, StoreError) and exc.url == shown:
            message = message.removesuffix(f" ({shown})")
        raise CommandError(f"cannot open store {shown}: {message}") from None


def _choose_app(apps: Sequence[AppCount], wanted: str | None, shown: str) -> str:
    """The app to read: ``wanted`` if the store holds it, else the store's only app."""
    names = [entry.app for entry in apps]
    if wanted is not None:
        if wanted in names:
            return wanted
        if not apps:
            raise CommandError(f"no app {wanted!r} in {shown}: it holds no app yet")
        raise CommandError(f"no app {wanted!r} in {shown}: it holds {_listing(apps)}")
    if len(apps) == 1:
        return names[0]
    if not apps:
        raise CommandError(f"{shown} holds no app yet: nothing to read")
    raise CommandError(f"{shown} holds {len(apps)} apps: pass --app with one of {_listing(apps)}")


def _listing(apps: Sequence[AppCount]) -> str:
    """Apps with their hits, for one line: the most hit first when they are many."""
    shown = list(apps)
    more = len(shown) - _APPS_SHOWN
    if more > 0:
        shown = sorted(shown, key=lambda entry: -entry.hits)[:_APPS_SHOWN]
    text = ", ".join(
        f"{entry.app!r} ({entry.hits:,} hit{'' if entry.hits == 1 else 's'})" for entry in shown
    )
    if more > 0:
        text += f" and {more:,} more (pymetrix apps lists them)"
    return text


# -- demo ----------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    _check_bind(args.host, args.token)
    from . import demo

    # demo.run prints the URL and runs until Ctrl-C or ``duration`` seconds. Without
    # --store, its own default (sqlite:///pymetrix-demo.db, i.e. ./pymetrix-demo.db) applies.
    options: dict[str, Any] = {} if args.store is None else {"store_url": args.store}
    return demo.run(
        host=args.host,
        port=args.port,
        duration=args.duration,
        token=args.token,
        **options,
    )


# -- serve ---------------------------------------------------------------------------------


def _check_bind(host: str, token: str | None) -> None:
    if token is None and not is_loopback(host):
        raise CommandError(
            f"refusing to serve on {host} without --token: anyone who can reach it could "
            "read your stats; pass --token SECRET, or keep the default --host 127.0.0.1"
        )


def _serve(args: argparse.Namespace) -> int:
    _check_bind(args.host, args.token)
    try:
        import uvicorn
    except ImportError:
        raise MissingDependency("uvicorn", "web") from None
    from .web import stats_app

    metrics = _open(args)
    try:
        sock = _listen(args.host, args.port)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        query = "" if args.token is None else "?token=" + args.token
        print(f"Pymetrix dashboard for {metrics.id!r}: http://{shown}:{port}/{query}", flush=True)
        config = uvicorn.Config(
            stats_app(metrics, token=args.token),
            log_level="warning",
            # Live streams never end by themselves: do not wait on them at Ctrl-C.
            timeout_graceful_shutdown=1,
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        metrics.close()
    return 0


def _listen(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CommandError(f"cannot listen on {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        # Listening now: a client that reads the printed URL can connect at once.
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


# -- export --------------------------------------------------------------------------------


def _query(args: argparse.Namespace, metrics: Metrics) -> Query:
    since = None if args.since is None else parse_time(args.since, "since", metrics.tz)
    until = None if args.until is None else parse_time(args.until, "until", metrics.tz)
    return Query(since_ns=since, until_ns=until, ids=args.ids)


def _export(args: argparse.Namespace) -> int:
    metrics = _open(args)
    try:
        query = _query(args, metrics)
        if args.output is None:
            _write_export(args, metrics, query, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            try:
                with open(args.output, "wb") as out:
                    _write_export(args, metrics, query, out)
            except BaseException:
                # No half-written file left behind to be mistaken for an export.
                if os.path.exists(args.output):
                    os.unlink(args.output)
                raise
    finally:
        metrics.close()
    return 0


def _write_export(args: argparse.Namespace, metrics: Metrics, query: Query, out: IO[bytes]) -> None:
    data, fmt = args.data, args.format
    filters: dict[str, Any] = {"since": args.since, "until": args.until, "ids": args.ids}
    if data == "series":
        _write_series(metrics.series(step=args.step, top=args.top, **filters), fmt, out)
        return
    if data != "time_series":
        if data == "aggregate":
            rows: list[Any] = metrics.aggregate(stats=args.stats, **filters)
        else:
            rows = metrics.flow(**filters)
        if fmt == "json":
            out.write(dumps({"message": rows, "response": 200}) + b"\n")
        elif fmt == "ndjson":
            for row in rows:
                out.write(dumps(row) + b"\n")
        else:
            fields = list(rows[0]) if rows else _CSV_FIELDS[(data, args.stats)]
            _write_csv(out, fields, rows)
        return

    # Time series: counts first (cheap), then the hits chunk by chunk.
    counts = metrics.store.counts(query)
    total = sum(count.hits for count in counts)
    fmt_time = TimeFormatter(metrics.tz)
    progress = _Progress(total, args.chunk_size)
    try:
        if fmt == "json":
            _time_series_json(metrics, query, counts, args, out, fmt_time, progress)
        else:
            if fmt == "csv":
                out.write(b"time,id,caller,duration,status\r\n")
            for hit in _hits(metrics, query, counts, args.chunk_size):
                if fmt == "ndjson":
                    out.write(dumps(_hit_record(hit, fmt_time)) + b"\n")
                else:
                    _write_csv(out, None, [_hit_row(hit, fmt_time)])
                progress.advance()
    finally:
        progress.done()


def _write_series(series: Series, fmt: str, out: IO[bytes]) -> None:
    """A series as JSON (the message), NDJSON (one line per node and bucket with hits)
    or CSV (the same rows)."""
    if fmt == "json":
        out.write(dumps({"message": series, "response": 200}) + b"\n")
        return
    fields = ["time", "id", "hits", "errors", "p50", "p95", "p99"]
    rows: list[list[Any]] = []
    for node in series["nodes"]:
        latency = cast("SeriesLatencyNode", node)
        width = len(series["buckets"])
        percentiles: list[list[float | None]] = [
            latency.get("p50", [None] * width),
            latency.get("p95", [None] * width),
            latency.get("p99", [None] * width),
        ]
        for i, start in enumerate(series["buckets"]):
            if node["hits"][i]:
                rows.append(
                    [start, node["id"], node["hits"][i], node["errors"][i]]
                    + [column[i] for column in percentiles]
                )
    rows.sort(key=lambda row: str(row[0]))
    if fmt == "ndjson":
        for row in rows:
            out.write(dumps(dict(zip(fields, row))) + b"\n")
    else:
        _write_csv(out, None, [fields, *rows])


_CSV_FIELDS = {
    ("aggregate", False): ["id", "hits"],
    ("aggregate", True): ["id", "hits", "p50", "p95", "p99", "errors"],
    ("flow", False): ["caller", "id", "hits"],
    ("flow", True): ["caller", "id", "hits"],
}


def _write_csv(out: IO[bytes], fields: list[str] | None, rows: Sequence[Any]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if fields is not None:
        writer.writerow(fields)
        rows = [[row[name] for name in fields] for row in rows]
    writer.writerows([["" if cell is None else cell for cell in row] for row in rows])
    out.write(buffer.getvalue().encode())


def _hit_record(hit: Hit, fmt: TimeFormatter) -> dict[str, Any]:
    return {
        "time": fmt(hit.time_ns),
        "id": hit.node,
        "caller": hit.caller,
        "duration": hit.duration,
        "status": hit.status,
    }


def _hit_row(hit: Hit, fmt: TimeFormatter) -> list[Any]:
    return [fmt(hit.time_ns), hit.node, hit.caller, hit.duration, hit.status]


def _hits(metrics: Metrics, query: Query, counts: Sequence[NodeCount], chunk: int) -> Iterator[Hit]:
    """The hits of ``query`` in time order, read in time windows of about ``chunk`` hits."""
    if not counts:
        return
    total = sum(count.hits for count in counts)
    start = min(count.first_ns for count in counts)
    if query.since_ns is not None:
        start = max(start, query.since_ns)
    # A fixed end: hits recorded while the export runs belong to the next one.
    end = query.until_ns if query.until_ns is not None else metrics.clock.time_ns() + 1
    cursor = HitCursor(metrics.store, ids=query.ids, position=(start, -1), until_ns=end)
    # First guess from the average density; then halve or double to stay near ``chunk``.
    width = max(1, (end - start) * chunk // max(total, 1))
    low = start
    while low < end:
        high = min(end, low + width)
        n = 0
        for hit in cursor.read(until_ns=high):
            n += 1
            yield hit
        low = high
        if n > chunk:
            width = max(1, width // 2)
        elif n < chunk // 2:
            width *= 2


def _time_series_json(
    metrics: Metrics,
    query: Query,
    counts: Sequence[NodeCount],
    args: argparse.Namespace,
    out: IO[bytes],
    fmt: TimeFormatter,
    progress: _Progress,
) -> None:
    """The time-series envelope, written node by node."""
    total = sum(count.hits for count in counts)
    if total <= args.chunk_size:
        # Small enough to build at once, and exactly what ``Metrics.export`` returns.
        envelope = metrics.export(
            "time_series", since=args.since, until=args.until, ids=args.ids, detail=args.detail
        )
        out.write(dumps(envelope) + b"\n")
        return
    out.write(b'{"message":{"id":' + dumps(metrics.id) + b',"nodes":[')
    for i, count in enumerate(counts):
        head = {"id": count.node, "hits": count.hits, "time": fmt(count.first_ns)}
        out.write((b"," if i else b"") + dumps(head)[:-1] + b',"callers":[')
        node_query = Query(query.since_ns, query.until_ns, frozenset((count.node,)))
        first = True
        for hit in _hits(metrics, node_query, [count], args.chunk_size):
            entry: dict[str, Any] = {"caller": hit.caller, "time": fmt(hit.time_ns)}
            if args.detail:
                entry["duration"] = hit.duration
                entry["status"] = hit.status
            out.write((b"" if first else b",") + dumps(entry))
            first = False
            progress.advance()
        out.write(b"]}")
    out.write(b']},"response":200}\n')


class _Progress:
    """A progress line on stderr, shown only on a terminal and only for long exports."""

    def __init__(self, total: int, chunk: int) -> None:
        self._total = total
        self._done = 0
        self._next = 0.0
        self._enabled = total > chunk and sys.stderr.isatty()

    def advance(self) -> None:
        self._done += 1
        if self._enabled and self._done % 1024 == 0:
            now = time.monotonic()
            if now >= self._next:
                self._next = now + 0.1
                self._draw()

    def _draw(self) -> None:
        share = min(1.0, self._done / self._total)
        bar = "#" * int(share * 30)
        sys.stderr.write(
            f"\rexporting [{bar:<30}] {share:4.0%} {self._done:,}/{self._total:,} hits"
        )
        sys.stderr.flush()

    def done(self) -> None:
        if self._enabled:
            self._draw()
            sys.stderr.write("\n")
            sys.stderr.flush()


# -- stream --------------------------------------------------------------------------------


def _stream(args: argparse.Namespace) -> int:
    metrics = _open(args)
    try:
        options: dict[str, Any] = {"detail": True} if args.data == "time_series" else {}
        stream = metrics.stream(
            args.data, ids=args.ids, interval=args.interval, duration=args.duration, **options
        )
        # SIGTERM ends the stream as Ctrl-C does.
        signal.signal(signal.SIGTERM, lambda *_: stream.close())
        out = sys.stdout.buffer
        with stream:
            while events := stream.read():
                for event in events:
                    if isinstance(event, LiveFault):
                        print(f"pymetrix stream: {event.message}", file=sys.stderr)
                        continue
                    out.write(dumps(event.data) + b"\n")
                out.flush()
    finally:
        metrics.close()
    return 0


# -- stats ---------------------------------------------------------------------------------


def _stats(args: argparse.Namespace) -> int:
    metrics = _open(args)
    app = metrics.id
    try:
        rows = metrics.aggregate(since=args.since, until=args.until, ids=args.ids, stats=True)
    finally:
        metrics.close()
    rows = sorted(rows, key=lambda row: -row["hits"])
    table = [["node", "hits", "p50 ms", "p95 ms", "errors"]]
    for row in rows:
        table.append(
            [row["id"], f"{row['hits']:,}", _ms(row["p50"]), _ms(row["p95"]), f"{row['errors']:,}"]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for n, line in enumerate(table):
        cells = [line[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(line[1:], widths[1:])]
        print("  ".join(cells).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    total = sum(row["hits"] for row in rows)
    print(f"{len(rows):,} nodes, {total:,} hits")
    if not rows and args.since is None and args.until is None and args.ids is None:
        print(
            f"pymetrix stats: app {app!r} has no hits in {mask_url(args.store)} yet",
            file=sys.stderr,
        )
    return 0


# -- apps ----------------------------------------------------------------------------------


def _apps(args: argparse.Namespace) -> int:
    metrics = _open_app(args.store, _ANY_APP)
    try:
        apps = metrics.store.apps()
    finally:
        metrics.close()
    fmt = TimeFormatter()  # UTC
    table = [["app", "hits", "first hit", "last hit"]]
    for entry in apps:
        first = "-" if entry.first_ns is None else fmt(entry.first_ns)
        last = "-" if entry.last_ns is None else fmt(entry.last_ns)
        table.append([entry.app, f"{entry.hits:,}", first, last])
    _print_table(table)
    total = sum(entry.hits for entry in apps)
    print(f"{len(apps):,} app{'' if len(apps) == 1 else 's'}, {total:,} hits")
    return 0


def _print_table(table: list[list[str]]) -> None:
    """Rows of cells, the first a header: names left-aligned, numbers right-aligned."""
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for n, line in enumerate(table):
        cells = [line[0].ljust(widths[0]), line[1].rjust(widths[1])]
        cells += [c.ljust(w) for c, w in zip(line[2:], widths[2:])]
        print("  ".join(cells).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
