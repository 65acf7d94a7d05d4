/**
 * The status page's files, served by the admin listener itself (no CDN, nothing
 * fetched from elsewhere: it works on an air-gapped cluster). The page polls
 * `/status` every second and redraws without a reload. Every value is inserted as
 * text, never as HTML, and the Content-Security-Policy allows only these files.
 */

/** One static file of the page. */
export interface StaticFile {
  readonly type: string;
  readonly body: string;
}

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wsgate status</title>
<link rel="icon" href="/favicon.svg">
<link rel="stylesheet" href="/status.css">
<script src="/status.js" defer></script>
</head>
<body>
<header>
  <h1>wsgate</h1>
  <dl id="summary">
    <dt>Connections</dt><dd data-field="connections">–</dd>
    <dt>Table generation</dt><dd data-field="generation">–</dd>
    <dt>Last compile</dt><dd data-field="last-compile">–</dd>
    <dt>Source</dt><dd data-field="source">–</dd>
    <dt>Role</dt><dd data-field="role">–</dd>
    <dt>Updated</dt><dd data-field="updated">–</dd>
  </dl>
</header>
<p id="error" hidden></p>
<section id="watches" hidden><h2>Watches</h2><table><thead><tr><th>Kind</th><th>Namespace</th><th>State</th><th>Restarts</th><th>Last error</th></tr></thead><tbody></tbody></table></section>
<section id="workers" hidden><h2>Workers</h2><table><thead><tr><th>Worker</th><th>Connections</th></tr></thead><tbody></tbody></table></section>
<section><h2>Handshake rejections, last 5 minutes</h2>
<table id="rejections"><thead><tr><th>Reason</th><th>Route</th><th>Count</th></tr></thead><tbody></tbody></table>
<p class="none" id="no-rejections">None.</p></section>
<section><h2>Routes</h2><div id="routes"></div><p class="none" id="no-routes">No routes.</p></section>
<footer>JSON: <a href="/status">/status</a> · <a href="/metrics">/metrics</a> · <a href="/debug/config">/debug/config</a></footer>
</body>
</html>
`;

const CSS = `
:root { --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #656d76; --line: #d0d7de; --bar: #54aeff; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 1rem 1.5rem; color: #1f2328; }
h1 { font-size: 1.4rem; margin: 0 0 .5rem; }
h2 { font-size: 1.1rem; margin: 1.2rem 0 .4rem; }
h3 { font-size: 1rem; margin: 0; }
#summary { display: grid; grid-template-columns: repeat(6, auto); gap: 0 1rem; margin: 0; }
#summary dt { color: var(--muted); font-size: .8rem; grid-row: 1; }
#summary dd { margin: 0; font-weight: 600; grid-row: 2; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .2rem .5rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-weight: 600; color: var(--muted); font-size: .8rem; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.route { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; margin: .6rem 0; }
.route .meta { color: var(--muted); margin: .2rem 0 .5rem; }
.badge { display: inline-block; border-radius: 1rem; padding: 0 .5rem; font-size: .75rem; margin-right: .3rem; border: 1px solid currentColor; }
.True, .ready { color: var(--ok); }
.False, .ejected, .probe_failed, .not_ready { color: var(--bad); }
.Unknown, .draining { color: var(--warn); }
.bar { position: relative; width: 12rem; height: .8rem; background: #eaeef2; border-radius: 2px; }
.bar .fill { position: absolute; inset: 0 auto 0 0; background: var(--bar); border-radius: 2px; }
.bar .mean { position: absolute; top: -2px; bottom: -2px; width: 2px; background: #1f2328; }
.none { color: var(--muted); }
#error { color: var(--bad); font-weight: 600; }
footer { margin-top: 1.5rem; color: var(--muted); }
`;

// Plain ES2020 for the browser; values go in with textContent only.
const JS = String.raw`"use strict";
(function () {
  var POLL_MS = 1000;
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (k === "text") e.textContent = String(attrs[k]);
      else if (k === "class") e.className = attrs[k];
      else e.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }
  function field(name, value) {
    var node = document.querySelector('#summary [data-field="' + name + '"]');
    node.textContent = value;
  }
  function ago(iso) {
    if (!iso) return "never";
    var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    return s < 60 ? s + " s ago" : Math.round(s / 60) + " min ago";
  }
  function td(text, cls, attrs) {
    var a = Object.assign({ text: text }, attrs || {});
    if (cls) a["class"] = cls;
    return el("td", a);
  }
  function bar(n, mean, scale) {
    var b = el("div", { "class": "bar", title: n + " connections, route mean " + mean });
    var fill = el("div", { "class": "fill" });
    fill.style.width = (scale > 0 ? Math.min(100, (100 * n) / scale) : 0) + "%";
    b.appendChild(fill);
    var m = el("div", { "class": "mean" });
    m.style.left = (scale > 0 ? Math.min(100, (100 * mean) / scale) : 0) + "%";
    b.appendChild(m);
    return b;
  }
  function renderRoute(r) {
    var key = r.namespace + "/" + r.name;
    var conditions = el("div", null, r.conditions.map(function (c) {
      return el("span", { "class": "badge " + c.status, title: c.message || "", "data-condition": c.type, text: c.type + ": " + c.reason });
    }));
    var hosts = r.hosts.length ? r.hosts.join(", ") : "any host";
    var paths = r.paths.map(function (p) { return (p.type === "Exact" ? "= " : "") + p.value; }).join(", ");
    var rejected = Object.keys(r.rejections).map(function (k) { return k + " " + r.rejections[k]; }).join(", ");
    var max = 0;
    r.backends.forEach(function (b) { b.endpoints.forEach(function (e) { max = Math.max(max, e.connections); }); });
    var scale = Math.max(max, 2 * r.meanPerEndpoint, 1);
    var rows = [];
    r.backends.forEach(function (b) {
      b.endpoints.forEach(function (e) {
        var drain = e.drain ? e.drain.connections + " left, " + Math.ceil(e.drain.doneInMs / 1000) + " s" : "";
        rows.push(el("tr", { "data-endpoint": e.id }, [
          td(b.backend),
          td(e.address),
          el("td", null, [el("span", { "class": "badge " + e.state, "data-field": "state", title: e.lastProbe || "", text: e.state })]),
          td(e.connections, "num", { "data-field": "connections" }),
          el("td", null, [bar(e.connections, r.meanPerEndpoint, scale)]),
          td(e.openedLastMinute, "num", { "data-field": "opened" }),
          td(e.closedLastMinute, "num", { "data-field": "closed" }),
          td(drain, null, { "data-field": "drain" })
        ]));
      });
    });
    var table = el("table", null, [
      el("thead", null, [el("tr", null, ["Backend", "Endpoint", "Health", "Connections", "vs route mean", "Opened 1 min", "Closed 1 min", "Drain"].map(function (h) { return el("th", { text: h }); }))]),
      el("tbody", null, rows)
    ]);
    var clients = r.clients ? el("p", { "class": "meta", text: "Clients: " + (r.clients.map(function (c) { return c.address + " (" + c.connections + ")"; }).join(", ") || "none") }) : null;
    return el("div", { "class": "route", "data-route": key }, [
      el("h3", { text: key }),
      conditions,
      el("div", { "class": "meta" }, [
        el("span", { text: hosts + " · " + (paths || "no paths") + " · " }),
        el("span", { "data-field": "connections", text: r.connections }),
        el("span", { text: " connections, mean " + r.meanPerEndpoint + " per ready endpoint" + (r.draining ? ", " + r.draining + " draining" : "") + (rejected ? " · rejected (5 min): " + rejected : "") })
      ]),
      rows.length ? table : el("p", { "class": "none", text: "No endpoints." }),
      clients
    ]);
  }
  function render(s) {
    field("connections", s.connections);
    field("generation", s.table.generation);
    field("last-compile", s.table.lastCompileAt ? ago(s.table.lastCompileAt) + " (" + s.table.lastCompileMs + " ms)" : "never");
    field("source", s.source.mode === "standalone" ? "manifests " + s.source.dir + (s.source.problems.length ? " (" + s.source.problems.length + " problems)" : "") : "Kubernetes API" + (s.source.synced ? "" : " (syncing)"));
    field("role", s.source.mode === "cluster" ? (s.source.leader ? "leader (writes status)" : "follower") : "standalone");
    field("updated", new Date(s.time).toLocaleTimeString());
    var watches = document.getElementById("watches");
    watches.hidden = s.source.mode !== "cluster";
    if (s.source.mode === "cluster") {
      watches.querySelector("tbody").replaceChildren.apply(watches.querySelector("tbody"), s.source.watches.map(function (w) {
        var state = w.downForMs !== undefined && w.downForMs !== null ? "down " + Math.round(w.downForMs / 1000) + " s" : w.synced ? "up" : "syncing";
        return el("tr", null, [td(w.kind), td(w.namespace || "(all)"), td(state, state === "up" ? "True" : "False"), td(w.restarts, "num"), td(w.lastError || "")]);
      }));
    }
    var workers = document.getElementById("workers");
    workers.hidden = !s.workers;
    if (s.workers) {
      workers.querySelector("tbody").replaceChildren.apply(workers.querySelector("tbody"), s.workers.map(function (w) {
        return el("tr", { "data-worker": w.worker }, [td(w.worker), td(w.connections, "num", { "data-field": "connections" })]);
      }));
    }
    var rej = document.querySelector("#rejections tbody");
    rej.replaceChildren.apply(rej, s.rejections.map(function (x) {
      return el("tr", { "data-reason": x.reason, "data-route": x.route }, [td(x.reason), td(x.route || "(no route)"), td(x.count, "num", { "data-field": "count" })]);
    }));
    document.getElementById("no-rejections").hidden = s.rejections.length > 0;
    var routes = document.getElementById("routes");
    routes.replaceChildren.apply(routes, s.routes.map(renderRoute));
    document.getElementById("no-routes").hidden = s.routes.length > 0;
    document.body.setAttribute("data-generation", String(s.table.generation));
  }
  function poll() {
    fetch("/status", { cache: "no-store" })
      .then(function (res) { if (!res.ok) throw new Error("/status answered " + res.status); return res.json(); })
      .then(function (s) { document.getElementById("error").hidden = true; render(s); })
      .catch(function (err) { var e = document.getElementById("error"); e.textContent = "Cannot reach wsgate: " + err.message; e.hidden = false; })
      .finally(function () { setTimeout(poll, POLL_MS); });
  }
  poll();
})();
`;

const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#0969da"/><path d="M3 5l2 6 3-5 3 5 2-6" stroke="#fff" stroke-width="1.6" fill="none"/></svg>
`;

/** The page's files by request path. */
export const STATUS_PAGE_FILES: ReadonlyMap<string, StaticFile> = new Map([
  ["/", { type: "text/html; charset=utf-8", body: HTML }],
  ["/status.css", { type: "text/css; charset=utf-8", body: CSS }],
  ["/status.js", { type: "text/javascript; charset=utf-8", body: JS }],
  ["/favicon.svg", { type: "image/svg+xml", body: ICON }],
]);

/** Only the page's own files, no inline code, no other origin. */
export const STATUS_PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
