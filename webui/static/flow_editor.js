// The IVR flow editor: palette, canvas (nodes + SVG connections), properties, toolbar,
// history and "try it". Plain ES2020, no libraries. Every text from the server or the
// user goes into the page with textContent (names, prompts and messages are untrusted).
"use strict";

(() => {
  const root = document.getElementById("flow-editor");
  if (!root) return;
  const T = JSON.parse(document.getElementById("flow-i18n").textContent);
  const t = (s) => T[s] || s;
  const outLabel = (o) => T["out:" + o] || o; // a menu key is its own label
  const flowId = Number(root.dataset.flowId);
  const csrf = root.dataset.csrf;
  const $ = (sel) => root.querySelector(sel);
  const canvas = $("#fe-canvas");
  const stage = $("#fe-stage"); // the nodes and connections, scaled by the zoom
  const svg = $("#fe-edges");
  const panel = $("#fe-props");
  const messages = $("#fe-messages");
  const NODE_W = 190;

  let catalog = null;
  let flowName = "";
  let graph = { start: "", nodes: [], edges: [] };
  let savedVersion = null;
  let selected = null; // {kind: "node"|"edge", id | edge}
  let problems = {};
  let zoom = 1;
  const ZOOM_MIN = 0.25, ZOOM_MAX = 2, ZOOM_STEP = 1.25, MARGIN = 24;

  // ---- helpers -------------------------------------------------------------------------
  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c) e.append(c);
    return e;
  }
  async function api(path, body) {
    const opts = body === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    };
    const r = await fetch(path, { credentials: "same-origin", ...opts });
    let data = null;
    try { data = await r.json(); } catch (e) { data = { error: r.statusText }; }
    return { status: r.status, data };
  }
  function say(text, kind = "info") {
    messages.replaceChildren(el("p", { class: "fe-" + kind, text }));
  }
  const node = (id) => graph.nodes.find((n) => n.id === id);
  function outputsOf(n) {
    const type = catalog.node_types[n.type];
    const fixed = type ? type.outputs : [];
    if (n.type === "menu") return [...(n.props.options || []), ...fixed];
    return fixed;
  }
  function newId(type) {
    let i = 1;
    while (node(type + i)) i++;
    return type + i;
  }
  function promptTitle(name) { // a library prompt by the name a person gave it, the id after
    const title = catalog && catalog.prompt_titles && catalog.prompt_titles[name];
    return title && title !== name ? title + " \u00b7 " + name : name;
  }
  function summary(n) {
    const p = n.props || {};
    const prompt = p.prompt && (typeof p.prompt === "string" ? promptTitle(p.prompt) : "\u201c" + (p.prompt.tts || "") + "\u201d");
    switch (n.type) {
      case "menu": return (prompt || "") + " [" + (p.options || []).join(" ") + "]";
      case "queue": return p.queue || "";
      case "voicemail": return p.mailbox || "";
      case "transfer": return p.number || "";
      case "goto": return p.flow || "";
      case "collect": return p.variable ? "\u2192 " + p.variable : "";
      case "set": return (p.variable || "") + " = " + (p.value || "");
      case "say": return (p.mode || "") + " " + (p.value || "");
      default: return prompt || "";
    }
  }

  // ---- drawing --------------------------------------------------------------------------
  function portPos(id, out) {
    const box = canvas.querySelector(`[data-node="${CSS.escape(id)}"]`);
    if (!box) return null;
    if (out === null) return { x: box.offsetLeft, y: box.offsetTop + 18 };
    const port = box.querySelector(`[data-out="${CSS.escape(out)}"]`);
    if (!port) return null;
    return { x: box.offsetLeft + NODE_W, y: box.offsetTop + port.offsetTop + port.offsetHeight / 2 };
  }
  function curve(a, b) {
    const dx = Math.max(40, Math.abs(b.x - a.x) / 2);
    return `M${a.x},${a.y} C${a.x + dx},${a.y} ${b.x - dx},${b.y} ${b.x},${b.y}`;
  }
  function drawEdges() {
    svg.replaceChildren();
    const size = sizeStage();
    svg.setAttribute("width", size.w);
    svg.setAttribute("height", size.h);
    for (const e of graph.edges) {
      const a = portPos(e.from, e.out), b = portPos(e.to, null);
      if (!a || !b) continue;
      const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
      path.setAttribute("d", curve(a, b));
      path.setAttribute("class", "fe-edge" + (selected && selected.edge === e ? " selected" : ""));
      path.dataset.from = e.from;
      path.dataset.out = e.out;
      path.addEventListener("mousedown", (ev) => { ev.stopPropagation(); select({ kind: "edge", edge: e }); });
      svg.append(path);
    }
  }
  function draw() {
    for (const box of canvas.querySelectorAll(".fe-node")) box.remove();
    for (const n of graph.nodes) {
      const type = catalog.node_types[n.type];
      const box = el("div", { class: "fe-node" + (n.id === graph.start ? " start" : "") +
        (selected && selected.id === n.id ? " selected" : "") + (problems[n.id] ? " problem" : ""),
        "data-node": n.id });
      box.style.left = (n.x || 0) + "px";
      box.style.top = (n.y || 0) + "px";
      const head = el("div", { class: "fe-head" },
        el("span", { class: "fe-type", text: t("type:" + n.type) }), el("span", { class: "fe-id", text: n.id }));
      box.append(el("span", { class: "fe-in", title: t("input") }), head,
        el("div", { class: "fe-sum", text: summary(n) }));
      for (const out of outputsOf(n)) {
        const port = el("div", { class: "fe-out", "data-out": out },
          el("span", { text: outLabel(out) }), el("span", { class: "fe-dot" }));
        port.addEventListener("mousedown", (ev) => startConnect(ev, n.id, out));
        box.append(port);
      }
      if (problems[n.id]) box.title = problems[n.id].join("\n");
      head.addEventListener("mousedown", (ev) => startMove(ev, n));
      box.addEventListener("mousedown", (ev) => { if (ev.target === box || ev.target.classList.contains("fe-sum")) select({ kind: "node", id: n.id }); });
      stage.append(box);
      if (!type) box.classList.add("problem");
    }
    drawEdges();
  }

  // ---- interactions ---------------------------------------------------------------------
  function canvasPoint(ev) { // in the flow's own units (the nodes' x and y), whatever the zoom
    const r = canvas.getBoundingClientRect();
    return { x: (ev.clientX - r.left + canvas.scrollLeft) / zoom, y: (ev.clientY - r.top + canvas.scrollTop) / zoom };
  }

  // ---- zoom: buttons, keys + - 0, and fit (every node inside the visible canvas) ---------------
  function extent() { // the right and bottom edges of the nodes, unscaled
    let w = 0, h = 0;
    for (const box of stage.querySelectorAll(".fe-node")) {
      w = Math.max(w, box.offsetLeft + box.offsetWidth);
      h = Math.max(h, box.offsetTop + box.offsetHeight);
    }
    return { w, h };
  }
  function sizeStage() { // the nodes plus a margin, and at least the visible canvas
    // the visible canvas rounded down: rounded up, the scaled stage could be a fraction of a
    // pixel wider than the canvas, and the scroll bar that brings takes height (and width) away
    const e = extent();
    const w = Math.max(Math.ceil(e.w + MARGIN), Math.floor(canvas.clientWidth / zoom));
    const h = Math.max(Math.ceil(e.h + MARGIN), Math.floor(canvas.clientHeight / zoom));
    stage.style.width = w + "px";
    stage.style.height = h + "px";
    return { w, h };
  }
  function setZoom(z, keepCentre = true) {
    z = Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, z));
    const cx = (canvas.scrollLeft + canvas.clientWidth / 2) / zoom;
    const cy = (canvas.scrollTop + canvas.clientHeight / 2) / zoom;
    zoom = Math.round(z * 1000) / 1000;
    stage.style.transform = zoom === 1 ? "" : `scale(${zoom})`;
    drawEdges();
    if (keepCentre) {
      canvas.scrollLeft = Math.max(0, cx * zoom - canvas.clientWidth / 2);
      canvas.scrollTop = Math.max(0, cy * zoom - canvas.clientHeight / 2);
    }
    $("#fe-zoom-level").textContent = Math.round(zoom * 100) + "%";
    root.dataset.zoom = String(zoom);
  }
  function fit() {
    const e = extent();
    if (!e.w || !e.h) return setZoom(1, false);
    // the stage keeps its margin: no scroll bar comes back to take width or height away (the
    // zoom rounded down to setZoom's 0.001: rounded up, the nodes could overflow by a pixel)
    const z = Math.min(1, canvas.clientWidth / (e.w + MARGIN), canvas.clientHeight / (e.h + MARGIN));
    setZoom(Math.floor(z * 1000) / 1000, false);
    canvas.scrollLeft = 0;
    canvas.scrollTop = 0;
  }
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || !root.dataset.ready) return;
    if (["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) return;
    const act = { "+": () => setZoom(zoom * ZOOM_STEP), "=": () => setZoom(zoom * ZOOM_STEP),
      "-": () => setZoom(zoom / ZOOM_STEP), "0": fit }[ev.key];
    if (!act) return;
    ev.preventDefault();
    act();
  });
  function drag(onMove, onUp) {
    const move = (ev) => onMove(ev);
    const up = (ev) => {
      document.removeEventListener("mousemove", move);
      document.removeEventListener("mouseup", up);
      onUp(ev);
    };
    document.addEventListener("mousemove", move);
    document.addEventListener("mouseup", up);
  }
  function startPalette(ev, type) {
    ev.preventDefault();
    const ghost = el("div", { class: "fe-ghost", text: t("type:" + type) });
    document.body.append(ghost);
    const place = (e) => { ghost.style.left = e.clientX + 4 + "px"; ghost.style.top = e.clientY + 4 + "px"; };
    place(ev);
    drag(place, (e) => {
      ghost.remove();
      const r = canvas.getBoundingClientRect();
      if (e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom) return;
      const p = canvasPoint(e);
      const n = { id: newId(type), type, x: Math.max(0, Math.round(p.x - NODE_W / 2)), y: Math.max(0, Math.round(p.y - 15)), props: defaults(type) };
      graph.nodes.push(n);
      if (!graph.start) graph.start = n.id;
      select({ kind: "node", id: n.id });
    });
  }
  function startMove(ev, n) {
    ev.preventDefault();
    ev.stopPropagation();
    select({ kind: "node", id: n.id });
    const start = canvasPoint(ev), x0 = n.x || 0, y0 = n.y || 0;
    const box = canvas.querySelector(`[data-node="${CSS.escape(n.id)}"]`);
    drag((e) => {
      const p = canvasPoint(e);
      n.x = Math.max(0, Math.round(x0 + p.x - start.x));
      n.y = Math.max(0, Math.round(y0 + p.y - start.y));
      box.style.left = n.x + "px";
      box.style.top = n.y + "px";
      drawEdges();
    }, () => {});
  }
  function startConnect(ev, from, out) {
    ev.preventDefault();
    ev.stopPropagation();
    const a = portPos(from, out);
    const line = document.createElementNS("http://www.w3.org/2000/svg", "path");
    line.setAttribute("class", "fe-edge drawing");
    svg.append(line);
    drag((e) => line.setAttribute("d", curve(a, canvasPoint(e))), (e) => {
      line.remove();
      const target = document.elementFromPoint(e.clientX, e.clientY);
      const box = target && target.closest(".fe-node");
      if (!box) return drawEdges();
      graph.edges = graph.edges.filter((x) => !(x.from === from && x.out === out));
      graph.edges.push({ from, out, to: box.dataset.node });
      draw();
    });
  }
  function select(what) {
    selected = what;
    draw();
    showProps();
  }
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "Delete" || !selected || ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) return;
    removeSelected();
  });
  function removeSelected() {
    if (!selected) return;
    if (selected.kind === "edge") graph.edges = graph.edges.filter((e) => e !== selected.edge);
    else {
      graph.nodes = graph.nodes.filter((n) => n.id !== selected.id);
      graph.edges = graph.edges.filter((e) => e.from !== selected.id && e.to !== selected.id);
      if (graph.start === selected.id) graph.start = graph.nodes.length ? graph.nodes[0].id : "";
    }
    select(null);
  }

  // ---- properties -----------------------------------------------------------------------
  const FIELDS = {
    play: [["prompt", "prompt"], ["barge_in", "bool", true]],
    menu: [["prompt", "prompt"], ["options", "keys"], ["timeout_s", "number", 5], ["retries", "number", 2],
      ["back", "bool", true], ["timeout_prompt", "prompt"], ["invalid_prompt", "prompt"]],
    collect: [["prompt", "prompt"], ["variable", "text"], ["min_digits", "number", 1], ["max_digits", "number", 32],
      ["pattern", "text"], ["timeout_s", "number", 5], ["retries", "number", 2], ["invalid_prompt", "prompt"], ["secret", "bool", false]],
    say: [["mode", ["digits", "number", "date"]], ["value", "text"]],
    lookup: [["source", ["customer", "record", "http"]], ["key", "text"], ["book", "text"], ["url", "text"], ["timeout_s", "number", 3], ["store", "text"]],
    condition: [["left", "text"], ["op", ["eq", "ne", "prefix", "contains", "regex", "lt", "gt", "empty", "not_empty"]], ["right", "text"]],
    time: [["timezone", "text"], ["open", "json"], ["holidays", "json"]],
    queue: [["queue", "queues"], ["priority", "number", 0]],
    voicemail: [["mailbox", "mailboxes"]],
    record: [["prompt", "prompt"], ["kind", ["message", "complaint"]], ["mailbox", "mailboxes"], ["callback_queue", "queues"], ["ticket", "bool", false], ["max_s", "number", 120], ["silence_s", "number", 3]],
    transfer: [["kind", ["extension", "external"]], ["number", "text"]],
    set: [["variable", "text"], ["value", "text"]],
    goto: [["flow", "flows"]],
    dnc: [["prompt", "prompt"]],
    hangup: [["prompt", "prompt"]],
  };
  function defaults(type) {
    const p = {};
    if (type === "menu") p.options = ["1"];
    if (type === "time") { p.timezone = "Asia/Shanghai"; p.open = [{ days: [0, 1, 2, 3, 4], from: "09:00", to: "18:00" }]; p.holidays = []; }
    for (const [name, kind] of FIELDS[type] || []) if (Array.isArray(kind)) p[name] = kind[0];
    return p;
  }
  function field(n, name, kind, fallback) {
    const p = n.props;
    const label = el("label", { text: t("prop:" + name) });
    const set = (v) => { if (v === "" || v === undefined) delete p[name]; else p[name] = v; draw(); };
    let input;
    if (Array.isArray(kind) || ["queues", "mailboxes", "flows"].includes(kind)) {
      const options = Array.isArray(kind) ? kind : ["", ...catalog[kind]];
      input = el("select", { name });
      for (const o of options) input.append(el("option", { value: o, text: Array.isArray(kind) ? t("opt:" + o) : o }));
      input.value = p[name] ?? "";
      input.addEventListener("change", () => set(input.value));
    } else if (kind === "bool") {
      input = el("input", { type: "checkbox", name });
      input.checked = p[name] ?? fallback;
      input.addEventListener("change", () => set(input.checked));
    } else if (kind === "number") {
      input = el("input", { type: "number", name, placeholder: String(fallback) });
      input.value = p[name] ?? "";
      input.addEventListener("input", () => set(input.value === "" ? "" : Number(input.value)));
    } else if (kind === "keys") {
      input = el("input", { name, placeholder: "1 2 3 0" });
      input.value = (p[name] || []).join(" ");
      input.addEventListener("change", () => set(input.value.split(/[\s,]+/).filter(Boolean)));
    } else if (kind === "json") {
      input = el("textarea", { name, rows: 3 });
      input.value = JSON.stringify(p[name] ?? []);
      input.addEventListener("change", () => { try { set(JSON.parse(input.value)); input.classList.remove("bad"); } catch (e) { input.classList.add("bad"); } });
    } else if (kind === "prompt") {
      return promptField(n, name, label);
    } else {
      input = el("input", { name });
      input.value = p[name] ?? "";
      input.addEventListener("change", () => set(input.value));
    }
    label.append(input);
    return label;
  }
  function promptField(n, name, label) {
    const p = n.props;
    const isTts = p[name] && typeof p[name] === "object";
    const choice = el("select", { name: name + "-kind" },
      el("option", { value: "library", text: t("library prompt") }), el("option", { value: "tts", text: t("text to speech") }));
    choice.value = isTts ? "tts" : "library";
    const lib = el("select", { name });
    for (const o of ["", ...catalog.prompts, ...catalog.system_prompts]) lib.append(el("option", { value: o, text: promptTitle(o) }));
    lib.value = !isTts && p[name] ? p[name] : "";
    const text = el("textarea", { name: name + "-tts", rows: 3 });
    text.value = isTts ? p[name].tts || "" : "";
    const lang = el("select", { name: name + "-lang" });
    for (const l of catalog.languages) lang.append(el("option", { value: l, text: t("lang:" + l) }));
    lang.value = isTts ? p[name].lang || "en" : "en";
    const update = () => {
      const tts = choice.value === "tts";
      lib.hidden = tts; text.hidden = !tts; lang.hidden = !tts;
      if (tts) { if (text.value) p[name] = { tts: text.value, lang: lang.value }; else delete p[name]; }
      else if (lib.value) p[name] = lib.value; else delete p[name];
      draw();
    };
    choice.addEventListener("change", update);
    lib.addEventListener("change", update);
    text.addEventListener("change", update);
    lang.addEventListener("change", update);
    lib.hidden = isTts; text.hidden = !isTts; lang.hidden = !isTts;
    label.append(choice, lib, text, lang);
    return label;
  }
  function showProps() {
    panel.replaceChildren();
    if (!selected) { panel.append(el("p", { class: "fe-hint", text: t("Select a node or a connection.") })); return; }
    if (selected.kind === "edge") {
      const e = selected.edge;
      panel.append(el("h3", { text: t("Connection") }), el("p", { text: `${e.from} (${outLabel(e.out)}) \u2192 ${e.to}` }),
        el("button", { type: "button", id: "fe-delete", text: t("Delete"), onclick: removeSelected }));
      return;
    }
    const n = node(selected.id);
    if (!n) return;
    panel.append(el("h3", { text: t("type:" + n.type) + " \u00b7 " + n.id }));
    const desc = catalog.node_types[n.type];
    if (desc) panel.append(el("p", { class: "fe-hint", text: desc.description }));
    for (const [name, kind, fallback] of FIELDS[n.type] || []) panel.append(field(n, name, kind, fallback));
    if (problems[n.id]) for (const m of problems[n.id]) panel.append(el("p", { class: "fe-error", text: m }));
    panel.append(
      el("button", { type: "button", id: "fe-start", text: t("Set as start"), onclick: () => { graph.start = n.id; draw(); } }),
      el("button", { type: "button", id: "fe-delete", text: t("Delete"), onclick: removeSelected }));
  }

  // ---- toolbar ----------------------------------------------------------------------------
  function showProblems(list) {
    problems = {};
    const ul = el("ul", { class: "fe-problems" });
    for (const p of list) {
      if (p.node) (problems[p.node] = problems[p.node] || []).push(p.message);
      ul.append(el("li", { text: (p.node ? p.node + ": " : "") + p.message }));
    }
    draw();
    messages.replaceChildren(el("p", { class: list.length ? "fe-error" : "fe-ok",
      text: list.length ? t("Problems found:") : t("No problems.") }), list.length ? ul : "");
  }
  async function save() {
    const r = await api("/api/ivr/save", { id: flowId, graph });
    if (r.status !== 200) { say(r.data.error, "error"); return null; }
    savedVersion = r.data.version;
    $("#fe-version").textContent = t("version") + " " + savedVersion;
    say(t("Saved as version") + " " + savedVersion, "ok");
    return savedVersion;
  }
  async function validate() {
    const r = await api("/api/ivr/validate", { graph, name: flowName });
    if (r.status === 200) showProblems(r.data.problems);
    else say(r.data.error, "error");
  }
  async function publish(version) {
    const v = version || await save();
    if (!v) return;
    const r = await api("/api/ivr/publish", { id: flowId, version: v });
    if (r.status === 200) { problems = {}; draw(); say(t("Published version") + " " + r.data.published, "ok"); }
    else if (r.status === 422) { showProblems(r.data.problems); messages.prepend(el("p", { class: "fe-error", text: r.data.error })); }
    else say(r.data.error, "error");
  }
  async function history() {
    const r = await api(`/api/ivr/history?id=${flowId}`);
    const list = el("ul", { class: "fe-history" });
    for (const h of r.data) {
      const li = el("li", { text: `v${h.version} \u00b7 ${h.author} \u00b7 ${h.created_at.slice(0, 16).replace("T", " ")} \u00b7 ${h.note}` });
      if (h.published) li.append(el("strong", { text: " \u2713 " + t("published") }));
      else li.append(el("button", { type: "button", text: t("Publish this version"), onclick: () => publish(h.version) }));
      list.append(li);
    }
    messages.replaceChildren(el("h3", { text: t("History") }), list);
  }

  // ---- try it -----------------------------------------------------------------------------
  const tryPanel = $("#fe-try");
  const transcript = $("#fe-transcript");
  let run = null;
  let waiting = null;
  function showRun(data) {
    run = data.ended ? null : data.run;
    waiting = data.waiting;
    for (const e of data.events) {
      const line = el("li", { class: "fe-ev-" + e.kind, text: e.text });
      if (e.prompt) {
        const audio = el("audio", { preload: "none", src: "/api/ivr/prompt?name=" + encodeURIComponent(e.prompt) });
        line.append(" ", el("button", { type: "button", class: "fe-listen", text: "\u25b6", onclick: () => audio.play() }), audio);
      }
      if (e.node) {
        for (const b of canvas.querySelectorAll(".fe-node.walking")) b.classList.remove("walking");
        const box = canvas.querySelector(`[data-node="${CSS.escape(e.node)}"]`);
        if (box) box.classList.add("walking");
      }
      transcript.append(line);
    }
    $("#fe-waiting").textContent = data.ended ? t("The call has ended.") : data.waiting === "digits" ? t("Type the digits, then #") : t("Press a key");
    transcript.scrollTop = transcript.scrollHeight;
  }
  async function tryStart() {
    tryPanel.hidden = false;
    transcript.replaceChildren();
    const r = await api("/api/ivr/try", { graph, name: flowName || "draft" });
    if (r.status !== 200) { say(r.data.error, "error"); return; }
    showRun(r.data);
  }
  async function tryInput(keys) {
    if (!run) return;
    const r = await api("/api/ivr/try_input", { run, input: keys });
    if (r.status === 200) showRun(r.data);
    else say(r.data.error, "error");
  }
  const typed = $("#fe-typed");
  for (const k of "123456789*0#") {
    $("#fe-keypad").append(el("button", { type: "button", "data-key": k, text: k, onclick: () => {
      if (waiting === "digit") tryInput(k);
      else if (k === "#") { const keys = typed.value + "#"; typed.value = ""; tryInput(keys); }
      else typed.value += k;
    } }));
  }
  $("#fe-noinput").addEventListener("click", () => tryInput(""));
  $("#fe-try-close").addEventListener("click", () => { tryPanel.hidden = true; run = null; });

  // ---- start --------------------------------------------------------------------------------
  async function load() {
    const [c, f] = await Promise.all([api("/api/ivr/catalog"), api(`/api/ivr/flow?id=${flowId}`)]);
    if (c.status !== 200 || f.status !== 200) { say((f.data || c.data).error || "error", "error"); return; }
    catalog = c.data;
    graph = f.data.graph && f.data.graph.nodes ? f.data.graph : { start: "", nodes: [], edges: [] };
    graph.edges = graph.edges || [];
    for (const n of graph.nodes) n.props = n.props || {};
    flowName = f.data.flow.name;
    savedVersion = f.data.version;
    $("#fe-version").textContent = t("version") + " " + savedVersion +
      (f.data.flow.published_version ? " \u00b7 " + t("published") + " v" + f.data.flow.published_version : "");
    const palette = $("#fe-palette");
    for (const [type, desc] of Object.entries(catalog.node_types)) {
      const item = el("div", { class: "fe-pal", "data-type": type, title: desc.description, text: t("type:" + type) });
      item.addEventListener("mousedown", (ev) => startPalette(ev, type));
      palette.append(item);
    }
    canvas.addEventListener("mousedown", (ev) => { if (ev.target === canvas || ev.target === stage || ev.target === svg) select(null); });
    $("#fe-zoom-in").addEventListener("click", () => setZoom(zoom * ZOOM_STEP));
    $("#fe-zoom-out").addEventListener("click", () => setZoom(zoom / ZOOM_STEP));
    $("#fe-fit").addEventListener("click", fit);
    window.addEventListener("resize", () => drawEdges());
    $("#fe-save").addEventListener("click", save);
    $("#fe-validate").addEventListener("click", validate);
    $("#fe-publish").addEventListener("click", () => publish());
    $("#fe-history").addEventListener("click", history);
    $("#fe-try-start").addEventListener("click", tryStart);
    draw();
    showProps();
    root.dataset.ready = "1";
  }
  load();
})();
