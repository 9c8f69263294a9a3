// Status page: loads one page of a table as JSON, then follows deltas over server-sent events.
"use strict";
(function () {
  const $ = (s) => document.querySelector(s);
  const token = new URLSearchParams(location.search).get("token");
  const PAGE = 100;
  let clockSkew = 0, source = null, view = null, state = {}, commandSeq = 0;

  function url(path, params) {
    const p = new URLSearchParams(params || {});
    if (token) p.set("token", token);
    const q = p.toString();
    return path + (q ? "?" + q : "");
  }
  function esc(v) {
    return String(v == null ? "" : v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }
  function badge(s) { return '<span class="badge ' + esc(s) + '">' + esc(s || "-") + "</span>"; }
  function now() { return Date.now() + clockSkew; }
  function age(ms) {
    if (!ms) return "never";
    const s = Math.max(0, Math.round((now() - ms) / 1000));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min";
    if (s < 86400) return Math.floor(s / 3600) + " h";
    return Math.floor(s / 86400) + " d";
  }
  function time(ms) { return ms ? new Date(ms).toISOString().replace("T", " ").replace("Z", "") : ""; }

  function header(h) {
    if (!h) return;
    clockSkew = h.now_ms - Date.now();
    $("#node").textContent = h.node;
    $("#facts").innerHTML =
      "<li>MQTT " + badge(h.mqtt_connected ? "online" : "offline") + "</li>" +
      "<li>queue <b>" + h.queue_depth + "</b></li><li>dropped <b>" + h.queue_dropped + "</b></li>" +
      "<li>published <b>" + h.published + "</b></li><li>points <b>" + h.points + "</b></li>";
    const box = $("#cluster-box");
    box.hidden = !h.cluster;
    if (h.cluster) {
      $("#cluster tbody").innerHTML = h.cluster.map((n) =>
        "<tr><td>" + esc(n.node) + (n.me ? " (this node)" : "") + "</td><td>" + badge(n.state) +
        "</td><td>" + esc(n.carries.join(", ")) + "</td><td>" + esc(n.standby.join(", ")) + "</td></tr>").join("");
    }
  }

  function rtuRow(r) {
    return '<tr data-rtu="' + esc(r.name) + '"><td><a href="#/rtu/' + encodeURIComponent(r.name) + '">' + esc(r.name) +
      '</a></td><td class="state">' + badge(r.state) + (r.reason ? ' <small>' + esc(r.reason) + "</small>" : "") +
      "</td><td>" + esc(r.address) + "</td><td>" + esc(r.owner) + (r.role ? " <small>" + esc(r.role) + "</small>" : "") +
      '</td><td class="num rate">' + r.rate + '</td><td class="age" data-ms="' + r.last_data_ms + '">' + age(r.last_data_ms) +
      '</td><td class="num">' + r.points + (r.bad ? ' <small class="badge error">' + r.bad + " bad</small>" : "") +
      "</td><td>" + esc(r.tls) + "</td></tr>";
  }
  function pointRow(p) {
    const key = p.ca + "/" + p.ioa;
    const cls = p.invalid ? "invalid" : p.stale ? "stale" : "";
    const v = typeof p.value === "number" && !Number.isInteger(p.value) ? p.value.toFixed(3) : p.value;
    return '<tr data-key="' + key + '" class="' + cls + '"><td>' + key + "</td><td>" + esc(p.name) + "</td><td>" + esc(p.type) +
      '</td><td class="num value">' + esc(v) + '</td><td class="quality">' + esc(p.quality.join(" ")) + "</td><td>" + esc(p.cause) +
      "</td><td>" + time(p.time_ms) + '</td><td class="age" data-ms="' + p.received_ms + '">' + age(p.received_ms) + "</td></tr>";
  }
  function commandRow(c) {
    return '<tr data-id="' + esc(c.id) + '"><td>' + time(c.at_ms) + "</td><td>" + esc(c.rtu) + "</td><td>" + esc(c.point) +
      "</td><td>" + esc(c.command) + "</td><td>" + esc(c.id) + '</td><td class="outcome">' + badge(c.outcome) +
      (c.detail ? " <small>" + esc(c.detail) + "</small>" : "") + "</td></tr>";
  }
  function upsert(tbody, attr, key, html) {
    const old = tbody.querySelector("tr[" + attr + '="' + CSS.escape(key) + '"]');
    if (!old) return;
    const t = document.createElement("tbody");
    t.innerHTML = html;
    const row = t.firstElementChild;
    row.classList.add("flash");
    old.replaceWith(row);
  }
  function commands(rows, replace) {
    rows.forEach((c) => (commandSeq = Math.max(commandSeq, c.seq)));
    const tb = $("#commands tbody");
    const html = rows.slice().reverse().map(commandRow).join("");
    tb.innerHTML = replace ? html : html + tb.innerHTML;
    while (tb.rows.length > 200) tb.deleteRow(-1);
  }
  function pager(el, total, page, go) {
    const pages = Math.max(1, Math.ceil(total / PAGE));
    el.innerHTML = '<button data-d="-1">&lsaquo;</button> page ' + (page + 1) + " of " + pages + ' <button data-d="1">&rsaquo;</button>';
    el.querySelectorAll("button").forEach((b) => (b.onclick = () => {
      const p = Math.min(pages - 1, Math.max(0, page + Number(b.dataset.d)));
      if (p !== page) go(p);
    }));
  }

  function follow(params, version) {
    if (source) source.close();
    source = new EventSource(url("api/events", Object.assign({ since: version, commands_after: commandSeq }, params)));
    source.onopen = () => { $("#live").textContent = "live"; $("#live").className = "badge on"; };
    source.onerror = () => { $("#live").textContent = "reconnecting"; $("#live").className = "badge off"; };
    source.addEventListener("delta", (e) => {
      const d = JSON.parse(e.data);
      header(d.header);
      d.rtus.forEach((r) => {
        upsert($("#rtus tbody"), "data-rtu", r.name, rtuRow(r));
        if (view === "rtu" && r.name === state.rtu) rtuFacts(r);
      });
      d.points.forEach((p) => upsert($("#points tbody"), "data-key", p.ca + "/" + p.ioa, pointRow(p)));
      if (d.commands.length) commands(d.commands, false);
      document.body.dataset.updates = Number(document.body.dataset.updates) + 1;
    });
  }

  async function get(path, params) {
    const r = await fetch(url(path, params));
    if (!r.ok) throw new Error(path + ": " + r.status + " " + (await r.text()));
    return r.json();
  }
  async function showOverview(page) {
    view = "overview";
    $("#overview").hidden = false; $("#rtu-page").hidden = true;
    const params = { q: $("#rtu-filter").value, page: page, size: PAGE };
    const d = await get("api/overview", params);
    header(d.header);
    $("#rtu-count").textContent = d.total + " shown";
    $("#rtus tbody").innerHTML = d.rtus.map(rtuRow).join("");
    pager($("#rtu-pager"), d.total, page, showOverview);
    follow(params, d.header.version);
  }
  function rtuFacts(r) {
    $("#rtu-state").className = "badge " + r.state;
    $("#rtu-state").textContent = r.state;
    $("#rtu-facts").innerHTML = "<li>address " + esc(r.address) + "</li><li>owner " + esc(r.owner) + " " + esc(r.role) +
      "</li><li>TLS " + esc(r.tls) + "</li><li>" + r.rate + " objects/s</li><li>last data " + age(r.last_data_ms) + "</li>";
  }
  async function showRtu(name, page) {
    view = "rtu"; state.rtu = name;
    $("#overview").hidden = true; $("#rtu-page").hidden = false;
    $("#rtu-name").textContent = name;
    const params = { q: $("#pt-filter").value, type: $("#pt-type").value, bad: $("#pt-bad").checked, page: page, size: PAGE };
    const d = await get("api/rtu/" + encodeURIComponent(name), params);
    header(d.header);
    rtuFacts(d.rtu);
    $("#pt-count").textContent = d.total + " points match";
    $("#points tbody").innerHTML = d.points.map(pointRow).join("");
    pager($("#pt-pager"), d.total, page, (p) => showRtu(name, p));
    follow(Object.assign({ rtu: name }, params), d.header.version);
  }
  function route() {
    const m = location.hash.match(/^#\/rtu\/(.+)$/);
    (m ? showRtu(decodeURIComponent(m[1]), 0) : showOverview(0)).catch((e) => {
      $("#live").textContent = e.message; $("#live").className = "badge off";
    });
  }
  let debounce = null;
  function refilter() { clearTimeout(debounce); debounce = setTimeout(route, 250); }
  ["#rtu-filter", "#pt-filter", "#pt-type"].forEach((s) => $(s).addEventListener("input", refilter));
  $("#pt-bad").addEventListener("change", route);
  window.addEventListener("hashchange", route);
  setInterval(() => document.querySelectorAll("td.age").forEach((td) => (td.textContent = age(Number(td.dataset.ms)))), 1000);
  get("api/commands").then((d) => commands(d.commands, true)).catch(() => {}).then(route);
})();
