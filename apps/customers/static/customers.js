"use strict";
// The customer-service page: every value from the API is inserted as text (textContent), never HTML.
(function () {
  const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";

  async function api(path) {
    const headers = token ? { Authorization: "Bearer " + token } : {};
    const response = await fetch(path, { headers: headers, cache: "no-store" });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }
  function say(text) { $("message").textContent = text || ""; }
  function pct(p) { return p == null ? "–" : (100 * p).toFixed(1) + " %"; }
  function band(p) { return p >= 0.6 ? "high" : p >= 0.3 ? "medium" : "low"; }
  function day(ms) { return ms ? new Date(ms).toISOString().slice(0, 10) : "–"; }

  function row(body, values, userId) {
    const tr = document.createElement("tr");
    for (const v of values) { const td = document.createElement("td"); td.textContent = v; tr.appendChild(td); }
    tr.dataset.user = userId;
    tr.addEventListener("click", () => show(userId));
    body.appendChild(tr);
  }
  function fill(dl, pairs) {
    dl.replaceChildren();
    for (const [k, v] of pairs) {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = v == null || v === "" ? "–" : String(v);
      dl.append(dt, dd);
    }
  }

  function plot(container, days) {
    container.replaceChildren();
    if (!days.length) { container.textContent = "no activity"; return; }
    const W = 900, H = 220, L = 40, B = 30, T = 10;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`); svg.setAttribute("width", "100%"); svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "daily activity");
    const t0 = Date.parse(days[0].day), t1 = Date.parse(days[days.length - 1].day);
    const span = Math.max(t1 - t0, 86400000);
    const top = Math.max(...days.map((d) => d.events), 1);
    const x = (d) => L + ((Date.parse(d) - t0) / span) * (W - L - 20);
    const y = (v) => H - B - (v / top) * (H - B - T);
    const bw = Math.max(2, ((W - L - 20) * 86400000) / span - 2);
    const add = (name, attrs, text) => {
      const el = document.createElementNS(SVG, name);
      for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
      if (text != null) el.textContent = text;
      svg.appendChild(el); return el;
    };
    add("line", { x1: L, y1: H - B, x2: W - 10, y2: H - B, stroke: "#889" });
    add("text", { x: 4, y: T + 10, "font-size": 11, fill: "#667" }, String(top));
    add("text", { x: 4, y: H - B, "font-size": 11, fill: "#667" }, "0");
    for (const d of days) {
      add("rect", { x: x(d.day), y: y(d.events), width: bw, height: H - B - y(d.events), fill: "#9db4e8",
        class: "bar-events" }).appendChild(document.createElementNS(SVG, "title")).textContent = `${d.day}: ${d.events} events`;
      add("rect", { x: x(d.day), y: y(d.songs), width: bw, height: H - B - y(d.songs), fill: "#2f5fc4", class: "bar-songs" });
    }
    add("text", { x: L, y: H - 8, "font-size": 11, fill: "#667" }, days[0].day);
    add("text", { x: W - 90, y: H - 8, "font-size": 11, fill: "#667" }, days[days.length - 1].day);
    add("text", { x: W - 220, y: T + 10, "font-size": 11, fill: "#2f5fc4" }, "■ songs  ");
    add("text", { x: W - 150, y: T + 10, "font-size": 11, fill: "#9db4e8" }, "■ all events");
    container.appendChild(svg);
  }

  async function show(userId) {
    say("");
    try {
      const { customer: c, activity } = await api("/api/customers/" + encodeURIComponent(userId));
      $("customer").hidden = false;
      $("c-name").textContent = `${c.name || "(no name)"} · user ${c.user_id}` + (c.cancelled ? " · cancelled" : "");
      fill($("c-profile"), [["level", c.level], ["registered", day(c.registration)], ["location", c.location],
        ["state", c.state], ["device", c.os], ["gender", c.gender], ["first seen", day(c.first_ts)], ["last seen", day(c.last_ts)]]);
      fill($("c-counts"), [["events", c.events], ["sessions", c.sessions], ["songs", c.songs], ["thumbs up", c.thumbs_up],
        ["thumbs down", c.thumbs_down], ["adverts", c.adverts], ["errors", c.errors], ["playlist adds", c.add_playlist],
        ["friends added", c.add_friend]]);
      const risk = $("c-risk");
      risk.textContent = pct(c.churn_probability); risk.className = "risk " + band(c.churn_probability || 0);
      $("c-model").textContent = `model v${c.model_version}, as of ${day(c.last_ts)}`;
      const drivers = $("c-drivers"); drivers.replaceChildren();
      for (const d of c.risk_drivers) {
        const li = document.createElement("li"); li.textContent = `${d.feature} = ${d.value}`; drivers.appendChild(li);
      }
      if (!c.risk_drivers.length) drivers.textContent = "nothing above the usual";
      plot($("c-plot"), activity);
    } catch (e) { say(e.message); }
  }

  async function search(event) {
    event.preventDefault();
    const q = $("q").value.trim();
    if (!q) return;
    try {
      const { customers } = await api("/api/search?q=" + encodeURIComponent(q));
      const body = $("results-body"); body.replaceChildren();
      $("results").hidden = false;
      for (const c of customers) row(body, [c.user_id, c.name, c.level, c.state, pct(c.churn_probability)], c.user_id);
      if (customers.length === 1) show(customers[0].user_id);
      say(customers.length ? "" : `no customer matches "${q}"`);
    } catch (e) { say(e.message); }
  }

  async function riskList(event) {
    if (event) event.preventDefault();
    const params = new URLSearchParams({ min_risk: $("f-min").value || "0", max_risk: $("f-max").value || "1" });
    if ($("f-level").value) params.set("level", $("f-level").value);
    if ($("f-state").value) params.set("state", $("f-state").value);
    try {
      const { customers, states } = await api("/api/at-risk?" + params.toString());
      const select = $("f-state");
      if (select.options.length === 1) for (const s of states) { const o = document.createElement("option"); o.textContent = s; select.appendChild(o); }
      const body = $("risk-body"); body.replaceChildren();
      for (const c of customers) row(body, [c.user_id, c.name, c.level, c.state, pct(c.churn_probability), c.songs], c.user_id);
    } catch (e) { say(e.message); }
  }

  $("search-form").addEventListener("submit", search);
  $("filters").addEventListener("submit", riskList);
  riskList();
})();
