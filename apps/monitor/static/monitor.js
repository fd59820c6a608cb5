// A use case's monitoring page: asks /api/monitoring/<use case> and draws the live metric (inline SVG),
// the drift strip and table, the scoring lag and the label-efficiency curve. Plain JS, no build step, no
// libraries. Feature names and versions come from files, so they only ever go in through textContent /
// setAttribute. The data is asked again every minute: the files change while the page is open.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const REFRESH_MS = 60000;
  const COLORS = ["#1f5fbf", "#d9730d", "#2e9b4f", "#8e44ad", "#c0392b", "#16a2b8", "#7f6d00"];
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const useCase = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const isNum = (x) => typeof x === "number" && isFinite(x);
  function fmt(x, digits) {
    if (!isNum(x)) return "–";
    return x.toFixed(digits === undefined ? 3 : digits);
  }
  function fmtP(x) {
    if (!isNum(x)) return "–";
    return x !== 0 && x < 0.001 ? x.toExponential(1) : x.toFixed(3);
  }
  function group(n) {
    return isNum(n) ? String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",") : "–";
  }
  function when(iso) {
    return iso ? String(iso).replace("T", " ").replace(/(\+00:00|Z)$/, " UTC") : "–";
  }
  function withCi(m) {
    const ci = isNum(m.ci_low) && isNum(m.ci_high) ? " [" + fmt(m.ci_low) + ", " + fmt(m.ci_high) + "]" : "";
    return fmt(m.metric) + ci;
  }
  function row(cells) {
    const tr = el("tr");
    for (const [text, className] of cells) tr.appendChild(el("td", className || null, text));
    return tr;
  }
  function table(headers, rows, className) {
    const t = el("table", "grid" + (className ? " " + className : ""));
    const head = el("tr");
    for (const [text, cls] of headers) head.appendChild(el("th", cls || null, text));
    t.appendChild(el("thead")).appendChild(head);
    const tbody = t.appendChild(el("tbody"));
    for (const r of rows) tbody.appendChild(r);
    return t;
  }

  // Tick values at 1, 2 or 5 times a power of ten, about `count` of them across [lo, hi].
  function ticks(lo, hi, count) {
    const raw = (hi - lo) / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
    return out;
  }

  // x = cumulative labels, y = metric; per version a CI band, a line with dots, a dashed holdout line.
  function renderChart(quality) {
    const box = $("chart");
    const versions = quality.versions.map((v, i) => ({ ...v, color: COLORS[i % COLORS.length] }));
    const points = versions.flatMap((v) => v.per_100);
    if (!points.length) {
      box.replaceChildren(el("p", "none", "No labelled traffic scored yet: the live metric appears with the first audited labels."));
      $("legend").replaceChildren();
      return versions;
    }
    const W = 820, H = 330, L = 56, R = 24, T = 14, B = 44;
    const xs = points.map((p) => p.labels);
    const ys = points.flatMap((p) => [p.metric, p.ci_low, p.ci_high]).concat(versions.map((v) => v.holdout_metric)).filter(isNum);
    let [x0, x1] = [Math.min(0, ...xs), Math.max(...xs)];
    if (x1 === x0) x1 = x0 + 1;
    let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    const pad = (y1 - y0) * 0.08 || 0.05;
    y0 -= pad;
    y1 += pad;
    const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
    const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
    const chart = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img",
      "aria-label": "Live " + (quality.metric || "metric") + " by cumulative labels, per model version" });
    for (const y of ticks(y0, y1, 5)) {
      chart.appendChild(svg("line", { class: "grid-line", x1: L, x2: W - R, y1: sy(y), y2: sy(y) }));
      chart.appendChild(svg("text", { class: "tick", x: L - 6, y: sy(y) + 4, "text-anchor": "end" }, fmt(y, 2)));
    }
    for (const x of ticks(x0, x1, 6)) {
      chart.appendChild(svg("text", { class: "tick", x: sx(x), y: H - B + 16, "text-anchor": "middle" }, group(x)));
    }
    chart.appendChild(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
    chart.appendChild(svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
    chart.appendChild(svg("text", { class: "axis-title", x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle" }, "cumulative labels"));
    chart.appendChild(svg("text", { class: "axis-title", x: 14, y: (T + H - B) / 2, "text-anchor": "middle",
      transform: "rotate(-90 14 " + (T + H - B) / 2 + ")" }, quality.metric || "metric"));
    for (const v of versions) {
      const withBand = v.per_100.filter((p) => isNum(p.ci_low) && isNum(p.ci_high));
      if (withBand.length > 1) {
        const upper = withBand.map((p) => sx(p.labels) + "," + sy(p.ci_high));
        const lower = withBand.slice().reverse().map((p) => sx(p.labels) + "," + sy(p.ci_low));
        chart.appendChild(svg("polygon", { class: "band", "data-version": v.version, points: upper.concat(lower).join(" "),
          fill: v.color, "fill-opacity": 0.14, stroke: "none" }));
      }
      if (isNum(v.holdout_metric)) {
        chart.appendChild(svg("line", { class: "holdout", "data-version": v.version, x1: L, x2: W - R,
          y1: sy(v.holdout_metric), y2: sy(v.holdout_metric), stroke: v.color }));
        chart.appendChild(svg("text", { class: "holdout-label", x: W - R - 4, y: sy(v.holdout_metric) - 4, "text-anchor": "end",
          fill: v.color }, "v" + v.version + " holdout " + fmt(v.holdout_metric)));
      }
    }
    for (const v of versions) {
      if (!v.per_100.length) continue;
      chart.appendChild(svg("polyline", { class: "line", "data-version": v.version, stroke: v.color,
        points: v.per_100.map((p) => sx(p.labels) + "," + sy(p.metric)).join(" ") }));
      for (const p of v.per_100) {
        const dot = svg("circle", { class: "dot", cx: sx(p.labels), cy: sy(p.metric), r: 3, fill: v.color });
        dot.appendChild(svg("title", {}, "v" + v.version + " at " + group(p.labels) + " labels: " + withCi(p)));
        chart.appendChild(dot);
      }
    }
    box.replaceChildren(chart);
    $("legend").replaceChildren(...versions.map((v) => {
      const item = el("span", "legend-item");
      const swatch = item.appendChild(el("span", "swatch"));
      swatch.style.background = v.color;
      item.appendChild(document.createTextNode("v" + v.version + (v.per_100.length ? "" : " (no points yet)")));
      return item;
    }));
    return versions;
  }

  function renderVersions(versions) {
    const cards = versions.map((v) => {
      const card = el("div", "version");
      card.dataset.version = v.version;
      const title = card.appendChild(el("h3"));
      title.appendChild(el("span", "swatch")).style.background = v.color;
      title.appendChild(document.createTextNode("Version " + v.version));
      const flag = v.below_holdout ? ["below holdout", "below"] : ["at or above holdout", "ok"];
      const summary = row([[group(v.labels), "num"], [withCi(v), "num"], [fmt(v.holdout_metric), "num"], flag]);
      if (v.below_holdout) summary.classList.add("below");
      card.appendChild(table([["labels", "num"], ["metric [CI]", "num"], ["holdout", "num"], ["vs holdout"]], [summary], "summary"));
      if (v.daily.length) {
        const days = v.daily.map((d) => row([[d.day], [group(d.labels), "num"], [withCi(d), "num"]]));
        card.appendChild(table([["day"], ["labels", "num"], ["metric [CI]", "num"]], days, "daily"));
      }
      return card;
    });
    $("versions").replaceChildren(...cards);
  }

  function reportLink(batch, node) {
    if (batch.report) {
      node.setAttribute("href", "/files/" + encodeURIComponent(useCase) + "/drift/" + encodeURIComponent(batch.slot) + ".html");
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
    return node;
  }

  function renderDrift(drift) {
    const tbody = $("drift-table").querySelector("tbody");
    if (!drift.latest) {
      $("drift-strip").replaceChildren();
      $("drift-latest").replaceChildren(el("span", "none", "No scored batches yet."));
      $("drift-hint").textContent = "";
      $("drift-table").hidden = true;
      tbody.replaceChildren();
      return;
    }
    const latest = drift.latest;
    const drifted = drift.batches.filter((b) => b.drifted).length;
    $("drift-hint").textContent = "newest " + drift.batches.length + " of " + drift.batches_total + " batches, " + drifted + " drifted";
    const strip = [el("span", "edge", "older")];
    for (const b of drift.batches) {
      const cell = reportLink(b, el(b.report ? "a" : "span", "batch" + (b.drifted ? " drifted" : "") + (b.slot === latest.slot ? " latest" : "")));
      cell.dataset.slot = b.slot;
      cell.setAttribute("title", (b.partition || b.slot) + " · " + when(b.scored) + " · max PSI " + fmt(b.max_psi, 2) +
        (b.drifted ? " · drifted: " + b.drifted_features.join(", ") : " · no drift"));
      strip.push(cell);
    }
    strip.push(el("span", "edge", "newer"));
    $("drift-strip").replaceChildren(...strip);
    const text = ["Latest batch " + (latest.partition || latest.slot) + ", scored " + when(latest.scored) + ", model v" +
      (latest.model_version || "?") + ", " + group(latest.rows) + " rows, max PSI " + fmt(latest.max_psi, 2) + ": " +
      (latest.drifted ? "drifted (" + latest.drifted_features.join(", ") + ")" : "no drift") + ". "];
    const line = $("drift-latest");
    line.replaceChildren(document.createTextNode(text.join("")));
    if (latest.report) line.appendChild(reportLink(latest, el("a", null, "full report")));
    $("drift-table").hidden = false;
    tbody.replaceChildren(...latest.features.map((f) => {
      const tr = row([[f.feature, "feature"], [f.kind || "–"], [fmt(f.psi), "num"], [fmt(f.ks_statistic), "num"],
        [fmtP(f.p_value), "num"], [fmt(f.reference_mean, 2), "num"], [fmt(f.current_mean, 2), "num"],
        [group(f.current_rows), "num"], [f.drifted ? "yes" : "no", f.drifted ? "below" : ""]]);
      tr.dataset.feature = f.feature;
      if (f.drifted) tr.classList.add("drifted");
      return tr;
    }));
  }

  function renderLag(lag) {
    const box = $("lag-body");
    if (!lag) {
      $("lag-hint").textContent = "";
      box.replaceChildren(el("p", "none", "no data"));
      return;
    }
    $("lag-hint").textContent = "updated " + when(lag.updated_at);
    const dl = el("dl");
    for (const [id, label, value] of [
      ["lag-records", "records waiting", group(lag.lag_records)],
      ["lag-wait", "oldest waiting", isNum(lag.oldest_wait_seconds) ? fmt(lag.oldest_wait_seconds, 1) + " s" : "–"],
      ["lag-p95", "latency p95", isNum(lag.latency_p95_s) ? fmt(lag.latency_p95_s, 1) + " s" : "–"],
    ]) {
      const item = dl.appendChild(el("div"));
      item.appendChild(el("dt", null, label));
      const dd = item.appendChild(el("dd", null, value));
      dd.id = id;
    }
    box.replaceChildren(dl);
  }

  function renderEfficiency(eff) {
    const box = $("efficiency-body");
    const parts = [];
    if (eff.image) {
      const img = el("img");
      img.id = "le-img";
      img.setAttribute("alt", "label-efficiency curve: metric by number of labels, per strategy");
      img.setAttribute("src", eff.image);
      parts.push(img);
    }
    if (eff.rows.length) {
      const columns = eff.columns.length ? eff.columns : Object.keys(eff.rows[0]);
      const rows = eff.rows.map((r) => row(columns.map((c) => {
        const v = r[c];
        if (!isNum(v)) return [v === null || v === undefined ? "–" : v];
        return [/labels/.test(c) ? group(v) : fmt(v), "num"];
      })));
      const headers = columns.map((c) => [c.replace(/_/g, " "), c === "strategy" ? "" : "num"]);
      const t = table(headers, rows, "efficiency");
      t.id = "le-table";
      parts.push(el("p", "hint", "Each strategy's last point:"), t);
    }
    if (!parts.length) parts.push(el("p", "none", "No label-efficiency curve yet."));
    box.replaceChildren(...parts);
  }

  async function load() {
    try {
      const response = await fetch("/api/monitoring/" + encodeURIComponent(useCase), { headers: { Accept: "application/json" } });
      const data = await response.json().catch(() => ({ error: "the server answered " + response.status + " without JSON" }));
      if (!response.ok) throw new Error(data.error || "the server answered " + response.status);
      $("problems").replaceChildren(...data.problems.map((p) => el("li", null, p)));
      if (!data.ready) {
        $("message").textContent = data.message;
        $("message").className = "";
        body.dataset.state = "empty";
        return;
      }
      const q = data.quality;
      $("metric-name").textContent = q.metric || "metric";
      $("quality-hint").textContent = [q.basis ? "on " + q.basis + " labels" : "",
        isNum(q.audit_share) ? "audit share " + Math.round(q.audit_share * 100) + "%" : "",
        q.updated_at ? "updated " + when(q.updated_at) : ""].filter(Boolean).join(" · ");
      renderVersions(renderChart(q));
      renderDrift(data.drift);
      renderLag(data.lag);
      renderEfficiency(data.label_efficiency);
      $("summary").textContent = q.versions.length ? q.versions.length + " model version(s)" : "";
      $("message").textContent = "";
      body.dataset.state = "ready";
    } catch (err) {
      $("message").textContent = err.message;
      $("message").className = "error";
      body.dataset.state = "error";
    }
  }

  $("use-case").textContent = useCase;
  document.title = "Flywheel · Monitoring · " + useCase;
  load();
  setInterval(load, REFRESH_MS);
})();
