// The labelling page: shows the most uncertain queued sample and turns key presses into API calls.
// The champion's suggestion comes pre-selected (its probabilities beside the labels), so confirming
// it is one Enter; whether the label was the suggestion unchanged is decided and stored by the
// server, never claimed by this script. Plain JS, no build step. The token lives in sessionStorage
// (this tab only) and goes out as a Bearer header; the server checks it on every write, this script
// only carries it.
"use strict";

(function () {
  const body = document.body;
  const useCase = body.dataset.useCase;
  const labels = JSON.parse(body.dataset.labels || "[]");
  const multilabel = body.dataset.multilabel === "true";
  const api = "/api/" + encodeURIComponent(useCase);
  const KEYS = "1234567890";
  const $ = (id) => document.getElementById(id);

  let current = null; // the sample on screen
  let busy = false; // one write at a time, so a key press never lands on a sample not yet shown
  let chosen = new Set(); // the selection for the current sample (the suggestion until changed)
  let suggested = new Set(); // what the model suggested for it
  let probabilities = {}; // label -> the model's probability, for the current sample
  const made = []; // label ids made in this tab, for undo

  // A token passed once in the address (#token=..., or ?token=...) moves into sessionStorage and out of
  // the address bar and history. The #fragment form is never sent to the server, so never logged.
  const params = new URLSearchParams(location.search);
  const fragment = new URLSearchParams(location.hash.slice(1));
  const given = fragment.get("token") || params.get("token");
  if (given) {
    sessionStorage.setItem("flywheel-token", given);
    params.delete("token");
    const query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? "?" + query : ""));
  }
  $("token").value = sessionStorage.getItem("flywheel-token") || "";
  $("annotator").value = sessionStorage.getItem("flywheel-annotator") || "";

  function say(text, isError) {
    $("message").textContent = text;
    $("message").className = isError ? "error" : "";
  }

  function setState(state) {
    body.dataset.state = state;
  }

  function headers(json) {
    const h = { Authorization: "Bearer " + (sessionStorage.getItem("flywheel-token") || "") };
    if (json) h["Content-Type"] = "application/json";
    return h;
  }

  function showCounts(counts) {
    if (!counts) return;
    $("stored-count").textContent = counts.labels;
    $("queued-count").textContent = counts.queued;
  }

  async function call(path, options) {
    const response = await fetch(api + path, options);
    let data = {};
    try {
      data = await response.json();
    } catch (e) {
      data = { error: response.statusText };
    }
    if (response.status === 401) {
      setState("login");
      $("login-state").textContent = "token refused";
      $("login-state").className = "error";
      $("token").focus();
    }
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  }

  function post(path, payload) {
    return call(path, { method: "POST", headers: headers(true), body: JSON.stringify(payload) });
  }

  function renderSelection() {
    document.querySelectorAll("button.label").forEach((b) => {
      const label = b.dataset.label;
      b.classList.toggle("chosen", chosen.has(label));
      b.classList.toggle("suggested", suggested.has(label));
      b.setAttribute("aria-pressed", chosen.has(label) ? "true" : "false");
      const p = probabilities[label];
      b.querySelector(".proba").textContent = typeof p === "number" ? " " + p.toFixed(2) : "";
    });
  }

  // The suggestion's labels (multi-label: a list, possibly empty) as a set; none → empty set.
  function suggestionOf(item) {
    const s = item && item.suggestion;
    if (!s || s.prediction === null || s.prediction === undefined) return new Set();
    return new Set(Array.isArray(s.prediction) ? s.prediction : [s.prediction]);
  }

  async function loadNext() {
    const data = await call("/queue?limit=1", { headers: headers(false) });
    showCounts(data.counts);
    current = data.items[0] || null;
    suggested = suggestionOf(current);
    chosen = new Set(suggested);
    probabilities = (current && current.suggestion && current.suggestion.probabilities) || {};
    renderSelection();
    const box = $("sample");
    if (!current) {
      box.dataset.sampleId = "";
      box.innerHTML = '<p class="empty">The queue is empty.</p>';
      $("sample-meta").textContent = "";
      setState("empty");
      return;
    }
    box.dataset.sampleId = current.sample_id;
    box.innerHTML = current.html; // rendered and escaped by the server (render.py)
    const why = current.strategy ? " · " + current.strategy : "";
    const by = current.suggestion && current.model_version ? " · suggested by model v" + current.model_version : "";
    $("sample-meta").textContent =
      "sample " + current.sample_id + " · uncertainty " + Number(current.score).toFixed(3) + why + by;
    setState("ready");
  }

  // Runs one write at a time, then shows the next sample; errors are shown, never swallowed.
  async function act(work) {
    if (busy) return;
    busy = true;
    setState("busy");
    try {
      await work();
      await loadNext();
    } catch (err) {
      say(err.message, true);
      if (body.dataset.state === "busy") setState(current ? "ready" : "empty");
    } finally {
      busy = false;
    }
  }

  function annotatorName() {
    return sessionStorage.getItem("flywheel-annotator") || "anonymous";
  }

  function submit(label) {
    if (!current) return;
    const sample = current.sample_id;
    act(async () => {
      const data = await post("/labels", { sample_id: sample, label: label, annotator: annotatorName() });
      made.push(data.label_id);
      $("session-count").textContent = made.length;
      showCounts(data.counts);
      const confirmed = data.accepted_suggestion === true ? " (suggestion confirmed)" : "";
      say("labelled " + sample + " as " + (Array.isArray(label) ? label.join(", ") || "(none)" : label) + confirmed);
    });
  }

  function choose(label) {
    if (!multilabel) return submit(label);
    if (chosen.has(label)) chosen.delete(label);
    else chosen.add(label);
    renderSelection();
  }

  // Enter: multi-label submits the checked set; single-label confirms the pre-selected suggestion.
  function confirmSelection() {
    if (multilabel) return submit(labels.filter((l) => chosen.has(l)));
    const only = labels.filter((l) => chosen.has(l));
    if (only.length === 1) submit(only[0]);
  }

  function skip() {
    if (!current) return;
    const sample = current.sample_id;
    act(async () => {
      const data = await post("/skip", { sample_id: sample });
      showCounts(data.counts);
      say("skipped " + sample);
    });
  }

  function undo() {
    if (!made.length) return say("nothing to undo in this session", true);
    const labelId = made[made.length - 1];
    act(async () => {
      const data = await post("/undo", { label_id: labelId });
      made.pop();
      $("session-count").textContent = made.length;
      showCounts(data.counts);
      say(undoneMessage(data));
    });
  }

  // After an undo the sample keeps its earlier label, if it had one (the server decides which:
  // the newest not undone, as training reads it), or is back in the queue.
  function undoneMessage(data) {
    const active = data.active_label;
    if (!active) return "undid the label on " + data.sample_id + "; it is back in the queue";
    const label = Array.isArray(active.label) ? active.label.join(", ") || "(none)" : active.label;
    return "undid your label on " + data.sample_id + "; it keeps its earlier label " + label + " (by " + active.annotator + ")";
  }

  document.addEventListener("keydown", (event) => {
    const tag = (event.target.tagName || "").toLowerCase();
    if (["input", "textarea", "select"].includes(tag) || event.ctrlKey || event.metaKey || event.altKey) return;
    if (body.dataset.state === "login") return;
    const index = KEYS.indexOf(event.key);
    if (index >= 0 && index < labels.length) choose(labels[index]);
    else if (event.key === "s") skip();
    else if (event.key === "u") undo();
    else if (event.key === "Enter" && (multilabel || chosen.size)) confirmSelection();
    else return;
    event.preventDefault();
  });

  document.querySelectorAll("button.label").forEach((b) => b.addEventListener("click", () => choose(b.dataset.label)));
  $("skip").addEventListener("click", skip);
  $("undo").addEventListener("click", undo);
  if ($("submit")) $("submit").addEventListener("click", () => submit(labels.filter((l) => chosen.has(l))));

  async function login() {
    sessionStorage.setItem("flywheel-token", $("token").value.trim());
    sessionStorage.setItem("flywheel-annotator", $("annotator").value.trim());
    try {
      await fetch("/api/auth", { headers: headers(false) }).then((r) => {
        if (!r.ok) throw new Error("token refused");
      });
      $("login-state").textContent = "signed in as " + annotatorName();
      $("login-state").className = "";
      document.activeElement.blur();
      await loadNext();
    } catch (err) {
      setState("login");
      $("login-state").textContent = err.message;
      $("login-state").className = "error";
    }
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    login();
  });

  async function sendFile(form, path, method) {
    const data = new FormData(form);
    if (form.elements.multilabel) data.set("multilabel", form.elements.multilabel.checked ? "true" : "false");
    data.set("annotator", annotatorName());
    const response = await fetch(api + path, { method: method, headers: headers(false), body: data });
    const result = await response.json();
    $("upload-report").textContent = JSON.stringify(result, null, 2);
    return response.ok;
  }

  $("upload-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (await sendFile(event.target, "/upload", "POST")) loadNext().catch((err) => say(err.message, true));
  });
  $("labelset-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (await sendFile(event.target, "/labelset", "PUT")) location.reload();
  });

  if (sessionStorage.getItem("flywheel-token")) login();
})();
