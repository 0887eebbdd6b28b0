/* Pymetrix dashboard: plain DOM and SVG, no dependencies.
 *
 * Every id that comes from the API is put on the page with textContent or as a text
 * node, never parsed as markup: node ids are whatever the instrumented app named them.
 * All URLs are relative to the page, so the dashboard works wherever the stats app is
 * mounted (e.g. /pymetrix/).
 *
 * The page never reads per-hit data: the chart is the bucketed series of the range, the
 * table and KPIs its aggregate with stats, the flow its caller -> node counts. The server
 * reads all three from rollups, so a refresh costs (and weighs) what the range's buckets
 * and nodes do, whatever the number of hits behind them.
 */
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var PALETTE = ["#4f5bd5", "#12b76a", "#f79009", "#ee46bc", "#0ba5ec", "#7a5af8", "#f04438",
    "#15b79e", "#a15c07", "#98a2b3"];
  // The overview chart shows the busiest nodes of the range, one colour each.
  var CHART_TOP = PALETTE.length;
  // The live stream of the overview carries the latest buckets of this many nodes at most.
  var LIVE_TOP = 50;
  // Bucket widths the page picks from: the smallest giving at most MAX_BUCKETS bars.
  // From a minute up they are whole minutes, hours or days: the server then reads them
  // from its rollup tiers.
  var STEPS = [1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800];
  var MAX_BUCKETS = 120;
  // Round times for axis labels, in seconds.
  var LABEL_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
    21600, 43200, 86400, 172800, 604800, 2592000];
  // A stream is reopened at the latest bucket once it spans more buckets than this.
  var STREAM_SPAN = 4;
  var MAX_FLOW_LINKS = 60;
  var MAX_PEERS = 10;
  var FALLBACK_REFRESH_MS = 15000;
  var PERCENTILES = ["p50", "p95", "p99"];

  var params = new URLSearchParams(window.location.search);
  var token = params.get("token");
  if (params.has("token")) {
    // The token leaves the address bar at once, before it can be bookmarked, shared or
    // shown: the page keeps it for its own calls, and a reload is let in by the cookie
    // the server set with this page. (A redirect would drop the token as well, but a
    // link followed from another site would then arrive without that SameSite=Strict
    // cookie, and be refused.)
    var clean = new URL(window.location.href);
    clean.searchParams.delete("token");
    window.history.replaceState(window.history.state, "", clean);
  }

  var state = {
    range: "900",
    // The node of the node view; null for the overview.
    node: null,
    sortKey: "hits",
    sortDir: -1,
    filter: "",
    rows: [],
    flow: [],
    // What the chart shows: {id, lo, step, stepMs, count, nodes, byId, complete, moved}.
    chart: null,
    // The range read: {since, until, step, stepMs, live} (ms, until null for "now").
    window: null,
    previousHits: new Map(),
    // Each node's chart colour, kept for the page's life: {id: palette index}.
    colours: new Map(),
    serverOffsetMs: 0,
    // Each full read takes the next number: answers to an older one are dropped.
    generation: 0,
    loading: false,
    reloadPending: false,
    tablesInflight: false,
    tablesPending: false,
    tablesTimer: null,
    lastTablesStart: 0,
    lastTablesMs: 0,
    // The open live stream: {source, key, since, totals (of its last event)}.
    stream: null,
    retryTimer: null
  };

  // -- helpers ----------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    if (attrs) {
      for (var key in attrs) {
        if (Object.prototype.hasOwnProperty.call(attrs, key)) node.setAttribute(key, String(attrs[key]));
      }
    }
    return node;
  }

  function svgText(attrs, text) {
    var node = svg("text", attrs);
    node.textContent = String(text);
    return node;
  }

  function tooltip(parent, text) {
    var title = svg("title");
    title.textContent = text;
    parent.insertBefore(title, parent.firstChild);
  }

  function truncate(text, max) {
    text = String(text);
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  var integer = new Intl.NumberFormat();

  function formatCount(n) { return integer.format(n); }

  function formatSeconds(s) {
    if (s === null || s === undefined || isNaN(s)) return "–";
    if (s < 0.001) return (s * 1e6).toFixed(0) + " µs";
    if (s < 1) return (s * 1000).toFixed(s < 0.01 ? 2 : 1) + " ms";
    return s.toFixed(2) + " s";
  }

  // Seconds on an axis: as few digits as tell the grid lines apart.
  function formatAxisSeconds(s) {
    function short(x) { return String(Number(x.toPrecision(3))); }
    if (s >= 1) return short(s) + " s";
    if (s >= 0.001) return short(s * 1000) + " ms";
    return short(s * 1e6) + " µs";
  }

  function pad2(n) { return n < 10 ? "0" + n : String(n); }

  // One way of writing times on the whole page, whatever the browser's locale: dates as
  // 2026-11-29, times on a 24-hour clock (23:18, or 23:18:16 where seconds count).
  function formatDate(d) {
    return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate());
  }

  function formatTime(d, seconds) {
    var hm = pad2(d.getHours()) + ":" + pad2(d.getMinutes());
    return seconds ? hm + ":" + pad2(d.getSeconds()) : hm;
  }

  // An axis label: hours and minutes (seconds too under a minute), the date at midnight
  // or for labels a day or more apart.
  function formatClock(ms, step) {
    var d = new Date(ms);
    var midnight = d.getHours() === 0 && d.getMinutes() === 0 && d.getSeconds() === 0;
    if (step >= 86400 || (step >= 3600 && midnight)) return formatDate(d);
    return formatTime(d, step < 60);
  }

  // A bucket's start, as a tooltip names it.
  function formatBucket(ms, chart) {
    var d = new Date(ms);
    if (chart.step >= 86400) return formatDate(d);
    var time = formatTime(d, chart.step < 60);
    return chart.count * chart.stepMs > 86400 * 1000 ? formatDate(d) + " " + time : time;
  }

  function isoTime(ms) {
    return new Date(ms).toISOString().replace("Z", "+00:00");
  }

  function serverNow() { return Date.now() + state.serverOffsetMs; }

  // -- API --------------------------------------------------------------------------

  function apiUrl(path, query) {
    var url = new URL(path, document.baseURI);
    if (query) {
      Object.keys(query).forEach(function (key) {
        if (query[key] !== null && query[key] !== undefined) url.searchParams.set(key, query[key]);
      });
    }
    return url;
  }

  function noteServerClock(response) {
    // The browser's clock may differ from the server's: relative ranges follow the server.
    var date = Date.parse(response.headers.get("Date") || "");
    if (isNaN(date)) return;
    var offset = date - Date.now();
    state.serverOffsetMs = Math.abs(offset) > 3000 ? offset : 0;
  }

  function getJSON(path, query) {
    var headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    return fetch(apiUrl(path, query), { headers: headers, cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        noteServerClock(response);
        return response.json().then(
          function (body) { return { response: response, body: body }; },
          function () { return { response: response, body: null }; }
        );
      })
      .then(function (result) {
        var body = result.body;
        if (!result.response.ok || !body || body.response !== 200) {
          var status = result.response.status;
          var message = body && body.message ? String(body.message) : "HTTP " + status;
          if (status === 401) message = "Not authorised: open this page with ?token=<your token>. (" + message + ")";
          throw new Error(message);
        }
        return body.message;
      });
  }

  // -- time range -------------------------------------------------------------------

  function pickStep(seconds) {
    for (var i = 0; i < STEPS.length; i++) {
      if (Math.ceil(seconds / STEPS[i]) <= MAX_BUCKETS) return STEPS[i];
    }
    return STEPS[STEPS.length - 1];
  }

  // Seconds between live checks: a chart of quarter-hour buckets need not move every second.
  function liveInterval(step) {
    return Math.min(10, Math.max(1, Math.round(step / 60)));
  }

  // The range to read, in whole buckets. The server widens a series' range to bucket
  // edges; the table and the flow are read over the same edges, so that they add up
  // with the chart.
  function planWindow() {
    var now = serverNow();
    var since;
    var until = null;
    if (state.range === "custom") {
      var from = parseLocalInput($("since").value);
      var to = parseLocalInput($("until").value);
      until = isNaN(to) ? null : to;
      since = isNaN(from) ? (until === null ? now : until) - 3600 * 1000 : from;
      if (until !== null && until <= since) until = since + 1000;
    } else {
      since = now - Number(state.range) * 1000;
    }
    var step = pickStep(((until === null ? now : until) - since) / 1000);
    var stepMs = step * 1000;
    since = Math.floor(since / stepMs) * stepMs;
    if (until !== null) until = Math.ceil(until / stepMs) * stepMs;
    return { since: since, until: until, step: step, stepMs: stepMs, live: until === null || until > now };
  }

  function rangeQuery(win) {
    var query = { since: isoTime(win.since) };
    if (win.until !== null) query.until = isoTime(win.until);
    return query;
  }

  // -- reading ----------------------------------------------------------------------

  // A full read of the range: the chart's series (the busiest nodes' hits per bucket in
  // the overview; one node's hits and latency in the node view), the aggregate with
  // stats for the KPIs and the table, and the flow.
  function load(force) {
    if (state.loading && !force) {
      state.reloadPending = true;
      return;
    }
    var generation = ++state.generation;
    state.loading = true;
    state.reloadPending = false;
    var win = planWindow();
    var node = state.node;
    var query = rangeQuery(win);
    var seriesQuery = Object.assign({ step: String(win.step), latency: node === null ? "0" : "1" }, query);
    if (node === null) seriesQuery.top = String(CHART_TOP);
    else seriesQuery.ids = node;
    var started = Date.now();
    Promise.all([
      getJSON("api/series", seriesQuery),
      getJSON("api/aggregate", Object.assign({ stats: "1" }, query)),
      getJSON("api/flow", query)
    ]).then(function (results) {
      if (generation !== state.generation) return;
      state.window = win;
      state.chart = chartFrom(results[0], win, node);
      state.rows = Array.isArray(results[1]) ? results[1] : [];
      state.flow = Array.isArray(results[2]) ? results[2] : [];
      hideError();
      render();
      stamp();
      connect();
    }).catch(function (err) {
      if (generation === state.generation) showError(errorText(err));
    }).then(function () {
      if (generation !== state.generation) return;
      state.loading = false;
      state.lastTablesStart = started;
      state.lastTablesMs = Date.now() - started;
      if (state.reloadPending) {
        load(false);
      } else if (state.tablesPending) {
        state.tablesPending = false;
        scheduleTables();
      }
    });
  }

  function chartFrom(series, win, node) {
    var step = Number(series && series.step) || win.step;
    var stepMs = step * 1000;
    var count = series && Array.isArray(series.buckets) ? series.buckets.length : 0;
    var nodes = (series && Array.isArray(series.nodes) ? series.nodes : []).map(function (entry) {
      return lane(entry, count);
    });
    nodes.sort(function (a, b) { return b.total - a.total || a.id.localeCompare(b.id); });
    return {
      id: series && typeof series.id === "string" ? series.id : "",
      // The server widens since to a bucket start: the page asked from one already.
      lo: Math.floor(win.since / stepMs) * stepMs,
      step: step,
      stepMs: stepMs,
      count: count,
      nodes: nodes,
      byId: new Map(nodes.map(function (n) { return [n.id, n]; })),
      // Whether every node of the range is in the chart (then one new to the range can
      // join it from the live stream, its earlier buckets being empty).
      complete: node !== null || nodes.length < CHART_TOP,
      // Buckets the chart moved on by itself since it was read.
      moved: 0
    };
  }

  function lane(entry, count) {
    var out = { id: String(entry.id), hits: filled(entry.hits, count, 0), errors: filled(entry.errors, count, 0) };
    PERCENTILES.forEach(function (p) { out[p] = filled(entry[p], count, null); });
    out.total = out.hits.reduce(add, 0);
    return out;
  }

  function filled(values, count, empty) {
    var out = new Array(count).fill(empty);
    if (Array.isArray(values)) {
      for (var i = 0; i < count && i < values.length; i++) out[i] = values[i] === undefined ? empty : values[i];
    }
    return out;
  }

  function add(a, b) { return a + (b || 0); }

  // After a live event: the KPIs, the table and the flow of the range again (a few kB:
  // one row per node and per edge; percentiles cannot be added up from the stream), at
  // most one read in flight, and a gap after a slow one.
  function scheduleTables() {
    if (state.tablesTimer !== null) return;
    if (state.loading || state.tablesInflight) {
      state.tablesPending = true;
      return;
    }
    var gap = Math.max(250, 2 * state.lastTablesMs);
    var wait = Math.max(0, state.lastTablesStart + gap - Date.now());
    state.tablesTimer = window.setTimeout(function () {
      state.tablesTimer = null;
      refreshTables();
    }, wait);
  }

  function refreshTables() {
    if (state.loading || state.tablesInflight || state.window === null) {
      state.tablesPending = true;
      return;
    }
    var generation = state.generation;
    var query = rangeQuery(state.window);
    var started = Date.now();
    state.tablesInflight = true;
    state.lastTablesStart = started;
    Promise.all([
      getJSON("api/aggregate", Object.assign({ stats: "1" }, query)),
      getJSON("api/flow", query)
    ]).then(function (results) {
      if (generation !== state.generation) return;
      state.rows = Array.isArray(results[0]) ? results[0] : [];
      state.flow = Array.isArray(results[1]) ? results[1] : [];
      hideError();
      renderKpis();
      renderTable();
      renderFlow();
      if (state.node !== null) renderNodeDetails();
      stamp();
    }).catch(function (err) {
      if (generation === state.generation) showError(errorText(err));
    }).then(function () {
      state.tablesInflight = false;
      state.lastTablesMs = Date.now() - started;
      if (state.tablesPending) {
        state.tablesPending = false;
        scheduleTables();
      }
    });
  }

  function errorText(err) { return err && err.message ? err.message : String(err); }

  function showError(message) {
    var banner = $("error");
    banner.textContent = message;
    banner.hidden = false;
  }

  function hideError() { $("error").hidden = true; }

  function stamp() { $("updated").textContent = formatTime(new Date(), true); }

  // -- live updates -----------------------------------------------------------------

  // Live updates come from a series stream (SSE) of the latest bucket or few, not from
  // the hits: its events hold a few numbers per active node and land straight in the
  // chart's latest bucket; when a new bucket begins, the chart moves on by itself. After
  // an event that changed something, the KPIs, table and flow are re-read (a few kB).
  // A stream rather than a timer: an idle site costs a heartbeat and a tiny event per
  // bucket, a busy one an event and a small read per interval at most, and a hidden
  // page nothing (its stream is closed).

  // The indicator is a polite live region: it speaks when its words change (Live,
  // Reconnecting, Offline ...), never for the events that merely keep it live.
  function setLive(stateName, text) {
    $("live").setAttribute("data-state", stateName);
    var words = $("live-text");
    if (words.textContent !== text) words.textContent = text;
  }

  function streamWanted() {
    var chart = state.chart;
    var win = state.window;
    if (chart === null || win === null || !win.live || document.hidden || chart.count === 0) return null;
    if (typeof window.EventSource !== "function") return null;
    var last = chart.lo + (chart.count - 1) * chart.stepMs;
    var current = Math.floor(serverNow() / chart.stepMs) * chart.stepMs;
    var query = {
      data: "series",
      step: String(chart.step),
      latency: state.node === null ? "0" : "1",
      interval: String(liveInterval(chart.step))
    };
    if (state.node === null) query.top = String(LIVE_TOP);
    else query.ids = state.node;
    return { key: JSON.stringify(query), since: Math.max(chart.lo, Math.min(last, current)), query: query };
  }

  // Opens the stream the view needs, unless the open one still serves.
  function connect() {
    var wanted = streamWanted();
    var open = state.stream;
    if (wanted !== null && open !== null && open.key === wanted.key && open.since >= state.chart.lo &&
        wanted.since - open.since <= STREAM_SPAN * state.chart.stepMs) return;
    closeStream();
    if (wanted === null) {
      if (typeof window.EventSource !== "function") setLive("offline", "No live updates");
      else if (document.hidden) setLive("paused", "Paused");
      else if (state.window !== null && !state.window.live) setLive("paused", "Fixed range");
      return;
    }
    var query = Object.assign({ since: isoTime(wanted.since) }, wanted.query);
    if (token) query.token = token;
    var stream = { source: new EventSource(apiUrl("api/stream", query)), key: wanted.key, since: wanted.since, totals: null };
    state.stream = stream;
    setLive("connecting", "Connecting");
    stream.source.onopen = function () {
      stream.totals = null;
      setLive("live", "Live");
    };
    stream.source.onmessage = function (event) {
      if (state.stream === stream) onEvent(stream, event);
    };
    stream.source.onerror = function () {
      if (state.stream !== stream) return;
      if (stream.source.readyState === EventSource.CLOSED) {
        setLive("offline", "Offline");
        state.stream = null;
        window.clearTimeout(state.retryTimer);
        state.retryTimer = window.setTimeout(function () {
          state.retryTimer = null;
          load(false);
        }, 5000);
      } else {
        setLive("connecting", "Reconnecting");
      }
    };
  }

  function closeStream() {
    if (state.stream !== null) {
      state.stream.source.close();
      state.stream = null;
    }
  }

  function onEvent(stream, event) {
    var envelope = null;
    try {
      envelope = JSON.parse(event.data);
    } catch (err) {
      return;
    }
    if (!envelope || envelope.response !== 200) {
      setLive("connecting", "Store unavailable");
      showError(String(envelope && envelope.message));
      return;
    }
    setLive("live", "Live");
    // A stream's range only grows: its nodes' totals change when hits arrive, not when
    // a new (empty) bucket begins.
    var totals = streamTotals(envelope.message);
    var arrived = stream.totals !== null && totals !== stream.totals;
    stream.totals = totals;
    var merged = merge(envelope.message, stream.since);
    var reread = false;
    if (merged.beyond) {
      // A new bucket began: the range moves on.
      var slid = slide(envelope.message, stream.since);
      if (slid === null) {
        load(false);
        return;
      }
      merged = slid.merged;
      reread = slid.reread;
    }
    if (merged.changed || merged.beyond) renderCharts();
    // The first event after (re)connecting repeats what the last read showed, unless
    // hits came in between (then the chart changed).
    if (reread || arrived || merged.changed) scheduleTables();
    connect();
  }

  function streamTotals(series) {
    var nodes = series && Array.isArray(series.nodes) ? series.nodes : [];
    return JSON.stringify(nodes.map(function (n) { return [n.id, n.total]; }).sort());
  }

  // Moves a range that ends now on to the buckets of a stream event: the oldest buckets
  // leave the chart, the new ones come from the event, and nothing is read unless hits
  // left the range with them (then the table and flow are). Returns null where the
  // chart must be read whole instead: the step changed, or the chart shows the busiest
  // nodes only and a quarter of it has moved on since it was read (the busiest may be
  // others by now).
  function slide(series, since) {
    var chart = state.chart;
    if (chart === null || state.window === null || state.window.until !== null) return null;
    if (Number(series.step) !== chart.step) return null;
    var next = planWindow();
    if (next.until !== null || next.step !== chart.step) return null;
    var last = since + (series.buckets.length - 1) * chart.stepMs;
    var drop = Math.round((next.since - chart.lo) / chart.stepMs);
    var count = Math.round((last - next.since) / chart.stepMs) + 1;
    if (drop < 0 || drop > chart.count || count < 1) return null;
    chart.moved = (chart.moved || 0) + drop;
    if (!chart.complete && 4 * chart.moved >= chart.count) return null;
    var left = 0;
    chart.nodes.forEach(function (target) {
      left += target.hits.slice(0, drop).reduce(add, 0);
      ["hits", "errors"].concat(PERCENTILES).forEach(function (key) {
        var empty = key === "hits" || key === "errors" ? 0 : null;
        target[key] = filled(target[key].slice(drop), count, empty);
      });
      target.total = target.hits.reduce(add, 0);
    });
    chart.nodes = chart.nodes.filter(function (target) { return target.total > 0 || target.id === state.node; });
    chart.byId = new Map(chart.nodes.map(function (n) { return [n.id, n]; }));
    chart.lo = next.since;
    chart.count = count;
    state.window = next;
    var merged = merge(series, since);
    merged.beyond = true;
    // Hits of nodes not in the chart may have left the range too; in the node view the
    // table below it follows all nodes.
    return { merged: merged, reread: left > 0 || !chart.complete || state.node !== null };
  }

  // Puts the latest buckets of a stream event into the chart. Returns whether anything
  // changed, and whether the event reaches past the chart (a new bucket began).
  function merge(series, since) {
    var chart = state.chart;
    var count = series && Array.isArray(series.buckets) ? series.buckets.length : 0;
    if (chart === null || count === 0) return { beyond: false, changed: false };
    if (Number(series.step) !== chart.step) return { beyond: true, changed: false };
    var offset = Math.round((since - chart.lo) / chart.stepMs);
    if (offset + count > chart.count) return { beyond: true, changed: false };
    var changed = false;
    var keys = ["hits", "errors"].concat(PERCENTILES);
    (Array.isArray(series.nodes) ? series.nodes : []).forEach(function (entry) {
      var id = String(entry.id);
      var target = chart.byId.get(id);
      if (target === undefined) {
        // A node the last read did not show joins a chart that holds every node of the
        // range; otherwise it waits for the next read.
        if (!chart.complete || (state.node !== null && id !== state.node)) return;
        if (chart.nodes.length >= CHART_TOP) {
          chart.complete = false;
          return;
        }
        target = lane({ id: id }, chart.count);
        chart.nodes.push(target);
        chart.byId.set(id, target);
        changed = true;
      }
      keys.forEach(function (key) {
        var values = entry[key];
        if (!Array.isArray(values)) return;
        for (var j = 0; j < count; j++) {
          var i = offset + j;
          if (i < 0) continue;
          var value = values[j] === undefined ? null : values[j];
          if (target[key][i] !== value) {
            target[key][i] = value;
            changed = true;
          }
        }
      });
      target.total = target.hits.reduce(add, 0);
    });
    return { beyond: false, changed: changed };
  }

  // -- rendering --------------------------------------------------------------------

  function render() {
    $("app-id").textContent = state.chart ? state.chart.id : "";
    renderKpis();
    renderTable();
    // The chart first: its nodes' colours are the flow's too.
    renderCharts();
    renderFlow();
    if (state.node !== null) renderNodeDetails();
  }

  function renderCharts() {
    if (state.node === null) renderChart();
    else renderNodeCharts();
  }

  function renderKpis() {
    var hits = 0;
    var errors = 0;
    var top = null;
    state.rows.forEach(function (row) {
      hits += row.hits;
      errors += row.errors || 0;
      if (top === null || row.hits > top.hits) top = row;
    });
    $("kpi-hits").textContent = formatCount(hits);
    $("kpi-nodes").textContent = formatCount(state.rows.length);
    var errorsText = formatCount(errors);
    if (hits > 0 && errors > 0) errorsText += " (" + (100 * errors / hits).toFixed(1) + "%)";
    $("kpi-errors").textContent = errorsText;
    $("kpi-errors").classList.toggle("errors-many", manyErrors(errors, hits));
    var topEl = $("kpi-top");
    topEl.textContent = top ? top.id : "–";
    topEl.title = top ? top.id : "";
  }

  // Errors are shown in red from this share of the hits on: a few errors among many
  // hits are the noise of any site, not an alarm.
  var ERROR_ALERT_SHARE = 0.01;

  function manyErrors(errors, hits) {
    return errors > 0 && hits > 0 && errors / hits >= ERROR_ALERT_SHARE;
  }

  function compareRows(a, b) {
    var key = state.sortKey;
    var dir = state.sortDir;
    if (key === "id") return dir * a.id.localeCompare(b.id);
    var x = a[key];
    var y = b[key];
    // Nodes without durations sort after those with, whichever the direction.
    if (x === null || x === undefined) return y === null || y === undefined ? a.id.localeCompare(b.id) : 1;
    if (y === null || y === undefined) return -1;
    if (x !== y) return dir * (x - y);
    return a.id.localeCompare(b.id);
  }

  // A button naming a node: it opens the node's view.
  function nodeButton(id) {
    var button = el("button", "node-link", id);
    button.type = "button";
    button.title = id;
    button.setAttribute("data-node", id);
    button.addEventListener("click", function () { openNode(id); });
    return button;
  }

  // Re-rendering replaces a list's buttons: the one that had the focus gets it back.
  function keepFocus(container, draw) {
    var active = document.activeElement;
    var had = active && active !== container && container.contains(active) ? active.getAttribute("data-node") : null;
    draw();
    if (had === null) return;
    var again = Array.prototype.find.call(container.querySelectorAll("button[data-node]"), function (button) {
      return button.getAttribute("data-node") === had;
    });
    if (again) again.focus();
  }

  function renderTable() {
    var body = $("nodes-body");
    var filter = state.filter.toLowerCase();
    var rows = state.rows.filter(function (row) {
      return !filter || row.id.toLowerCase().indexOf(filter) !== -1;
    });
    rows.sort(compareRows);
    var total = 0;
    var max = 1;
    state.rows.forEach(function (row) {
      total += row.hits;
      if (row.hits > max) max = row.hits;
    });
    var seen = new Map();
    var fragment = document.createDocumentFragment();
    rows.forEach(function (row) {
      var tr = el("tr");
      tr.setAttribute("data-node", row.id);
      var previous = state.previousHits.get(row.id);
      if (previous !== undefined && previous !== row.hits) tr.classList.add("flash");
      if (row.id === state.node) {
        tr.classList.add("selected");
        tr.setAttribute("aria-current", "true");
      }
      var name = el("td", "node");
      name.appendChild(nodeButton(row.id));
      tr.appendChild(name);
      tr.appendChild(labelled(el("td", "num hits", formatCount(row.hits)), "Hits"));
      var share = el("td", "share");
      var bar = el("div", "sharebar");
      var fill = el("div");
      fill.style.width = (100 * row.hits / max).toFixed(1) + "%";
      bar.appendChild(fill);
      bar.title = total ? (100 * row.hits / total).toFixed(1) + "% of hits" : "";
      share.appendChild(bar);
      tr.appendChild(share);
      tr.appendChild(labelled(el("td", "num p50" + (row.p50 == null ? " muted" : ""), formatSeconds(row.p50)), "p50"));
      tr.appendChild(labelled(el("td", "num p95" + (row.p95 == null ? " muted" : ""), formatSeconds(row.p95)), "p95"));
      var errors = row.errors || 0;
      var errorsCell = el("td", "num errors" + (errors ? (manyErrors(errors, row.hits) ? " errors-many" : "") : " muted"), formatCount(errors));
      if (errors) errorsCell.title = (100 * errors / row.hits).toFixed(1) + "% of hits";
      tr.appendChild(labelled(errorsCell, "Errors"));
      fragment.appendChild(tr);
    });
    state.rows.forEach(function (row) { seen.set(row.id, row.hits); });
    state.previousHits = seen;
    keepFocus(body, function () { body.replaceChildren(fragment); });
    $("nodes-empty").hidden = rows.length > 0;
    document.querySelectorAll("#nodes th.sortable").forEach(function (th) {
      var key = th.getAttribute("data-key");
      if (key === state.sortKey) th.setAttribute("aria-sort", state.sortDir < 0 ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    });
  }

  // A cell's column name, shown beside its value where the table is laid out as stacked
  // rows (narrow screens) and its header is out of sight.
  function labelled(cell, name) {
    cell.setAttribute("data-label", name);
    return cell;
  }

  function placeholder(container, text) {
    var width = container.clientWidth || 600;
    var height = container.clientHeight || 200;
    var root = svg("svg", { viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": text });
    root.appendChild(svgText({ x: width / 2, y: height / 2, "text-anchor": "middle", class: "placeholder", "aria-hidden": "true" }, text));
    container.replaceChildren(root);
  }

  // A value axis from 0 to at least ``value``: grid lines every 1, 2, 2.5 or 5 times a
  // power of ten (whole numbers for counts), at most six of them above zero, the top the
  // first line at or above the value (105 hits: 0, 20 .. 120). Returns {top, divisions}.
  function niceScale(value, whole) {
    if (!(value > 0)) value = whole ? 5 : 1;
    var power = Math.pow(10, Math.floor(Math.log10(value / 6)));
    var steps = [1, 2, 2.5, 5, 10, 20];
    for (var i = 0; i < steps.length; i++) {
      var step = steps[i] * power;
      if (whole && (step < 1 || step % 1 !== 0)) continue;
      var divisions = Math.ceil(value / step - 1e-9);
      if (divisions <= 6) return { top: divisions * step, divisions: Math.max(1, divisions) };
    }
    return { top: value, divisions: 1 };
  }

  // The width an axis label takes, in the axis' font.
  var measureContext = null;
  function measurer() {
    if (measureContext === null) measureContext = document.createElement("canvas").getContext("2d");
    return measureContext;
  }

  function labelWidth(container, text) {
    if (!measurer()) return 7 * String(text).length;
    var probe = container.querySelector(".axis text");
    var style = window.getComputedStyle(probe || container);
    measureContext.font = (probe ? style.fontSize : "11px") + " " + style.fontFamily;
    return measureContext.measureText(String(text)).width;
  }

  // Buckets to label on the time axis: at round local times where the buckets fall on
  // them (whole minutes, hours, days), far enough apart to be read.
  function axisTicks(chart, slot) {
    var every = Math.max(1, Math.ceil(72 / slot));
    for (var s = 0; s < LABEL_STEPS.length; s++) {
      var labelStep = LABEL_STEPS[s];
      if (labelStep % chart.step !== 0 || labelStep / chart.step < every) continue;
      var found = [];
      for (var i = 0; i < chart.count; i++) {
        var t = chart.lo + i * chart.stepMs;
        if ((t - new Date(t).getTimezoneOffset() * 60000) % (labelStep * 1000) === 0) found.push(i);
      }
      if (found.length >= 2) return { indexes: found, labelStep: labelStep };
    }
    var indexes = [];
    for (var k = 0; k < chart.count; k += every) indexes.push(k);
    return { indexes: indexes, labelStep: chart.step * every };
  }

  // An SVG with the value axis (0 .. scale.top) and the time axis of the chart's buckets.
  function chartFrame(container, chart, scale, formatValue, label) {
    var top = scale.top;
    var divisions = scale.divisions;
    var width = Math.max(280, container.clientWidth);
    var height = Math.max(140, container.clientHeight);
    var values = [];
    var widest = 0;
    for (var v = 0; v <= divisions; v++) {
      values.push(v === 0 ? "0" : formatValue((top * v) / divisions));
      widest = Math.max(widest, labelWidth(container, values[v]));
    }
    // Room for the widest value label, and 6 px on either side of it.
    var margin = { left: Math.max(36, Math.ceil(widest) + 14), right: 10, top: 10, bottom: 24 };
    var plotW = width - margin.left - margin.right;
    var plotH = height - margin.top - margin.bottom;
    var root = svg("svg", { viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": label });
    root.setAttribute("data-since", isoTime(chart.lo));
    root.setAttribute("data-step", String(chart.step));
    var axis = svg("g", { class: "axis" });
    for (var t = 0; t <= divisions; t++) {
      var y = margin.top + plotH - (plotH * t) / divisions;
      axis.appendChild(svg("line", { class: "gridline", x1: margin.left, x2: width - margin.right, y1: y, y2: y }));
      axis.appendChild(svgText({ x: margin.left - 6, y: y + 3.5, "text-anchor": "end", class: "value" }, values[t]));
    }
    var slot = plotW / Math.max(1, chart.count);
    var ticks = axisTicks(chart, slot);
    ticks.indexes.forEach(function (k) {
      var tick = chart.lo + k * chart.stepMs;
      var tx = margin.left + slot * k;
      if (tx < margin.left + 20 || tx > width - margin.right - 24) return;
      axis.appendChild(svg("line", { x1: tx, x2: tx, y1: margin.top + plotH, y2: margin.top + plotH + 4 }));
      axis.appendChild(svgText({ x: tx, y: height - 6, "text-anchor": "middle" }, formatClock(tick, ticks.labelStep)));
    });
    root.appendChild(axis);
    return {
      root: root,
      slot: slot,
      plotH: plotH,
      bottom: margin.top + plotH,
      x: function (i) { return margin.left + slot * i; }
    };
  }

  // Stacked bars, one <g class="bucket"> per bucket with hits: each layer is
  // {name, values, fill | className, node, quiet (left out of the tooltip)}.
  function drawBars(container, chart, layers, label) {
    var totals = new Array(chart.count).fill(0);
    layers.forEach(function (layer) {
      layer.values.forEach(function (value, i) { totals[i] += value || 0; });
    });
    var scale = niceScale(totals.reduce(function (a, b) { return Math.max(a, b); }, 0), true);
    var top = scale.top;
    var frame = chartFrame(container, chart, scale, formatCount, label);
    var bars = svg("g", { class: "bars" });
    var barW = Math.max(1, frame.slot * 0.78);
    for (var i = 0; i < chart.count; i++) {
      if (!totals[i]) continue;
      var start = chart.lo + i * chart.stepMs;
      var group = svg("g", { class: "bucket", "data-start": isoTime(start), "data-total": totals[i] });
      var lines = [formatBucket(start, chart) + ": " + formatCount(totals[i]) + " hits"];
      var x = frame.x(i) + (frame.slot - barW) / 2;
      var base = frame.bottom;
      for (var l = 0; l < layers.length; l++) {
        var layer = layers[l];
        var n = layer.values[i] || 0;
        if (!n) continue;
        var h = (frame.plotH * n) / top;
        base -= h;
        var rect = svg("rect", { class: "bar" + (layer.className ? " " + layer.className : ""), x: x, y: base, width: barW, height: Math.max(0.5, h) });
        if (layer.fill) rect.setAttribute("fill", layer.fill);
        if (layer.node !== undefined) rect.setAttribute("data-node", layer.node);
        rect.setAttribute("data-hits", String(n));
        group.appendChild(rect);
        if (!layer.quiet) lines.push(layer.name + ": " + formatCount(n));
      }
      tooltip(group, lines.join("\n"));
      bars.appendChild(group);
    }
    frame.root.appendChild(bars);
    container.replaceChildren(frame.root);
  }

  function renderChart() {
    var container = $("chart");
    var legend = $("chart-legend");
    var chart = state.chart;
    var lanes = chart ? chart.nodes.filter(function (n) { return n.total > 0; }) : [];
    renderChartTable();
    if (!lanes.length) {
      keepFocus(legend, function () { legend.replaceChildren(); });
      $("chart-note").textContent = "";
      placeholder(container, chart ? "No hits in this time range yet." : "Loading…");
      return;
    }
    var colours = laneColours(lanes);
    var layers = lanes.map(function (n) {
      return { name: n.id, node: n.id, values: n.hits, fill: PALETTE[colours.get(n.id)] };
    });
    drawBars(container, chart, layers, "Hits over time");
    var note = "per " + describeStep(chart.step);
    if (state.rows.length > lanes.length) {
      note += " · the busiest " + lanes.length + " of " + formatCount(state.rows.length) + " nodes";
    }
    $("chart-note").textContent = note;

    var items = document.createDocumentFragment();
    layers.forEach(function (layer) {
      var item = el("button", "legend-item");
      item.type = "button";
      item.title = layer.name;
      item.setAttribute("data-node", layer.name);
      var swatch = el("span", "swatch");
      swatch.style.background = layer.fill;
      item.appendChild(swatch);
      item.appendChild(el("span", "legend-label", layer.name));
      item.addEventListener("click", function () { openNode(layer.name); });
      items.appendChild(item);
    });
    keepFocus(legend, function () { legend.replaceChildren(items); });
  }

  // A node keeps the colour it was first shown in, whatever its rank later, so that it
  // can be followed across ranges and live updates. A node first shown takes the first
  // colour none of the nodes shown with it holds; one whose colour another shown node
  // holds (the chart shows at most as many nodes as there are colours) takes a free one.
  function laneColours(lanes) {
    var used = new Set();
    var out = new Map();
    lanes.forEach(function (n) {
      var colour = state.colours.get(n.id);
      if (colour !== undefined && !used.has(colour)) {
        used.add(colour);
        out.set(n.id, colour);
      }
    });
    lanes.forEach(function (n) {
      if (out.has(n.id)) return;
      var colour = 0;
      while (used.has(colour) && colour < PALETTE.length - 1) colour++;
      used.add(colour);
      out.set(n.id, colour);
      state.colours.set(n.id, colour);
    });
    return out;
  }

  function describeStep(step) {
    if (step % 86400 === 0) return step === 86400 ? "day" : step / 86400 + " days";
    if (step % 3600 === 0) return step === 3600 ? "hour" : step / 3600 + " hours";
    if (step % 60 === 0) return step === 60 ? "minute" : step / 60 + " minutes";
    return step === 1 ? "second" : step + " seconds";
  }

  // -- node view --------------------------------------------------------------------

  function nodeLane() {
    var chart = state.chart;
    return chart === null ? null : chart.byId.get(state.node) || null;
  }

  function renderNodeCharts() {
    var chart = state.chart;
    var hitsBox = $("node-hits");
    var latencyBox = $("node-latency");
    renderNodeTable();
    if (chart === null) {
      placeholder(hitsBox, "Loading…");
      placeholder(latencyBox, "Loading…");
      $("node-note").textContent = "";
      return;
    }
    $("node-note").textContent = "per " + describeStep(chart.step);
    var node = nodeLane();
    if (node === null || node.total === 0) {
      placeholder(hitsBox, "No hits in this time range.");
      placeholder(latencyBox, "No hits in this time range.");
      return;
    }
    var ok = node.hits.map(function (n, i) { return Math.max(0, n - (node.errors[i] || 0)); });
    drawBars(hitsBox, chart, [
      { name: "hits", values: ok, className: "ok", quiet: true },
      { name: "errors (5xx)", values: node.errors, className: "err" }
    ], "Hits of " + node.id + " over time");
    drawLatency(latencyBox, chart, node);
  }

  // p50, p95 and p99 per bucket as lines, a dot per bucket with timed hits.
  function drawLatency(container, chart, node) {
    var peak = 0;
    PERCENTILES.forEach(function (p) {
      node[p].forEach(function (v) { if (v !== null && v > peak) peak = v; });
    });
    if (!(peak > 0)) {
      placeholder(container, "No timed hits in this time range.");
      return;
    }
    var scale = niceScale(peak, false);
    var top = scale.top;
    var frame = chartFrame(container, chart, scale, formatAxisSeconds, "Latency of " + node.id + " over time");
    var lines = svg("g", { class: "lines" });
    // The median is drawn last, on top: where percentiles meet, it is the one seen.
    PERCENTILES.slice().reverse().forEach(function (p) {
      var d = "";
      var pen = false;
      var dots = svg("g", { class: "points " + p });
      for (var i = 0; i < chart.count; i++) {
        var value = node[p][i];
        if (value === null || value === undefined) {
          pen = false;
          continue;
        }
        var start = chart.lo + i * chart.stepMs;
        var x = frame.x(i) + frame.slot / 2;
        var y = frame.bottom - (frame.plotH * value) / top;
        d += (pen ? "L" : "M") + x.toFixed(1) + "," + y.toFixed(1) + " ";
        pen = true;
        var dot = svg("circle", { class: "point", cx: x.toFixed(1), cy: y.toFixed(1), r: 2.5, "data-start": isoTime(start), "data-value": value });
        tooltip(dot, p + " " + formatSeconds(value) + " at " + formatBucket(start, chart));
        dots.appendChild(dot);
      }
      if (d) lines.appendChild(svg("path", { class: "line " + p, d: d.trim() }));
      lines.appendChild(dots);
    });
    frame.root.appendChild(lines);
    container.replaceChildren(frame.root);
  }

  // The node's numbers over the range, and its busiest callers and callees.
  function renderNodeDetails() {
    var id = state.node;
    var row = null;
    state.rows.forEach(function (r) { if (r.id === id) row = r; });
    $("node-hits-total").textContent = formatCount(row ? row.hits : 0);
    $("node-errors").textContent = formatCount(row ? row.errors || 0 : 0);
    PERCENTILES.forEach(function (p) { $("node-" + p).textContent = formatSeconds(row ? row[p] : null); });
    var callers = [];
    var callees = [];
    state.flow.forEach(function (edge) {
      var caller = edge.caller === undefined ? null : edge.caller;
      if (edge.id === id) callers.push({ id: caller, hits: edge.hits });
      if (caller === id) callees.push({ id: edge.id, hits: edge.hits });
    });
    renderPeers($("node-callers"), $("node-callers-empty"), callers);
    renderPeers($("node-callees"), $("node-callees-empty"), callees);
  }

  function renderPeers(list, empty, entries) {
    entries.sort(function (a, b) {
      return b.hits - a.hits || String(a.id).localeCompare(String(b.id));
    });
    var shown = entries.slice(0, MAX_PEERS);
    var max = shown.length ? shown[0].hits : 1;
    var fragment = document.createDocumentFragment();
    shown.forEach(function (entry) {
      var item = el("li", "peer");
      item.setAttribute("data-hits", String(entry.hits));
      if (entry.id === null) item.appendChild(el("span", "peer-entry", ENTRY_LABEL));
      else item.appendChild(nodeButton(entry.id));
      var bar = el("div", "sharebar");
      var fill = el("div");
      fill.style.width = (100 * entry.hits / max).toFixed(1) + "%";
      bar.appendChild(fill);
      item.appendChild(bar);
      item.appendChild(el("span", "peer-hits", formatCount(entry.hits)));
      fragment.appendChild(item);
    });
    keepFocus(list, function () { list.replaceChildren(fragment); });
    empty.hidden = shown.length > 0;
  }

  // -- flow -------------------------------------------------------------------------

  // The flow is a set of caller -> node edges, not of whole paths, so it is drawn as
  // two columns, in a site owner's words: where visitors came from on the left
  // ("(start)" for hits with no caller: where a visit began, as in the Mermaid and DOT
  // drawings), the pages they went to on the right, each link as wide as its hits.
  var ENTRY_LABEL = "(start)";

  // Each column shows its busiest nodes, as many as have room for their names one under
  // the other (FLOW_ROW px each), and gathers the rest into one "other" node; links
  // between gathered nodes are added up. "(start)" is always shown, first.
  var FLOW_ROW = 18;
  var FLOW_MIN_NODE = 14;
  var OTHER_KEY = "other";

  function flowColumns(edges, room) {
    function keyOf(id, entry) { return entry ? "entry" : "n:" + id; }
    function busiest(totals) {
      var keys = Array.from(totals.keys()).sort(function (a, b) {
        if ((a === "entry") !== (b === "entry")) return a === "entry" ? -1 : 1;
        return totals.get(b) - totals.get(a) || a.localeCompare(b);
      });
      return new Set(keys.length <= room ? keys : keys.slice(0, Math.max(1, room - 1)));
    }
    var callerTotals = new Map();
    var nodeTotals = new Map();
    edges.forEach(function (edge) {
      var entry = edge.caller === null || edge.caller === undefined;
      var from = keyOf(edge.caller, entry);
      var to = keyOf(edge.id, false);
      callerTotals.set(from, (callerTotals.get(from) || 0) + edge.hits);
      nodeTotals.set(to, (nodeTotals.get(to) || 0) + edge.hits);
    });
    var keptCallers = busiest(callerTotals);
    var keptNodes = busiest(nodeTotals);
    var left = new Map();
    var right = new Map();
    var byPair = new Map();
    function column(map, key, id, entry) {
      var item = map.get(key);
      if (!item) {
        item = {
          key: key, id: id, label: entry ? ENTRY_LABEL : id, entry: entry,
          other: key === OTHER_KEY, members: 0, value: 0, links: []
        };
        map.set(key, item);
      }
      return item;
    }
    edges.forEach(function (edge) {
      var entry = edge.caller === null || edge.caller === undefined;
      var from = keyOf(edge.caller, entry);
      var to = keyOf(edge.id, false);
      var source = keptCallers.has(from) ? column(left, from, entry ? null : String(edge.caller), entry)
        : column(left, OTHER_KEY, null, false);
      var target = keptNodes.has(to) ? column(right, to, String(edge.id), false) : column(right, OTHER_KEY, null, false);
      var pair = source.key + "\u0000" + target.key;
      var link = byPair.get(pair);
      if (!link) {
        link = { source: source, target: target, hits: 0, edges: 0 };
        byPair.set(pair, link);
        source.links.push(link);
        target.links.push(link);
      }
      link.hits += edge.hits;
      link.edges += 1;
      source.value += edge.hits;
      target.value += edge.hits;
    });
    [[left, callerTotals, keptCallers], [right, nodeTotals, keptNodes]].forEach(function (side) {
      var other = side[0].get(OTHER_KEY);
      if (other) {
        other.members = side[1].size - side[2].size;
        other.label = "other (" + formatCount(other.members) + (other.members === 1 ? " page)" : " pages)");
      }
    });
    var callers = Array.from(left.values()).sort(function (a, b) {
      if (a.entry !== b.entry) return a.entry ? -1 : 1;
      if (a.other !== b.other) return a.other ? 1 : -1;
      return b.value - a.value || a.label.localeCompare(b.label);
    });
    // A node sits at the same height on both sides where it can: easier to follow.
    var rank = new Map();
    callers.forEach(function (n, i) { if (!n.entry && !n.other) rank.set(n.id, i); });
    var targets = Array.from(right.values()).sort(function (a, b) {
      if (a.other !== b.other) return a.other ? 1 : -1;
      var ra = rank.has(a.id) ? rank.get(a.id) : Infinity;
      var rb = rank.has(b.id) ? rank.get(b.id) : Infinity;
      if (ra !== rb) return ra - rb;
      return b.value - a.value || a.label.localeCompare(b.label);
    });
    return { callers: callers, targets: targets, links: Array.from(byPair.values()) };
  }

  // Narrower than this, the two columns leave no room for names: the flow is a list.
  var FLOW_LIST_WIDTH = 520;

  // The flow as a list, the busiest link first: "came from → page", its hits and a bar.
  function renderFlowList(container, edges, shown) {
    var max = shown.length ? shown[0].hits : 1;
    var head = el("div", "flow-list-head");
    head.appendChild(el("span", null, "Came from → page"));
    head.appendChild(el("span", null, "Hits"));
    var list = el("ol", "flow-list");
    shown.forEach(function (edge) {
      var entry = edge.caller === null || edge.caller === undefined;
      var from = entry ? ENTRY_LABEL : String(edge.caller);
      var item = el("li", "flow-row");
      item.setAttribute("data-caller", from);
      item.setAttribute("data-node", String(edge.id));
      item.setAttribute("data-hits", String(edge.hits));
      var path = el("div", "flow-path");
      path.appendChild(el("span", "flow-from" + (entry ? " start" : ""), from));
      path.appendChild(el("span", "flow-arrow", " → "));
      path.appendChild(el("span", "flow-to", edge.id));
      item.appendChild(path);
      item.appendChild(el("span", "flow-hits", formatCount(edge.hits)));
      var bar = el("div", "sharebar");
      var fill = el("div");
      fill.style.width = (100 * edge.hits / max).toFixed(1) + "%";
      bar.appendChild(fill);
      item.appendChild(bar);
      list.appendChild(item);
    });
    var parts = [head, list];
    if (shown.length < edges.length) {
      parts.push(el("p", "flow-more", "the busiest " + shown.length + " of " + edges.length + " links"));
    }
    container.classList.add("as-list");
    // A region of its own, that the keyboard can scroll.
    container.setAttribute("tabindex", "0");
    container.setAttribute("role", "region");
    container.setAttribute("aria-label", "Flow, the busiest links");
    container.replaceChildren.apply(container, parts);
  }

  // The scale (px per hit) at which a column fills ``room`` px, each node at least
  // FLOW_MIN_NODE px high (its name's height): those that would be lower take that much.
  function fitScale(nodes, room) {
    var total = nodes.reduce(function (sum, n) { return sum + n.value; }, 0);
    var scale = room / Math.max(1, total);
    for (var i = 0; i <= nodes.length; i++) {
      var fixed = 0;
      var rest = 0;
      nodes.forEach(function (n) {
        if (n.value * scale < FLOW_MIN_NODE) fixed += FLOW_MIN_NODE;
        else rest += n.value;
      });
      if (rest === 0) break;
      var next = Math.max(0, (room - fixed) / rest);
      if (next >= scale - 1e-9) break;
      scale = next;
    }
    return scale;
  }

  function placeColumn(nodes, top, scale, gap) {
    var y = top;
    nodes.forEach(function (n) {
      n.y = y;
      n.h = Math.max(FLOW_MIN_NODE, n.value * scale);
      y += n.h + gap;
    });
  }

  // A node's colour: the one it has in the chart, kept for the page's life.
  function nodeColour(id) {
    var colour = state.colours.get(id);
    if (colour === undefined) {
      colour = state.colours.size % PALETTE.length;
      state.colours.set(id, colour);
    }
    return PALETTE[colour];
  }

  // A flow node's name, cut short with an ellipsis where it and its count would not fit
  // in ``room`` px (as drawn: 11.5 px, the name monospaced).
  function fitFlowLabel(container, text, count, room) {
    var ctx = measurer();
    if (!ctx) return truncate(text, Math.max(8, Math.floor((room - 7 * count.length) / 7)));
    var style = window.getComputedStyle(container);
    ctx.font = "11.5px " + style.fontFamily;
    var left = room - ctx.measureText(count).width;
    ctx.font = "11.5px " + (style.getPropertyValue("--mono") || "monospace");
    if (ctx.measureText(text).width <= left) return text;
    var lo = 1;
    var hi = text.length - 1;
    while (lo < hi) {
      var mid = Math.ceil((lo + hi) / 2);
      if (ctx.measureText(text.slice(0, mid) + "…").width <= left) lo = mid;
      else hi = mid - 1;
    }
    return text.slice(0, lo) + "…";
  }

  // What a flow node's tooltip says: its hits, and its busiest links.
  function flowNodeText(n, left) {
    var name = n.other ? n.label : n.entry ? ENTRY_LABEL + " (where visits began)" : n.label;
    var lines = [name + ": " + formatCount(n.value) + (left ? " hits onwards" : " hits")];
    n.links.slice().sort(function (a, b) { return b.hits - a.hits; }).slice(0, 5).forEach(function (link) {
      var peer = left ? link.target : link.source;
      lines.push((left ? "→ " : "← ") + peer.label + ": " + formatCount(link.hits));
    });
    if (n.links.length > 5) lines.push("and " + formatCount(n.links.length - 5) + " more");
    return lines;
  }

  function flowLinkText(link) {
    return link.source.label + " → " + link.target.label + ": " + formatCount(link.hits) + " hits";
  }

  // The flow's tooltip: an element of the page, shown by the pointer and by the keyboard's
  // focus alike; Escape hides it.
  function showFlowTip(container, lines, x, y) {
    var tip = $("flow-tip");
    if (!tip) return;
    tip.replaceChildren.apply(tip, lines.map(function (line) { return el("div", null, line); }));
    tip.hidden = false;
    var box = container.getBoundingClientRect();
    var left = Math.min(Math.max(4, x - box.left + 12), Math.max(4, container.clientWidth - tip.offsetWidth - 4));
    var top = y - box.top + 14;
    if (top + tip.offsetHeight > container.clientHeight - 4) top = Math.max(4, y - box.top - tip.offsetHeight - 10);
    tip.style.left = left + "px";
    tip.style.top = top + "px";
  }

  function hideFlowTip() {
    var tip = $("flow-tip");
    if (tip) tip.hidden = true;
  }

  function renderFlow() {
    var container = $("flow");
    renderFlowTable();
    var edges = state.flow.slice().sort(function (a, b) { return b.hits - a.hits; });
    if (edges.length && container.clientWidth < FLOW_LIST_WIDTH) {
      renderFlowList(container, edges, edges.slice(0, MAX_FLOW_LINKS));
      return;
    }
    container.classList.remove("as-list");
    container.removeAttribute("tabindex");
    container.removeAttribute("role");
    container.removeAttribute("aria-label");
    if (!edges.length) {
      placeholder(container, "No flow in this time range yet.");
      return;
    }
    var width = Math.max(360, container.clientWidth);
    var height = Math.max(240, container.clientHeight);
    var top = 26;
    var usable = height - top - 8;
    var graph = flowColumns(edges, Math.max(2, Math.floor((usable + 4) / FLOW_ROW)));
    var labelRoom = Math.min(190, Math.max(90, width * 0.26));
    var nodeW = 10;
    var most = Math.max(graph.callers.length, graph.targets.length);
    var gap = Math.max(4, Math.min(12, (usable * 0.35) / Math.max(1, most - 1)));
    if (most * FLOW_MIN_NODE + gap * (most - 1) > usable) gap = (usable - most * FLOW_MIN_NODE) / Math.max(1, most - 1);
    // One scale for both columns: a link is as wide at both ends.
    var scale = Math.min(
      fitScale(graph.callers, usable - gap * (graph.callers.length - 1)),
      fitScale(graph.targets, usable - gap * (graph.targets.length - 1)));
    placeColumn(graph.callers, top, scale, gap);
    placeColumn(graph.targets, top, scale, gap);
    var x0 = labelRoom;
    var x1 = width - labelRoom - nodeW;

    // Links leave and enter a node stacked in the order of their other ends, centred on it.
    graph.callers.forEach(function (n) {
      var offset = (n.h - n.value * scale) / 2;
      n.links.sort(function (a, b) { return a.target.y - b.target.y; }).forEach(function (link) {
        link.w = link.hits * scale;
        link.sy = n.y + offset + link.w / 2;
        offset += link.w;
      });
    });
    graph.targets.forEach(function (n) {
      var offset = (n.h - n.value * scale) / 2;
      n.links.sort(function (a, b) { return a.source.y - b.source.y; }).forEach(function (link) {
        link.ty = n.y + offset + link.w / 2;
        offset += link.w;
      });
    });

    var root = svg("svg", { viewBox: "0 0 " + width + " " + height, role: "group", "aria-label": "Flow: where visitors came from, and the page they went to" });
    root.appendChild(svgText({ x: x0 + nodeW, y: 12, "text-anchor": "end", class: "flow-heading", "aria-hidden": "true" }, "Came from"));
    root.appendChild(svgText({ x: x1, y: 12, "text-anchor": "start", class: "flow-heading", "aria-hidden": "true" }, "Page"));
    var linkGroup = svg("g", { class: "links", "aria-hidden": "true" });
    var mid = (x0 + nodeW + x1) / 2;
    graph.links.forEach(function (link) {
      var d = "M" + (x0 + nodeW) + "," + link.sy + " C" + mid + "," + link.sy + " " + mid + "," + link.ty + " " + x1 + "," + link.ty;
      var quiet = link.source.entry || link.source.other;
      var path = svg("path", { class: "flow-link" + (quiet ? " quiet" : ""), d: d, "stroke-width": Math.max(1, link.w) });
      if (!quiet) path.setAttribute("stroke", nodeColour(link.source.id));
      path.setAttribute("data-caller", link.source.label);
      path.setAttribute("data-node", link.target.label);
      path.setAttribute("data-hits", String(link.hits));
      path.addEventListener("mousemove", function (event) {
        showFlowTip(container, [flowLinkText(link)], event.clientX, event.clientY);
      });
      path.addEventListener("mouseleave", hideFlowTip);
      link.path = path;
      linkGroup.appendChild(path);
    });
    root.appendChild(linkGroup);

    var nodeGroup = svg("g", { class: "nodes" });
    function drawNode(n, side) {
      var left = side === "caller";
      var g = svg("g", { class: "flow-node" + (n.entry ? " start" : "") + (n.other ? " other" : ""), tabindex: "0" });
      g.setAttribute("data-node", n.label);
      g.setAttribute("data-side", side);
      var lines = flowNodeText(n, left);
      // A page's node opens its view, as its name does elsewhere on the page.
      g.setAttribute("role", n.entry || n.other ? "img" : "button");
      var rect = svg("rect", { x: left ? x0 : x1, y: n.y, width: nodeW, height: n.h, rx: 2 });
      if (!n.entry && !n.other) rect.setAttribute("fill", nodeColour(n.id));
      g.appendChild(rect);
      var label = svgText({
        x: left ? x0 - 6 : x1 + nodeW + 6,
        y: n.y + n.h / 2 + 4,
        "text-anchor": left ? "end" : "start"
      }, fitFlowLabel(container, n.label, "  " + formatCount(n.value), labelRoom - 10));
      var count = svg("tspan", { class: "count" });
      count.textContent = "  " + formatCount(n.value);
      label.appendChild(count);
      g.appendChild(label);
      // Its name says what it shows (the words seen first), then what its tooltip does.
      g.setAttribute("aria-label", label.textContent.replace(/\s+/g, " ") + ". " + lines.join("; "));
      function hot(on) {
        root.classList.toggle("focus", on);
        n.links.forEach(function (link) { link.path.classList.toggle("hot", on); });
      }
      function showAtNode() {
        var box = rect.getBoundingClientRect();
        showFlowTip(container, lines, left ? box.left : box.right, box.bottom - 8);
      }
      g.addEventListener("mouseenter", function (event) {
        hot(true);
        showFlowTip(container, lines, event.clientX, event.clientY);
      });
      g.addEventListener("mouseleave", function () {
        hot(false);
        hideFlowTip();
      });
      g.addEventListener("focus", function () {
        hot(true);
        showAtNode();
      });
      g.addEventListener("blur", function () {
        hot(false);
        hideFlowTip();
      });
      g.addEventListener("keydown", function (event) {
        if (event.key === "Escape" && !$("flow-tip").hidden) {
          hideFlowTip();
          event.stopPropagation();
        } else if ((event.key === "Enter" || event.key === " ") && !n.entry && !n.other) {
          event.preventDefault();
          openNode(n.id);
        }
      });
      if (!n.entry && !n.other) g.addEventListener("click", function () { openNode(n.id); });
      nodeGroup.appendChild(g);
    }
    graph.callers.forEach(function (n) { drawNode(n, "caller"); });
    graph.targets.forEach(function (n) { drawNode(n, "node"); });
    root.appendChild(nodeGroup);
    var tip = el("div", "flow-tip");
    tip.id = "flow-tip";
    tip.setAttribute("role", "tooltip");
    tip.hidden = true;
    // A node that had the keyboard's focus has it again after a live update.
    var active = document.activeElement;
    var had = active && container.contains(active) && active.classList.contains("flow-node")
      ? [active.getAttribute("data-side"), active.getAttribute("data-node")] : null;
    container.replaceChildren(root, tip);
    if (had !== null) {
      var again = Array.prototype.find.call(root.querySelectorAll("g.flow-node"), function (g) {
        return g.getAttribute("data-side") === had[0] && g.getAttribute("data-node") === had[1];
      });
      if (again) again.focus();
    }
  }

  // -- tables -----------------------------------------------------------------------

  // Each chart's numbers as a table ("Show as table"), for whoever cannot see the chart
  // or point at it: built only while shown.
  function dataTable(caption, head, rows) {
    var table = el("table");
    table.appendChild(el("caption", null, caption));
    var thead = el("thead");
    var tr = el("tr");
    head.forEach(function (name, i) {
      var th = el("th", i === 0 ? null : "num", name);
      th.setAttribute("scope", "col");
      tr.appendChild(th);
    });
    thead.appendChild(tr);
    table.appendChild(thead);
    var body = el("tbody");
    rows.forEach(function (cells) {
      var row = el("tr");
      cells.forEach(function (cell, i) {
        var td = el(i === 0 ? "th" : "td", i === 0 ? null : "num", cell);
        if (i === 0) td.setAttribute("scope", "row");
        row.appendChild(td);
      });
      body.appendChild(row);
    });
    table.appendChild(body);
    return table;
  }

  function fillTable(box, caption, head, rows, emptyText) {
    if (!rows.length) box.replaceChildren(el("p", "empty", emptyText));
    else box.replaceChildren(dataTable(caption, head, rows));
  }

  function renderChartTable() {
    var box = $("chart-table");
    if (box.hidden) return;
    var chart = state.chart;
    var lanes = chart ? chart.nodes.filter(function (n) { return n.total > 0; }) : [];
    var rows = [];
    for (var i = 0; chart && i < chart.count; i++) {
      var total = 0;
      var cells = lanes.map(function (n) {
        total += n.hits[i] || 0;
        return formatCount(n.hits[i] || 0);
      });
      if (total > 0) rows.push([formatBucket(chart.lo + i * chart.stepMs, chart)].concat(cells, [formatCount(total)]));
    }
    fillTable(box, chart ? "Hits per " + describeStep(chart.step) + " (periods with hits)" : "", ["Time"].concat(lanes.map(function (n) { return n.id; }), ["Total"]),
      rows, chart ? "No hits in this time range yet." : "Loading…");
  }

  function renderNodeTable() {
    var box = $("node-table");
    if (box.hidden) return;
    var chart = state.chart;
    var node = nodeLane();
    var rows = [];
    for (var i = 0; chart && node && i < chart.count; i++) {
      if (!node.hits[i]) continue;
      rows.push([formatBucket(chart.lo + i * chart.stepMs, chart), formatCount(node.hits[i]), formatCount(node.errors[i] || 0)]
        .concat(PERCENTILES.map(function (p) { return formatSeconds(node[p][i]); })));
    }
    fillTable(box, chart ? "Hits and latency per " + describeStep(chart.step) + " (periods with hits)" : "",
      ["Time", "Hits", "Errors (5xx)", "p50", "p95", "p99"], rows, chart ? "No hits in this time range." : "Loading…");
  }

  var MAX_FLOW_ROWS = 500;

  function renderFlowTable() {
    var box = $("flow-table");
    if (box.hidden) return;
    var edges = state.flow.slice().sort(function (a, b) {
      return b.hits - a.hits || String(a.id).localeCompare(String(b.id));
    });
    var rows = edges.slice(0, MAX_FLOW_ROWS).map(function (edge) {
      var entry = edge.caller === null || edge.caller === undefined;
      return [entry ? ENTRY_LABEL : String(edge.caller), String(edge.id), formatCount(edge.hits)];
    });
    var caption = edges.length > rows.length ? "The busiest " + rows.length + " of " + formatCount(edges.length) + " links"
      : "Every link, the busiest first";
    fillTable(box, caption, ["Came from", "Page", "Hits"], rows, "No flow in this time range yet.");
  }

  function wireTableToggle(name, draw) {
    var button = $(name + "-table-toggle");
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", String(open));
      button.textContent = open ? "Hide table" : "Show as table";
      $(name + "-table").hidden = !open;
      draw();
    });
  }

  // -- views and wiring -------------------------------------------------------------

  function toLocalInput(ms) {
    var d = new Date(ms);
    return formatDate(d) + " " + formatTime(d, true);
  }

  // A time typed in the custom range, in the page's style (2026-11-29 23:18:16; the
  // seconds, or the time, may be left out; a "T" may stand for the space), local time.
  function parseLocalInput(text) {
    var m = /^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*$/.exec(text);
    if (!m) return NaN;
    var d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] || 0), Number(m[5] || 0), Number(m[6] || 0));
    return d.getMonth() === Number(m[2]) - 1 ? d.getTime() : NaN;
  }

  // The range and the node shown are kept in the page's URL, so that a reload or a
  // bookmark keeps them. (A custom range is not.)
  function pageUrl() {
    var url = new URL(window.location.href);
    if (state.range !== "custom") url.searchParams.set("range", state.range);
    if (state.node === null) url.searchParams.delete("node");
    else url.searchParams.set("node", state.node);
    return url;
  }

  function applyRange(value) {
    var range = $("range");
    var known = Array.prototype.some.call(range.options, function (option) {
      return option.value === value && value !== "custom";
    });
    if (!known) return false;
    range.value = value;
    state.range = value;
    $("custom-range").hidden = true;
    return true;
  }

  // Shows the overview or the node view, before the view's data arrive.
  function showView() {
    var node = state.node;
    $("overview").hidden = node !== null;
    $("node-view").hidden = node === null;
    if (node !== null) {
      var title = $("node-title");
      title.textContent = node;
      title.title = node;
      document.title = node + " · Pymetrix";
    } else {
      document.title = "Pymetrix";
    }
  }

  // Switches views: the old view's chart and stream go at once, the new one is read.
  function switchView(node, from) {
    state.node = node;
    state.chart = null;
    closeStream();
    showView();
    renderCharts();
    renderTable();
    if (node !== null) {
      renderNodeDetails();
      $("node-title").focus();
    } else if (from !== null) {
      // Back where the keyboard was: the node's button in the table.
      var again = Array.prototype.find.call(document.querySelectorAll("#nodes-body button[data-node]"), function (button) {
        return button.getAttribute("data-node") === from;
      });
      if (again) again.focus();
    }
    load(true);
  }

  function openNode(id) {
    if (id === state.node) return;
    var from = state.node;
    state.node = id;
    window.history.pushState({ node: id }, "", pageUrl());
    switchView(id, from);
  }

  function showOverview() {
    var from = state.node;
    if (from === null) return;
    if (window.history.state && window.history.state.node === from) {
      // The node was opened from this page: going back is the browser's Back too.
      window.history.back();
      return;
    }
    state.node = null;
    window.history.replaceState(null, "", pageUrl());
    switchView(null, from);
  }

  function init() {
    var range = $("range");
    applyRange(params.get("range"));
    var asked = params.get("node");
    if (asked) state.node = asked;
    range.addEventListener("change", function () {
      state.range = range.value;
      var custom = state.range === "custom";
      $("custom-range").hidden = !custom;
      if (custom && !$("since").value) {
        var now = Date.now();
        $("since").value = toLocalInput(now - 3600 * 1000);
        $("until").value = toLocalInput(now);
      }
      if (!custom) window.history.replaceState(window.history.state, "", pageUrl());
      load(true);
    });
    var typedTimer = null;
    ["since", "until"].forEach(function (id) {
      $(id).addEventListener("change", function () {
        window.clearTimeout(typedTimer);
        load(true);
      });
      // A time typed whole is read after a pause in the typing.
      $(id).addEventListener("input", function () {
        window.clearTimeout(typedTimer);
        if (isNaN(parseLocalInput($(id).value))) return;
        typedTimer = window.setTimeout(function () { load(true); }, 500);
      });
    });
    $("filter").addEventListener("input", function (event) {
      state.filter = event.target.value;
      renderTable();
    });
    document.querySelectorAll("#nodes th.sortable").forEach(function (th) {
      function sort() {
        var key = th.getAttribute("data-key");
        if (state.sortKey === key) state.sortDir = -state.sortDir;
        else {
          state.sortKey = key;
          state.sortDir = key === "id" ? 1 : -1;
        }
        renderTable();
      }
      th.querySelector("button.sort").addEventListener("click", sort);
    });
    $("back").addEventListener("click", showOverview);
    wireTableToggle("chart", renderChartTable);
    wireTableToggle("node", renderNodeTable);
    wireTableToggle("flow", renderFlowTable);
    document.addEventListener("keydown", function (event) {
      var target = event.target;
      var typing = target && (target.tagName === "INPUT" || target.tagName === "SELECT");
      if (event.key === "Escape" && state.node !== null && !typing) showOverview();
    });
    window.addEventListener("popstate", function () {
      var url = new URLSearchParams(window.location.search);
      var from = state.node;
      applyRange(url.get("range"));
      switchView(url.get("node") || null, from);
    });
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      window.clearTimeout(resizeTimer);
      resizeTimer = window.setTimeout(function () {
        renderCharts();
        renderFlow();
      }, 150);
    });
    // A hidden page reads nothing: its stream closes, and it reads the range afresh
    // when shown again.
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) {
        closeStream();
        setLive("paused", "Paused");
      } else {
        load(false);
      }
    });
    // Without a stream (no EventSource, or a read that failed), a live range is read
    // again now and then.
    window.setInterval(function () {
      if (document.hidden || state.stream !== null || state.loading) return;
      if (state.window !== null && !state.window.live) return;
      load(false);
    }, FALLBACK_REFRESH_MS);
    showView();
    renderCharts();
    load(true);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
