/* Pymetrix dashboard: plain DOM and SVG, no dependencies.
 *
 * Every id that comes from the API is put on the page with textContent or as a text
 * node, never parsed as markup: node ids are whatever the instrumented app named them.
 * All URLs are relative to the page, so the dashboard works wherever the stats app is
 * mounted (e.g. /pymetrix/).
 */
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var PALETTE = ["#4f5bd5", "#12b76a", "#f79009", "#ee46bc", "#0ba5ec", "#7a5af8", "#98a2b3"];
  var RANGE_BUCKETS = 60;
  var STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
    43200, 86400, 172800, 604800];
  var MAX_FLOW_LINKS = 60;
  var SLIDING_REFRESH_MS = 15000;
  var SERIES_GAP_MS = 5000;

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
    sortKey: "hits",
    sortDir: -1,
    filter: "",
    rows: [],
    series: null,
    flow: [],
    window: null,
    previousHits: new Map(),
    serverOffsetMs: 0,
    inflight: false,
    pending: false,
    lastRefreshStart: 0,
    lastRefreshMs: 0,
    refreshTimer: null,
    seriesAt: 0,
    seriesMs: 0,
    seriesTimer: null,
    wantFull: false,
    source: null
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
    parent.appendChild(title);
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

  function pad2(n) { return n < 10 ? "0" + n : String(n); }

  function formatClock(ms, step) {
    var d = new Date(ms);
    var hm = pad2(d.getHours()) + ":" + pad2(d.getMinutes());
    if (step >= 86400) return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
    if (step >= 3600) return d.toLocaleDateString(undefined, { month: "short", day: "numeric" }) + " " + hm;
    if (step < 60) return hm + ":" + pad2(d.getSeconds());
    return hm;
  }

  // Export times are "YYYY-MM-DD HH:MM:SS.ffffff" in the app's zone, UTC by default.
  var TIME_RE = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?/;

  function parseTime(text) {
    var m = TIME_RE.exec(String(text));
    if (!m) return NaN;
    var ms = m[7] ? Math.floor(Number((m[7] + "000000").slice(0, 6)) / 1000) : 0;
    return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], ms);
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

  function currentWindow() {
    var now = serverNow();
    if (state.range === "all") return { since: null, until: null, start: null, end: now };
    if (state.range === "custom") {
      var since = Date.parse($("since").value);
      var until = Date.parse($("until").value);
      return {
        since: isNaN(since) ? null : since,
        until: isNaN(until) ? null : until,
        start: isNaN(since) ? null : since,
        end: isNaN(until) ? now : until
      };
    }
    var seconds = Number(state.range);
    return { since: now - seconds * 1000, until: null, start: now - seconds * 1000, end: now };
  }

  function rangeQuery(win) {
    var query = {};
    if (win.since !== null) query.since = isoTime(win.since);
    if (win.until !== null) query.until = isoTime(win.until);
    return query;
  }

  // -- refresh ----------------------------------------------------------------------

  // The table, KPIs and flow follow every change; the chart needs every hit of the
  // range, so it is re-read at most every few seconds (a trailing read catches up).
  function refresh(full) {
    if (full) state.wantFull = true;
    if (state.inflight) {
      state.pending = true;
      return;
    }
    full = state.wantFull;
    state.wantFull = false;
    state.inflight = true;
    var started = Date.now();
    state.lastRefreshStart = started;
    var win = currentWindow();
    var query = rangeQuery(win);
    var statsQuery = Object.assign({ stats: "1" }, query);
    var seriesDue = full || state.series === null ||
      started - state.seriesAt >= Math.max(SERIES_GAP_MS, 4 * state.seriesMs);
    Promise.all([
      getJSON("api/aggregate", statsQuery),
      getJSON("api/flow", query),
      seriesDue ? getJSON("api/time_series", query) : Promise.resolve(null)
    ]).then(function (results) {
      state.rows = Array.isArray(results[0]) ? results[0] : [];
      state.flow = Array.isArray(results[1]) ? results[1] : [];
      if (seriesDue) {
        state.series = results[2] || { id: "", nodes: [] };
        state.seriesAt = started;
        state.seriesMs = Date.now() - started;
        state.window = win;
      } else if (state.seriesTimer === null) {
        state.seriesTimer = window.setTimeout(function () {
          state.seriesTimer = null;
          refresh(false);
        }, Math.max(0, state.seriesAt + Math.max(SERIES_GAP_MS, 4 * state.seriesMs) - Date.now()));
      }
      hideError();
      render(seriesDue);
      $("updated").textContent = new Date().toLocaleTimeString();
    }).catch(function (err) {
      showError(err && err.message ? err.message : String(err));
    }).then(function () {
      state.inflight = false;
      state.lastRefreshMs = Date.now() - started;
      if (state.pending) {
        state.pending = false;
        scheduleRefresh();
      }
    });
  }

  // Coalesces bursts of live events: at most one refresh in flight, and a gap after a
  // slow one so that a large store is not queried back to back.
  function scheduleRefresh() {
    if (state.refreshTimer !== null) return;
    if (state.inflight) {
      state.pending = true;
      return;
    }
    var gap = Math.max(250, 2 * state.lastRefreshMs);
    var wait = Math.max(0, state.lastRefreshStart + gap - Date.now());
    state.refreshTimer = window.setTimeout(function () {
      state.refreshTimer = null;
      refresh(false);
    }, wait);
  }

  function showError(message) {
    var banner = $("error");
    banner.textContent = message;
    banner.hidden = false;
  }

  function hideError() { $("error").hidden = true; }

  // -- live updates -----------------------------------------------------------------

  function setLive(stateName, text) {
    $("live").setAttribute("data-state", stateName);
    $("live-text").textContent = text;
  }

  function connect() {
    if (typeof window.EventSource !== "function") {
      setLive("offline", "No live updates");
      return;
    }
    var query = { data: "aggregate", interval: "1" };
    if (token) query.token = token;
    var source = new EventSource(apiUrl("api/stream", query));
    state.source = source;
    source.onopen = function () { setLive("live", "Live"); };
    source.onmessage = function (event) {
      // Each event is the fresh aggregate; the page re-reads what its range shows.
      var envelope = null;
      try {
        envelope = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (envelope && envelope.response !== 200) {
        setLive("connecting", "Store unavailable");
        showError(String(envelope.message));
        return;
      }
      setLive("live", "Live");
      scheduleRefresh();
    };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        setLive("offline", "Offline");
        state.source = null;
        window.setTimeout(connect, 5000);
      } else {
        setLive("connecting", "Reconnecting");
      }
    };
  }

  // -- rendering --------------------------------------------------------------------

  function render(withChart) {
    if (state.series && typeof state.series.id === "string") $("app-id").textContent = state.series.id;
    renderKpis();
    renderTable();
    if (withChart) renderChart();
    renderFlow();
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
    var topEl = $("kpi-top");
    topEl.textContent = top ? top.id : "–";
    topEl.title = top ? top.id : "";
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
      if (previous !== undefined && previous !== row.hits) tr.className = "flash";
      var name = el("td", "node", row.id);
      name.title = row.id;
      tr.appendChild(name);
      tr.appendChild(el("td", "num hits", formatCount(row.hits)));
      var share = el("td", "share");
      var bar = el("div", "sharebar");
      var fill = el("div");
      fill.style.width = (100 * row.hits / max).toFixed(1) + "%";
      bar.appendChild(fill);
      bar.title = total ? (100 * row.hits / total).toFixed(1) + "% of hits" : "";
      share.appendChild(bar);
      tr.appendChild(share);
      tr.appendChild(el("td", "num" + (row.p50 == null ? " muted" : ""), formatSeconds(row.p50)));
      tr.appendChild(el("td", "num" + (row.p95 == null ? " muted" : ""), formatSeconds(row.p95)));
      var errors = row.errors || 0;
      tr.appendChild(el("td", "num errors" + (errors ? " errors-some" : " muted"), formatCount(errors)));
      fragment.appendChild(tr);
    });
    state.rows.forEach(function (row) { seen.set(row.id, row.hits); });
    state.previousHits = seen;
    body.replaceChildren(fragment);
    $("nodes-empty").hidden = rows.length > 0;
    document.querySelectorAll("#nodes th.sortable").forEach(function (th) {
      var key = th.getAttribute("data-key");
      if (key === state.sortKey) th.setAttribute("aria-sort", state.sortDir < 0 ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    });
  }

  function placeholder(container, text) {
    var width = container.clientWidth || 600;
    var height = container.clientHeight || 200;
    var root = svg("svg", { viewBox: "0 0 " + width + " " + height, role: "img" });
    root.appendChild(svgText({ x: width / 2, y: height / 2, "text-anchor": "middle", class: "placeholder" }, text));
    container.replaceChildren(root);
  }

  function niceMax(value) {
    if (value <= 5) return 5;
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * power >= value) return steps[i] * power;
    }
    return 10 * power;
  }

  function renderChart() {
    var container = $("chart");
    var legend = $("chart-legend");
    var nodes = state.series && Array.isArray(state.series.nodes) ? state.series.nodes : [];
    var win = state.window || currentWindow();
    var times = [];
    var first = Infinity;
    nodes.forEach(function (node) {
      (node.callers || []).forEach(function (entry) {
        var t = parseTime(entry.time);
        if (!isNaN(t)) {
          times.push([node.id, t]);
          if (t < first) first = t;
        }
      });
    });
    var start = win.start !== null ? win.start : first;
    var end = win.end;
    if (!times.length || !isFinite(start) || end <= start) {
      legend.replaceChildren();
      $("chart-note").textContent = "";
      placeholder(container, "No hits in this time range yet.");
      return;
    }
    var span = (end - start) / 1000;
    var step = STEPS[STEPS.length - 1];
    for (var i = 0; i < STEPS.length; i++) {
      if (STEPS[i] >= span / RANGE_BUCKETS) { step = STEPS[i]; break; }
    }
    var stepMs = step * 1000;
    // Buckets start on round local times: whole minutes, hours, days.
    var zoneMs = -new Date(start).getTimezoneOffset() * 60000;
    var firstBucket = Math.floor((start + zoneMs) / stepMs) * stepMs - zoneMs;
    var count = Math.max(1, Math.ceil((end - firstBucket) / stepMs));

    // The busiest nodes of the range get their own colour; the rest are "other".
    var ranked = state.rows.slice().sort(function (a, b) { return b.hits - a.hits; });
    var series = ranked.slice(0, PALETTE.length - 1).map(function (row) { return row.id; });
    var seriesIndex = new Map(series.map(function (id, index) { return [id, index]; }));
    // The table and the series are read at slightly different moments: a node new to
    // the series lands in "other" too.
    var hasOther = ranked.length > series.length || times.some(function (pair) {
      return !seriesIndex.has(pair[0]);
    });
    var lanes = series.length + (hasOther ? 1 : 0);
    var buckets = [];
    for (var b = 0; b < count; b++) buckets.push(new Array(lanes).fill(0));
    times.forEach(function (pair) {
      var index = Math.floor((pair[1] - firstBucket) / stepMs);
      if (index < 0 || index >= count) return;
      var lane = seriesIndex.has(pair[0]) ? seriesIndex.get(pair[0]) : lanes - 1;
      buckets[index][lane] += 1;
    });
    var peak = 0;
    buckets.forEach(function (values) {
      var sum = values.reduce(function (x, y) { return x + y; }, 0);
      if (sum > peak) peak = sum;
    });
    var top = niceMax(peak);

    var width = Math.max(320, container.clientWidth);
    var height = Math.max(160, container.clientHeight);
    var margin = { left: 44, right: 10, top: 10, bottom: 24 };
    var plotW = width - margin.left - margin.right;
    var plotH = height - margin.top - margin.bottom;
    var root = svg("svg", { viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": "Hits over time" });
    var axis = svg("g", { class: "axis" });
    // Hits are whole numbers: grid lines fall on whole numbers too.
    var divisions = top % 4 === 0 ? 4 : 5;
    for (var t = 0; t <= divisions; t++) {
      var value = (top * t) / divisions;
      var y = margin.top + plotH - (plotH * t) / divisions;
      axis.appendChild(svg("line", { class: "gridline", x1: margin.left, x2: width - margin.right, y1: y, y2: y }));
      axis.appendChild(svgText({ x: margin.left - 6, y: y + 3.5, "text-anchor": "end" }, formatCount(value)));
    }
    var slot = plotW / count;
    // Tick labels at round times, far enough apart to be read.
    var labelStep = step;
    for (var m = 0; m < STEPS.length; m++) {
      if (STEPS[m] % step === 0 && (STEPS[m] / step) * slot >= 80) { labelStep = STEPS[m]; break; }
    }
    for (var k = 0; k < count; k++) {
      var tick = firstBucket + k * stepMs;
      if ((tick + zoneMs) % (labelStep * 1000) !== 0) continue;
      var tx = margin.left + slot * k;
      if (tx < margin.left + 20 || tx > width - margin.right - 24) continue;
      axis.appendChild(svg("line", { x1: tx, x2: tx, y1: margin.top + plotH, y2: margin.top + plotH + 4 }));
      axis.appendChild(svgText({ x: tx, y: height - 6, "text-anchor": "middle" }, formatClock(tick, labelStep)));
    }
    root.appendChild(axis);

    var bars = svg("g");
    var barW = Math.max(1, slot * 0.78);
    buckets.forEach(function (values, index) {
      var x = margin.left + slot * index + (slot - barW) / 2;
      var base = margin.top + plotH;
      var total = 0;
      values.forEach(function (n, lane) {
        if (!n) return;
        total += n;
        var h = (plotH * n) / top;
        base -= h;
        var rect = svg("rect", { class: "bar", x: x, y: base, width: barW, height: Math.max(0.5, h), fill: PALETTE[lane < series.length ? lane : PALETTE.length - 1] });
        var name = lane < series.length ? series[lane] : "other nodes";
        tooltip(rect, name + ": " + formatCount(n) + " hits at " + formatClock(firstBucket + index * stepMs, Math.min(step, 59)));
        bars.appendChild(rect);
      });
      if (total) bars.lastChild.setAttribute("data-total", String(total));
    });
    root.appendChild(bars);
    container.replaceChildren(root);
    $("chart-note").textContent = "per " + describeStep(step);

    var items = document.createDocumentFragment();
    for (var lane = 0; lane < lanes; lane++) {
      var item = el("span", "legend-item");
      var swatch = el("span", "swatch");
      swatch.style.background = PALETTE[lane < series.length ? lane : PALETTE.length - 1];
      item.appendChild(swatch);
      var label = el("span", null, lane < series.length ? series[lane] : "other nodes");
      label.title = label.textContent;
      item.appendChild(label);
      items.appendChild(item);
    }
    legend.replaceChildren(items);
  }

  function describeStep(step) {
    if (step % 86400 === 0) return step === 86400 ? "day" : step / 86400 + " days";
    if (step % 3600 === 0) return step === 3600 ? "hour" : step / 3600 + " hours";
    if (step % 60 === 0) return step === 60 ? "minute" : step / 60 + " minutes";
    return step === 1 ? "second" : step + " seconds";
  }

  // -- flow -------------------------------------------------------------------------

  // The flow is a set of caller -> node edges, not of whole paths, so it is drawn as
  // two columns: callers on the left ("(entry)" for hits with no caller), the nodes
  // they led to on the right, each link as wide as its hits.
  var ENTRY_LABEL = "(entry)";

  function flowColumns(edges) {
    var left = new Map();
    var right = new Map();
    function column(map, id, entry) {
      var key = entry ? "entry" : "n:" + id;
      var item = map.get(key);
      if (!item) {
        item = { key: key, label: entry ? ENTRY_LABEL : id, entry: entry, value: 0, links: [] };
        map.set(key, item);
      }
      return item;
    }
    var links = edges.map(function (edge) {
      var isEntry = edge.caller === null || edge.caller === undefined;
      var source = column(left, edge.caller, isEntry);
      var target = column(right, edge.id, false);
      var link = { source: source, target: target, hits: edge.hits };
      source.value += edge.hits;
      target.value += edge.hits;
      source.links.push(link);
      target.links.push(link);
      return link;
    });
    var callers = Array.from(left.values()).sort(function (a, b) {
      if (a.entry !== b.entry) return a.entry ? -1 : 1;
      return b.value - a.value || a.label.localeCompare(b.label);
    });
    // A node sits at the same height on both sides where it can: easier to follow.
    var rank = new Map();
    callers.forEach(function (n, i) { if (!n.entry) rank.set(n.label, i); });
    var targets = Array.from(right.values()).sort(function (a, b) {
      var ra = rank.has(a.label) ? rank.get(a.label) : Infinity;
      var rb = rank.has(b.label) ? rank.get(b.label) : Infinity;
      if (ra !== rb) return ra - rb;
      return b.value - a.value || a.label.localeCompare(b.label);
    });
    return { callers: callers, targets: targets, links: links };
  }

  function placeColumn(nodes, top, height, scale, gap) {
    var y = top;
    nodes.forEach(function (n) {
      n.y = y;
      n.h = Math.max(2, n.value * scale);
      y += n.h + gap;
    });
  }

  function renderFlow() {
    var container = $("flow");
    var edges = state.flow.slice().sort(function (a, b) { return b.hits - a.hits; });
    if (!edges.length) {
      placeholder(container, "No flow in this time range yet.");
      return;
    }
    var shown = edges.slice(0, MAX_FLOW_LINKS);
    var graph = flowColumns(shown);
    var width = Math.max(360, container.clientWidth);
    var height = Math.max(240, container.clientHeight);
    var labelRoom = Math.min(170, Math.max(90, width * 0.24));
    var nodeW = 10;
    var top = 26;
    var bottom = shown.length < edges.length ? 22 : 8;
    var usable = height - top - bottom;
    var most = Math.max(graph.callers.length, graph.targets.length);
    var gap = Math.min(12, (usable * 0.35) / Math.max(1, most - 1));
    var total = graph.callers.reduce(function (s, n) { return s + n.value; }, 0);
    var scale = (usable - gap * (most - 1)) / Math.max(1, total);
    placeColumn(graph.callers, top, usable, scale, gap);
    placeColumn(graph.targets, top, usable, scale, gap);
    var x0 = labelRoom;
    var x1 = width - labelRoom - nodeW;

    // Links leave and enter a node stacked in the order of their other ends.
    graph.callers.forEach(function (n) {
      var offset = 0;
      n.links.sort(function (a, b) { return a.target.y - b.target.y; }).forEach(function (link) {
        link.w = link.hits * scale;
        link.sy = n.y + offset + link.w / 2;
        offset += link.w;
      });
    });
    graph.targets.forEach(function (n) {
      var offset = 0;
      n.links.sort(function (a, b) { return a.source.y - b.source.y; }).forEach(function (link) {
        link.ty = n.y + offset + link.w / 2;
        offset += link.w;
      });
    });

    var root = svg("svg", { viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": "Flow from caller to node" });
    root.appendChild(svgText({ x: x0 + nodeW, y: 12, "text-anchor": "end", class: "flow-heading" }, "Caller"));
    root.appendChild(svgText({ x: x1, y: 12, "text-anchor": "start", class: "flow-heading" }, "Node"));
    var linkGroup = svg("g", { class: "links" });
    var mid = (x0 + nodeW + x1) / 2;
    graph.links.forEach(function (link) {
      var d = "M" + (x0 + nodeW) + "," + link.sy + " C" + mid + "," + link.sy + " " + mid + "," + link.ty + " " + x1 + "," + link.ty;
      var path = svg("path", { class: "flow-link", d: d, "stroke-width": Math.max(1, link.w) });
      path.setAttribute("data-caller", link.source.label);
      path.setAttribute("data-node", link.target.label);
      path.setAttribute("data-hits", String(link.hits));
      tooltip(path, link.source.label + " → " + link.target.label + ": " + formatCount(link.hits) + " hits");
      link.path = path;
      linkGroup.appendChild(path);
    });
    root.appendChild(linkGroup);

    var nodeGroup = svg("g", { class: "nodes" });
    function drawNode(n, side) {
      var left = side === "caller";
      var g = svg("g", { class: "flow-node" + (n.entry ? " start" : "") });
      g.setAttribute("data-node", n.label);
      g.setAttribute("data-side", side);
      g.appendChild(svg("rect", { x: left ? x0 : x1, y: n.y, width: nodeW, height: n.h, rx: 2 }));
      var label = svgText({
        x: left ? x0 - 6 : x1 + nodeW + 6,
        y: n.y + n.h / 2 + 4,
        "text-anchor": left ? "end" : "start"
      }, truncate(n.label, Math.max(8, Math.floor((labelRoom - 50) / 7))));
      var count = svg("tspan", { class: "count" });
      count.textContent = "  " + formatCount(n.value);
      label.appendChild(count);
      g.appendChild(label);
      tooltip(g, n.label + (left ? " led to " : " was reached ") + formatCount(n.value) + " times");
      g.addEventListener("mouseenter", function () {
        root.classList.add("focus");
        n.links.forEach(function (link) { link.path.classList.add("hot"); });
      });
      g.addEventListener("mouseleave", function () {
        root.classList.remove("focus");
        n.links.forEach(function (link) { link.path.classList.remove("hot"); });
      });
      nodeGroup.appendChild(g);
    }
    graph.callers.forEach(function (n) { drawNode(n, "caller"); });
    graph.targets.forEach(function (n) { drawNode(n, "node"); });
    root.appendChild(nodeGroup);
    if (shown.length < edges.length) {
      root.appendChild(svgText({ x: width / 2, y: height - 6, "text-anchor": "middle", class: "placeholder" },
        "the busiest " + shown.length + " of " + edges.length + " links"));
    }
    container.replaceChildren(root);
  }

  // -- wiring -----------------------------------------------------------------------

  function toLocalInput(ms) {
    var d = new Date(ms);
    return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()) + "T" +
      pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
  }

  // The range is kept in the page's URL, so that a reload or a bookmark keeps it.
  function rememberRange(value) {
    var url = new URL(window.location.href);
    url.searchParams.set("range", value);
    window.history.replaceState(null, "", url);
  }

  function init() {
    var range = $("range");
    var asked = params.get("range");
    var known = Array.prototype.some.call(range.options, function (option) {
      return option.value === asked && asked !== "custom";
    });
    if (known) {
      range.value = asked;
      state.range = asked;
    }
    range.addEventListener("change", function () {
      state.range = range.value;
      if (state.range !== "custom") rememberRange(state.range);
      var custom = state.range === "custom";
      $("custom-range").hidden = !custom;
      if (custom && !$("since").value) {
        var now = Date.now();
        $("since").value = toLocalInput(now - 3600 * 1000);
        $("until").value = toLocalInput(now);
      }
      refresh(true);
    });
    ["since", "until"].forEach(function (id) {
      $(id).addEventListener("change", function () { refresh(true); });
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
      th.tabIndex = 0;
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sort();
        }
      });
    });
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      window.clearTimeout(resizeTimer);
      resizeTimer = window.setTimeout(function () {
        renderChart();
        renderFlow();
      }, 150);
    });
    // A sliding range moves on even when nothing new arrives.
    window.setInterval(function () {
      if (state.range !== "all" && state.range !== "custom") scheduleRefresh();
    }, SLIDING_REFRESH_MS);
    refresh(true);
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
