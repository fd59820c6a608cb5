// The AI-tweets dashboard: reads the filters, asks /api/tweets and /api/domains, draws the table and an
// inline-SVG bar chart. Plain JS, no build step, no libraries. Tweet texts and URLs come from strangers,
// so they only ever go in through textContent / setAttribute, and only http(s) URLs become links.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const DEFAULT_MIN = "0.5";
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  let generation = 0; // answers to an older filter are dropped when a newer request is under way
  let timer = null;

  function say(text, isError) {
    $("message").textContent = text || "";
    $("message").className = isError ? "error" : "";
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // The filters as a query string; the same string goes in the address bar, so a view can be shared.
  function query() {
    const params = new URLSearchParams();
    params.set("min_probability", $("min-prob").value.trim());
    if ($("since").value) params.set("since", $("since").value);
    if ($("until").value) params.set("until", $("until").value);
    return params;
  }

  function fromAddress() {
    const params = new URLSearchParams(location.search);
    const min = params.get("min_probability");
    if (min !== null && min !== "") {
      $("min-prob").value = min;
      $("min-prob-range").value = min;
    }
    $("since").value = params.get("since") || "";
    $("until").value = params.get("until") || "";
  }

  async function getJSON(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" } });
    let data = {};
    try {
      data = await response.json();
    } catch (e) {
      throw new Error("the server answered " + response.status + " without JSON");
    }
    if (!response.ok) throw new Error(data.error || "the server answered " + response.status);
    return data;
  }

  function safeHref(url) {
    try {
      const parsed = new URL(url);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  function linkCell(links) {
    const cell = el("td", "links");
    for (const link of links) {
      const href = safeHref(link.url);
      if (href) {
        const a = el("a", null, link.url);
        a.setAttribute("href", href);
        a.setAttribute("target", "_blank");
        a.setAttribute("rel", "noopener noreferrer");
        if (link.domain) a.setAttribute("title", link.domain);
        cell.appendChild(a);
      } else {
        cell.appendChild(el("span", "unsafe", link.url)); // shown, never followed
      }
    }
    return cell;
  }

  function renderTweets(data) {
    const tbody = $("tweets").querySelector("tbody");
    const rows = data.tweets.map((t) => {
      const tr = el("tr");
      tr.dataset.id = t.id;
      tr.appendChild(el("td", "date", t.created_at.replace("T", " ").replace("Z", "")));
      tr.appendChild(el("td", "user", t.user ? "@" + t.user : ""));
      tr.appendChild(el("td", "text", t.text));
      const prob = el("td", "num");
      const bar = el("span", "prob-bar");
      bar.style.width = Math.round(t.probability_ai * 40) + "px";
      prob.appendChild(bar);
      prob.appendChild(document.createTextNode(t.probability_ai.toFixed(2)));
      prob.title = "model " + (t.model_version || "?") + (t.prediction ? ", predicted AI" : "");
      tr.appendChild(prob);
      tr.appendChild(linkCell(t.links));
      return tr;
    });
    tbody.replaceChildren(...rows);
    $("shown").textContent =
      data.count === data.returned
        ? data.count + " tweet" + (data.count === 1 ? "" : "s")
        : "newest " + data.returned + " of " + data.count;
    const range = data.range.first ? " · " + data.range.first + " to " + data.range.last : "";
    $("summary").textContent = data.scored + " scored tweets" + range;
    if (data.range.first) {
      for (const id of ["since", "until"]) {
        $(id).min = data.range.first;
        $(id).max = data.range.last;
      }
    }
  }

  // A horizontal bar per domain: name on the left, bar scaled to the largest count, count at its end.
  function renderChart(data) {
    const box = $("chart");
    if (!data.domains.length) {
      box.replaceChildren(el("p", "none", "No links to other sites among these tweets."));
      return;
    }
    const width = 760;
    const labelWidth = 220;
    const valueWidth = 48;
    const row = 26;
    const barHeight = 18;
    const height = data.domains.length * row + 4;
    const max = Math.max(...data.domains.map((d) => d.tweets));
    const scale = (width - labelWidth - valueWidth) / max;
    const chart = svg("svg", {
      viewBox: "0 0 " + width + " " + height,
      width: width,
      height: height,
      role: "img",
      "aria-label": "Top domains by number of AI tweets linking to them",
    });
    data.domains.forEach((d, i) => {
      const y = i * row + 2;
      const name = d.domain.length > 32 ? d.domain.slice(0, 31) + "…" : d.domain;
      chart.appendChild(svg("text", { class: "label", x: labelWidth - 8, y: y + barHeight - 5, "text-anchor": "end" }, name));
      const bar = svg("rect", {
        class: "bar",
        x: labelWidth,
        y: y,
        width: Math.max(2, d.tweets * scale),
        height: barHeight,
        rx: 2,
        "data-domain": d.domain,
        "data-tweets": d.tweets,
      });
      bar.appendChild(svg("title", {}, d.domain + ": " + d.tweets + " tweet(s), " + d.links + " link(s)"));
      chart.appendChild(bar);
      chart.appendChild(svg("text", { class: "value", x: labelWidth + d.tweets * scale + 6, y: y + barHeight - 5 }, String(d.tweets)));
    });
    box.replaceChildren(chart);
  }

  async function load() {
    const mine = ++generation;
    const min = Number($("min-prob").value);
    if ($("min-prob").value.trim() === "" || !(min >= 0 && min <= 1)) {
      say("The minimum probability must be a number between 0 and 1.", true);
      return;
    }
    const params = query();
    history.replaceState(null, "", location.pathname + "?" + params.toString());
    body.dataset.state = "loading";
    try {
      const [tweets, domains] = await Promise.all([
        getJSON("/api/tweets?" + params.toString()),
        getJSON("/api/domains?" + params.toString()),
      ]);
      if (mine !== generation) return;
      if (!tweets.ready) {
        say(tweets.message);
        $("summary").textContent = "";
        body.dataset.state = "empty";
        return;
      }
      renderTweets(tweets);
      renderChart(domains);
      say(tweets.count ? tweets.message : "No tweets match these filters.");
      body.dataset.state = "ready";
    } catch (err) {
      if (mine !== generation) return;
      say(err.message, true);
      body.dataset.state = "error";
    }
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(load, 150); // a dragged slider asks once it rests, not at every step
  }

  $("min-prob-range").addEventListener("input", () => {
    $("min-prob").value = $("min-prob-range").value;
    soon();
  });
  $("min-prob").addEventListener("input", () => {
    const value = Number($("min-prob").value);
    if ($("min-prob").value.trim() !== "" && value >= 0 && value <= 1) $("min-prob-range").value = String(value);
    soon();
  });
  for (const id of ["since", "until"]) $(id).addEventListener("change", soon);
  $("reset").addEventListener("click", () => {
    $("min-prob").value = DEFAULT_MIN;
    $("min-prob-range").value = DEFAULT_MIN;
    $("since").value = "";
    $("until").value = "";
    load();
  });
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });

  fromAddress();
  load();
})();
