"""``Metrics``: record hits on nodes, export them as time series, aggregates and flows."""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Literal, TypeVar, overload

from . import _export, _series
from ._timefmt import TimeFormatter, parse_time
from ._validation import check_duration, check_id, check_status, is_positive
from .clock import Clock, SystemClock
from .errors import InvalidArgument, InvalidQuery, MissingArgument, StoreClosed, StoreError
from .pipeline import LiveStream, snapshot_stream, time_series_stream
from .store import Backlog, QuarantinedBatch, Query, Store, StoreOptions, open_store
from .store._rollup import Rollups
from .types import (
    DATA_TYPES,
    AggregateEntry,
    AggregateStatsEntry,
    Envelope,
    FlowEntry,
    Series,
    TimeSeries,
    TimeSeriesDetail,
    TimeSeriesNode,
)

__all__ = ["OVERFLOW", "Metrics"]

logger = logging.getLogger("pymetrix")

OVERFLOW = "__overflow__"
"""The node that counts hits on new ids once ``max_nodes`` ids are known."""

F = TypeVar("F", bound=Callable[..., Any])


class _FromContext:
    def __repr__(self) -> str:
        return "<caller from context>"


_FROM_CONTEXT: Any = _FromContext()

_MODES = ("snapshot", "live")


class Metrics:
    """Hits on the nodes of one app, and their exports.

    Args:
        id: the app id, shown as the time series' ``id`` (``loc=`` is the original's name).
        store: a :class:`~pymetrix.store.Store` or a URL such as ``memory://``.
        clock: where hit times come from (default: the system clock).
        tz: the zone export times are shown in: a ``tzinfo`` or a name (default UTC).
        max_nodes: distinct ids kept; hits on further new ids count under ``__overflow__``.
        max_id_length: the longest id accepted.
        retention: per-hit entries older than this are dropped (counts stay exact, and so
            do windowed counts, flows, series and percentiles, read from rollups).
        rollup_retention: rollups older than this are dropped (default: kept).
        max_events: per-hit entries kept at most (counts stay exact).
        read_only: only read the store a URL names, as a dashboard or report over hits
            other processes record: a database (SQLite file) that does not exist is a
            ``StoreError`` instead of being created, the app is not registered in it,
            and :meth:`hit` raises ``StoreError``.
    """

    def __init__(
        self,
        id: str | None = None,
        *,
        loc: str | None = None,
        store: Store | str | None = None,
        clock: Clock | None = None,
        tz: tzinfo | str | None = None,
        max_nodes: int = 10_000,
        max_id_length: int = 256,
        retention: timedelta | None = None,
        max_events: int = 10_000_000,
        rollup_retention: timedelta | None = None,
        read_only: bool = False,
    ) -> None:
        if id is None:
            id = loc
        elif loc is not None:
            raise MissingArgument("give the app id once: Metrics(id) or Metrics(loc=id)")
        if id is None:
            raise MissingArgument("Metrics() needs an app id, e.g. Metrics('shop')")
        if not isinstance(id, str) or not id:
            raise InvalidArgument("app id", id, "a non-empty str")
        if not isinstance(max_nodes, int) or max_nodes < 1:
            raise InvalidArgument("max_nodes", max_nodes, "an int >= 1")
        if not isinstance(max_id_length, int) or max_id_length < 1:
            raise InvalidArgument("max_id_length", max_id_length, "an int >= 1")
        if retention is not None and (
            not isinstance(retention, timedelta) or retention <= timedelta(0)
        ):
            raise InvalidArgument("retention", retention, "a positive timedelta or None")
        if rollup_retention is not None and (
            not isinstance(rollup_retention, timedelta) or rollup_retention <= timedelta(0)
        ):
            raise InvalidArgument(
                "rollup_retention", rollup_retention, "a positive timedelta or None"
            )
        if not isinstance(max_events, int) or max_events < 1:
            raise InvalidArgument("max_events", max_events, "an int >= 1")
        self._id = id
        self._clock: Clock = clock or SystemClock()
        self._tz = _zone(tz)
        self._max_nodes = max_nodes
        self._max_id_length = max_id_length
        if store is None:
            store = "memory://"
        self._owns_store = isinstance(store, str)
        if isinstance(store, str):
            options = StoreOptions(
                app=id,
                clock=self._clock,
                retention=retention,
                max_events=max_events,
                rollup_retention=rollup_retention,
                read_only=read_only,
            )
            store = open_store(store, options)
        elif read_only:
            raise InvalidArgument("read_only", read_only, "False with a Store object")
        self._store: Store = store
        # Bound once: hit() is the hot path.
        self._now = self._clock.time_ns
        self._append = self._refuse_read_only if read_only else store.append
        self._offload = store.blocking_reads
        # Valid ids seen so far, mapped to the id they are stored under.
        self._known: dict[str, str] = {}
        self._admit_lock = threading.Lock()
        self._overflowed = False
        self._current: ContextVar[str | None] = ContextVar(f"pymetrix.caller.{id}", default=None)
        self._closed = False
        self._warned_closed = False

    # -- properties ------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The app id."""
        return self._id

    @property
    def store(self) -> Store:
        return self._store

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def tz(self) -> tzinfo:
        return self._tz

    @property
    def max_id_length(self) -> int:
        """The longest node id accepted, in characters."""
        return self._max_id_length

    @property
    def dropped(self) -> int:
        """Hits lost for good: storage failed for longer than its buffer lasts, refused
        them (see :attr:`quarantine`), or they were still queued when it closed."""
        return self._store.dropped

    def backlog(self) -> Backlog:
        """Hits recorded here and not yet stored, how long the oldest has waited, and
        hits lost: what a crash of this process would lose, and what it has lost."""
        return self._store.backlog()

    @property
    def quarantine(self) -> list[QuarantinedBatch]:
        """Hits the store refused for a reason retrying cannot fix, kept to inspect."""
        quarantine: list[QuarantinedBatch] = getattr(self._store, "quarantine", [])
        return quarantine

    # -- recording -------------------------------------------------------------------

    def hit(
        self,
        id: str,
        caller: str | None = _FROM_CONTEXT,
        duration: float | None = None,
        status: int | None = None,
    ) -> None:
        """Record one hit on node ``id``, now.

        Args:
            id: the node hit.
            caller: the node that led here; by default the innermost tracked call
                running in this context; None for none.
            duration: how long the hit took, in seconds.
            status: an HTTP-style status code, 100..599.
        """
        time_ns = self._now()
        known = self._known
        try:
            node = known[id]
        except (KeyError, TypeError):
            node = self._admit(id, "node id")
        if caller is _FROM_CONTEXT:
            caller = self._current.get()
        elif caller is not None:
            try:
                caller = known[caller]
            except (KeyError, TypeError):
                caller = self._admit(caller, "caller")
        # Exact-type range checks first: the common valid case costs two comparisons.
        if duration is not None and (duration.__class__ is not float or not 0.0 <= duration < 1e9):
            duration = check_duration(duration)
        if status is not None and (status.__class__ is not int or not 100 <= status <= 599):
            status = check_status(status)
        self._append(time_ns, node, caller, duration, status)

    def _admit(self, raw: Any, what: str) -> str:
        """Validate an id not seen before and decide what it is stored under."""
        value = check_id(raw, self._max_id_length, what)
        with self._admit_lock:
            stored = self._known.get(value)
            if stored is not None:
                return stored
            if len(self._known) >= self._max_nodes:
                if not self._overflowed:
                    self._overflowed = True
                    logger.warning(
                        "pymetrix app %r: more than %d distinct ids; hits on new ids are "
                        "counted under %r",
                        self._id,
                        self._max_nodes,
                        OVERFLOW,
                    )
                return OVERFLOW
            self._known[value] = value
            return value

    # -- instrumentation: for middleware and other code running inside a host app ----

    def record(
        self,
        id: str,
        *,
        caller: str | None = _FROM_CONTEXT,
        duration: float | None = None,
        status: int | None = None,
    ) -> None:
        """:meth:`hit` for instrumentation: a fault is logged, never raised into the app.

        An invalid id or a storage failure is logged on the ``pymetrix`` logger; a hit
        after :meth:`close` (a request still running at shutdown) is dropped with one
        warning for all of them.

        Args:
            id: the node hit.
            caller: the node that led here; by default the current caller; None for none.
            duration: how long the hit took, in seconds.
            status: an HTTP-style status code, 100..599.
        """
        try:
            self.hit(id, caller, duration, status)
        except StoreClosed:
            self._refused_after_close()
        except Exception:
            logger.exception("pymetrix app %r: could not record a hit on %r", self._id, id)

    def check_id(self, id: object) -> str:
        """``id`` if it is a valid node id here, else raise.

        Valid: a non-empty ``str`` of at most :attr:`max_id_length` characters, without
        control characters or lone surrogates.

        Raises:
            InvalidNodeType: ``id`` is not a ``str``.
            InvalidNodeId: it is empty, too long or holds a character no store can keep.
        """
        return check_id(id, self._max_id_length)

    def set_caller(self, id: str) -> Token[str | None]:
        """Make ``id`` the current caller until :meth:`reset_caller` is given the token.

        The form of :meth:`as_caller` for instrumentation that cannot wrap the work in a
        ``with`` block. ``id`` is not checked here (that costs time on every request):
        give a route template or an id that :meth:`check_id` accepted.
        """
        return self._current.set(id)

    def reset_caller(self, token: Token[str | None]) -> None:
        """Restore the caller that was current before :meth:`set_caller` made ``token``."""
        self._current.reset(token)

    def _refused_after_close(self) -> None:
        # Requests still running while the process shuts down land here: say it once.
        if not self._warned_closed:
            self._warned_closed = True
            logger.warning(
                "pymetrix app %r: a hit came after close() and is not recorded; "
                "later ones are not reported",
                self._id,
            )

    @overload
    def track(self, target: F, /) -> F: ...

    @overload
    def track(self, target: str | None = None, /) -> Callable[[F], F]: ...

    def track(self, target: F | str | None = None, /) -> F | Callable[[F], F]:
        """Decorate a function so that each call records a hit, with its duration.

        ``@metrics.track`` uses the function's ``__qualname__`` as node id;
        ``@metrics.track("Home")`` names it. Calls made inside become its callees: their
        caller is this node. A call that raises is recorded with status 500.
        """
        if callable(target):
            return self._tracker(target.__qualname__)(target)
        if target is not None:
            check_id(target, self._max_id_length)
        return lambda func: self._tracker(target or func.__qualname__)(func)

    def _tracker(self, node: str) -> Callable[[F], F]:
        # Validated and admitted once, here: each call then goes straight to the store.
        stored = self._admit(node, "node id")
        current = self._current
        perf = time.perf_counter_ns
        now = self._now

        def record(caller: str | None, start: int, status: int | None) -> None:
            try:
                # Looked up per call: close() swaps it for one that refuses.
                self._append(now(), stored, caller, (perf() - start) / 1e9, status)
            except StoreClosed:
                self._refused_after_close()
            except Exception:
                logger.exception("pymetrix app %r: could not record a hit on %r", self._id, node)

        def decorate(func: F) -> F:
            if inspect.iscoroutinefunction(func):

                @functools.wraps(func)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    caller = current.get()
                    token = current.set(stored)
                    start = perf()
                    status = None
                    try:
                        return await func(*args, **kwargs)
                    except Exception:
                        status = 500
                        raise
                    finally:
                        current.reset(token)
                        record(caller, start, status)

                return async_wrapper  # type: ignore[return-value]

            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                caller = current.get()
                token = current.set(stored)
                start = perf()
                status = None
                try:
                    return func(*args, **kwargs)
                except Exception:
                    status = 500
                    raise
                finally:
                    current.reset(token)
                    record(caller, start, status)

            return wrapper  # type: ignore[return-value]

        return decorate

    @contextmanager
    def as_caller(self, id: str) -> Iterator[None]:
        """Within this block, hits recorded without an explicit caller get ``id`` as caller."""
        check_id(id, self._max_id_length)
        token = self._current.set(id)
        try:
            yield
        finally:
            self._current.reset(token)

    @property
    def current_caller(self) -> str | None:
        """The node that hits recorded here and now would get as caller."""
        return self._current.get()

    # -- exports ---------------------------------------------------------------------

    def _query(self, since: Any, until: Any, ids: Iterable[str] | None) -> Query:
        since_ns = None if since is None else parse_time(since, "since", self._tz)
        until_ns = None if until is None else parse_time(until, "until", self._tz)
        id_set = None
        if ids is not None:
            if isinstance(ids, str):
                ids = (ids,)
            try:
                id_set = frozenset(ids)
            except TypeError:
                raise InvalidQuery("ids", ids, "expected an iterable of node ids") from None
            bad = [i for i in id_set if not isinstance(i, str)]
            if bad:
                raise InvalidQuery("ids", bad[0], "node ids are str")
        return Query(since_ns=since_ns, until_ns=until_ns, ids=id_set)

    def _formatter(self) -> TimeFormatter:
        return TimeFormatter(self._tz)

    @overload
    def time_series(
        self,
        *,
        since: datetime | str | None = ...,
        until: datetime | str | None = ...,
        ids: Iterable[str] | None = ...,
        detail: Literal[False] = ...,
    ) -> TimeSeries: ...

    @overload
    def time_series(
        self,
        *,
        since: datetime | str | None = ...,
        until: datetime | str | None = ...,
        ids: Iterable[str] | None = ...,
        detail: Literal[True],
    ) -> TimeSeriesDetail: ...

    def time_series(
        self,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        ids: Iterable[str] | None = None,
        detail: bool = False,
    ) -> TimeSeries | TimeSeriesDetail:
        """Every hit per node with its caller and time: the time-series export.

        Args:
            since: only hits at or after this time (a ``datetime`` or time string).
            until: only hits before this time.
            ids: only these nodes.
            detail: add ``duration`` and ``status`` to each callers entry.
        """
        snapshot = self._store.snapshot(self._query(since, until, ids))
        return _export.time_series(self._id, snapshot, self._formatter(), detail)

    @overload
    def aggregate(
        self,
        *,
        since: datetime | str | None = ...,
        until: datetime | str | None = ...,
        ids: Iterable[str] | None = ...,
        stats: Literal[False] = ...,
    ) -> list[AggregateEntry]: ...

    @overload
    def aggregate(
        self,
        *,
        since: datetime | str | None = ...,
        until: datetime | str | None = ...,
        ids: Iterable[str] | None = ...,
        stats: Literal[True],
    ) -> list[AggregateStatsEntry]: ...

    def aggregate(
        self,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        ids: Iterable[str] | None = None,
        stats: bool = False,
    ) -> list[AggregateEntry] | list[AggregateStatsEntry]:
        """Hits per node, in first-hit order: the aggregate export.

        Args:
            since, until, ids: filters, as for :meth:`time_series`.
            stats: add ``p50``, ``p95``, ``p99`` (seconds) and ``errors`` (status >= 500).
        """
        query = self._query(since, until, ids)
        if stats:
            # Percentiles and errors from rollups; all-time hits from the exact counts.
            exact = None
            if not query.windowed:
                exact = {count.node: count.hits for count in self._store.counts(query)}
            return _series.aggregate_stats(self._rollups(query, edges=False), exact)
        if query.windowed:
            rollups = self._rollups(query, sketches=False, edges=False)
            return _export.aggregate(_series.counts(rollups))
        return _export.aggregate(self._store.counts(query))

    def flow(
        self,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        ids: Iterable[str] | None = None,
    ) -> list[FlowEntry]:
        """Caller -> node hit counts; ``ids`` filters on the node hit."""
        query = self._query(since, until, ids)
        if query.windowed:
            return _export.flow(_series.edges(self._rollups(query, sketches=False)))
        return _export.flow(self._store.edges(query))

    def series(
        self,
        *,
        step: float | timedelta | str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        ids: Iterable[str] | None = None,
        top: int | None = None,
        latency: bool = True,
    ) -> Series:
        """Hits, errors and latency (p50/p95/p99) per node per time bucket.

        Read from rollups: it costs what the buckets cost, whatever the hit count.

        Args:
            step: the bucket width: seconds, a ``timedelta`` or ``"30s"``, ``"5m"``,
                ``"1h"``, ``"1d"``; by default chosen from the range (at most 300).
            since: the range's start (default: the first hit); widened to a bucket start.
            until: the range's end (default: now); widened to a bucket end.
            ids: only these nodes.
            top: only the ``top`` nodes with the most hits in the range.
            latency: add ``p50``, ``p95`` and ``p99`` per bucket (False: hits and errors
                only, without reading latency sketches: cheaper for wide charts).
        """
        if top is not None and (not isinstance(top, int) or isinstance(top, bool) or top < 1):
            raise InvalidArgument("top", top, "an int >= 1, or None")
        size = _series.parse_step(step)
        query = self._query(since, until, ids)
        hi = query.until_ns if query.until_ns is not None else self._now() + 1
        lo = query.since_ns
        if lo is None:
            firsts = [count.first_ns for count in self._store.counts(Query())]
            lo = min(firsts) if firsts else hi - 3_600_000_000_000
        lo = min(lo, hi - 1)
        if size is None:
            size = _series.choose_step(lo, hi)
        lo -= lo % size
        hi += -hi % size
        if (hi - lo) // size > 10_000:
            raise InvalidArgument("step", step, "a step giving at most 10,000 buckets")
        ids = query.ids
        if top is not None:
            # The top nodes first, from the range's coarsest rows: then only theirs are
            # read bucket by bucket.
            totals = _series.read(self._store, lo, hi, ids, None, sketches=False, edges=False)
            ranked = sorted(_series.counts(totals), key=lambda count: -count.hits)
            ids = frozenset(count.node for count in ranked[:top])
        rollups = _series.read(self._store, lo, hi, ids, size, sketches=latency, edges=False)
        return _series.series(self._id, rollups, lo, hi, size, self._formatter(), top, latency)

    def _rollups(self, query: Query, *, sketches: bool = True, edges: bool = True) -> Rollups:
        """The rollups of the query's range, merged into one bucket."""
        lo, hi = _series.ALL_TIME
        if query.since_ns is not None:
            lo = query.since_ns
        if query.until_ns is not None:
            hi = query.until_ns
        return _series.read(self._store, lo, hi, query.ids, None, sketches=sketches, edges=edges)

    def export(self, data: str = "time_series", **filters: Any) -> Envelope:
        """One of the exports wrapped as ``{"message": ..., "response": 200}``.

        Args:
            data: ``"time_series"``, ``"aggregate"``, ``"flow"`` or ``"series"``.
            filters: passed on to that export (``since``, ``until``, ``ids`` ...).
        """
        if data == "time_series":
            message: Any = self.time_series(**filters)
        elif data == "aggregate":
            message = self.aggregate(**filters)
        elif data == "flow":
            message = self.flow(**filters)
        elif data == "series":
            message = self.series(**filters)
        else:
            raise InvalidArgument("data", data, _one_of(DATA_TYPES))
        return {"message": message, "response": 200}

    def pipeline(
        self,
        data: str = "time_series",
        mode: str = "snapshot",
        interval: float = 1.0,
        duration: float | None = None,
    ) -> Any:
        """The export as a snapshot, or as a live stream.

        Args:
            data: ``"time_series"``, ``"aggregate"`` or ``"flow"``.
            mode: ``"snapshot"`` returns what ``time_series()``/``aggregate()``/``flow()``
                return; ``"live"`` returns a :class:`~pymetrix.pipeline.LiveStream`.
            interval: live aggregate/flow: seconds between checks for a change.
            duration: live: seconds after which iteration ends (None: until closed).
        """
        if data not in DATA_TYPES:
            raise InvalidArgument("data", data, _one_of(DATA_TYPES))
        if mode not in _MODES:
            raise InvalidArgument("mode", mode, _one_of(_MODES))
        _check_live(interval, duration)
        if mode == "snapshot":
            return self.export(data)["message"]
        return self.stream(data, interval=interval, duration=duration)

    @overload
    def stream(
        self,
        data: Literal["time_series"],
        *,
        ids: Iterable[str] | None = ...,
        detail: bool = ...,
        interval: float = ...,
        duration: float | None = ...,
        after: str | None = ...,
        resumable: bool = ...,
    ) -> LiveStream[TimeSeriesNode]: ...

    @overload
    def stream(
        self,
        data: Literal["aggregate"],
        *,
        ids: Iterable[str] | None = ...,
        stats: Literal[False] = ...,
        interval: float = ...,
        duration: float | None = ...,
    ) -> LiveStream[list[AggregateEntry]]: ...

    @overload
    def stream(
        self,
        data: Literal["aggregate"],
        *,
        ids: Iterable[str] | None = ...,
        stats: Literal[True],
        interval: float = ...,
        duration: float | None = ...,
    ) -> LiveStream[list[AggregateStatsEntry]]: ...

    @overload
    def stream(
        self,
        data: Literal["flow"],
        *,
        ids: Iterable[str] | None = ...,
        interval: float = ...,
        duration: float | None = ...,
    ) -> LiveStream[list[FlowEntry]]: ...

    @overload
    def stream(
        self,
        data: str,
        *,
        ids: Iterable[str] | None = ...,
        detail: bool = ...,
        stats: bool = ...,
        interval: float = ...,
        duration: float | None = ...,
        after: str | None = ...,
        resumable: bool = ...,
    ) -> LiveStream[Any]: ...

    def stream(
        self,
        data: str,
        *,
        ids: Iterable[str] | None = None,
        detail: bool = False,
        stats: bool = False,
        interval: float = 1.0,
        duration: float | None = None,
        after: str | None = None,
        resumable: bool = False,
        step: float | timedelta | str | None = None,
        since: datetime | str | None = None,
        top: int | None = None,
        latency: bool = True,
    ) -> LiveStream[Any]:
        """A live export: ``pipeline(data, mode="live")`` with more options, typed.

        A time series yields one node record per hit recorded from now on, with the
        node's total so far and the hit as its single callers entry; an aggregate or
        flow yields the whole export at once, then again whenever it changed.

        Args:
            data: ``"time_series"``, ``"aggregate"`` or ``"flow"``.
            ids: only these nodes.
            detail: time series: add ``duration`` and ``status`` to each callers entry.
            stats: aggregate: add ``p50``, ``p95``, ``p99`` and ``errors``.
            interval: seconds between checks of the store (for aggregate and flow,
                between computations).
            duration: seconds after which iteration ends (None: until closed).
            after: time series: start right after the hit of this
                :attr:`LiveEvent.id <pymetrix.pipeline.LiveEvent.id>` (from
                :meth:`LiveStream.read <pymetrix.pipeline.LiveStream.read>`), with every
                later hit the store still holds.
            resumable: time series: give every event an id for ``after`` even where the
                store is not ``resumable`` (whose events otherwise have none): its
                ``(time, ordinal)`` position, the hits then read by snapshot queries.
            step, since, top, latency: series: as for :meth:`series`, up to now at each
                computation, so the latest bucket fills as hits arrive.

        Raises:
            InvalidArgument: an unknown ``data``, a bad ``interval`` or ``duration``, or an
                option that ``data`` does not take.
            InvalidQuery: ``ids`` that are not node ids, an ``after`` that is not an id
                this store's streams give.
        """
        if data not in DATA_TYPES:
            raise InvalidArgument("data", data, _one_of(DATA_TYPES))
        _check_live(interval, duration)
        if detail and data != "time_series":
            raise InvalidArgument("detail", detail, "False: only a time series has detail")
        if stats and data != "aggregate":
            raise InvalidArgument("stats", stats, "False: only an aggregate has stats")
        if after is not None and data != "time_series":
            raise InvalidArgument("after", after, "None: only a time series resumes")
        if resumable and data != "time_series":
            raise InvalidArgument("resumable", resumable, "False: only a time series resumes")
        if data != "series" and (step is not None or since is not None or top is not None):
            raise InvalidArgument("step", step, "None: only a series has step, since and top")
        id_set = self._query(None, None, ids).ids
        if data == "time_series":
            return time_series_stream(
                self._store,
                self._formatter(),
                self._clock,
                ids=id_set,
                detail=detail,
                after=after,
                resumable=resumable,
                interval=interval,
                duration=duration,
            )
        compute: Callable[[], Any]
        if data == "aggregate":
            compute = functools.partial(self.aggregate, ids=id_set, stats=stats)
        elif data == "series":
            _series.parse_step(step)  # a bad step is refused now, not at the first read
            compute = functools.partial(
                self.series, step=step, since=since, ids=id_set, top=top, latency=latency
            )
        else:
            compute = functools.partial(self.flow, ids=id_set)
        return snapshot_stream(compute, interval=interval, duration=duration, offload=self._offload)

    # -- lifecycle -------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every hit recorded so far is stored; False if ``timeout`` ran out."""
        return self._store.flush(timeout)

    def close(self) -> None:
        """Flush, and close the store if this object opened it. Idempotent.

        Hits recorded afterwards raise :class:`~pymetrix.errors.StoreClosed` from
        :meth:`hit`; instrumentation (middleware, ``track``) logs that once instead.
        """
        if self._closed:
            return
        self._closed = True
        self._append = self._refuse
        if self._owns_store:
            self._store.close()
        else:
            self._store.flush()

    def _refuse(
        self,
        time_ns: int,
        node: str,
        caller: str | None,
        duration: float | None,
        status: int | None,
    ) -> None:
        raise StoreClosed(f"Metrics({self._id!r})")

    def _refuse_read_only(
        self,
        time_ns: int,
        node: str,
        caller: str | None,
        duration: float | None,
        status: int | None,
    ) -> None:
        raise StoreError("opened read-only: hits cannot be recorded", f"Metrics({self._id!r})")

    def __enter__(self) -> Metrics:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Metrics({self._id!r}, store={type(self._store).__name__})"

    # -- the original's surface --------------------------------------------------------

    def add_to_analytics(self, node: Any, layerName: str | None = None) -> None:
        """Record one hit on ``node.name`` (a ``flow.FlowNode``), as the original did."""
        self.hit(node.name)

    def display(self, id: str | None = None) -> None:
        """Print the hits per node as a table; only node ``id`` if given."""
        rows = self.aggregate(ids=None if id is None else [id])
        width = max([len("id"), *(len(row["id"]) for row in rows)])
        print(f"{'id':<{width}}  hits")
        for row in rows:
            print(f"{row['id']:<{width}}  {row['hits']}")


def _check_live(interval: Any, duration: Any) -> None:
    if not is_positive(interval):
        raise InvalidArgument("interval", interval, "a number of seconds > 0")
    if duration is not None and not is_positive(duration):
        raise InvalidArgument("duration", duration, "a number of seconds > 0, or None")


def _one_of(values: Iterable[str]) -> str:
    return "one of " + ", ".join(repr(v) for v in values)


def _zone(tz: tzinfo | str | None) -> tzinfo:
    if tz is None:
        return timezone.utc
    if isinstance(tz, tzinfo):
        return tz
    if isinstance(tz, str):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidArgument("tz", tz, "a tzinfo or an IANA zone name") from None
    raise InvalidArgument("tz", tz, "a tzinfo or an IANA zone name")
