/*
 * The desk's side of co-browsing (webui/cobrowse/):
 *
 * - the supervisor's live view: the desk listens on /chat-desk/api/cobrowse/desk; when a
 *   supervisor watches, a banner says who (for as long as it lasts) and the desk records
 *   its own page with rrweb's recorder (loaded then, from /vendor), inputs masked the
 *   same way as a visitor's page (password fields always, also one whose type changed;
 *   .ccbox-mask / data-ccbox-mask always; the rest unless the box says mask_inputs is
 *   off), posting batches every 250 ms to /chat-desk/api/cobrowse/desk_events;
 * - the Co-browse button asks the customer of the selected chat (the desk chat's tab with
 *   aria-selected) and opens the viewer window; the code button makes a caller's code, and
 *   when the caller joins with it the desk offers a link to the viewer.
 */
(function () {
  "use strict";
  var panel = document.getElementById("desk-cobrowse");
  if (!panel) return;
  var S = JSON.parse(document.getElementById("cobrowse-desk-strings").textContent || "{}");
  var csrf = panel.dataset.csrf;
  var banner = document.getElementById("desk-watched");
  var msg = document.getElementById("cobrowse-desk-msg");
  var FLUSH_MS = 250;
  var MAX_POST = 256 * 1024;
  var MAX_SNAPSHOT_POST = 4 * 1024 * 1024;

  var watches = {}; // session id -> {by, config}
  var stopRecording = null;
  var queue = [];
  var timer = null;
  var maskInputs = true;
  var passwords = typeof WeakSet === "function" ? new WeakSet() : null;

  function fmt(text, params) {
    text = String(text || "");
    Object.keys(params || {}).forEach(function (k) {
      text = text.split("{" + k + "}").join(String(params[k]));
    });
    return text;
  }
  function say(text) {
    msg.textContent = text || "";
  }
  function post(path, body) {
    return ccboxPage.result(fetch("/chat-desk/api/cobrowse/" + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: typeof body === "string" ? body : JSON.stringify(body || {}),
    }));
  }
  function failed(res) {
    say(fmt(S.failed, { reason: (res.data && res.data.error) || String(res.status || "") }));
  }

  // ---- the banner ------------------------------------------------------------------------
  function showBanner() {
    var names = Object.keys(watches).map(function (k) {
      return watches[k].by;
    });
    banner.hidden = names.length === 0;
    banner.textContent = names.length ? fmt(S.watched, { name: names.join(", ") }) : "";
    document.body.classList.toggle("desk-is-watched", names.length > 0);
  }

  // ---- masking (as the visitor's page) ------------------------------------------------------
  function isPassword(node) {
    if (!node || node.nodeType !== 1) return false;
    if (passwords && passwords.has(node)) return true;
    var type = String(node.getAttribute("type") || node.type || "").toLowerCase();
    var auto = String(node.getAttribute("autocomplete") || "").toLowerCase();
    if (type === "password" || auto.indexOf("password") >= 0) {
      if (passwords) passwords.add(node);
      return true;
    }
    return false;
  }
  var BUTTONS = ["submit", "button", "reset", "image"];
  function fieldType(node) {
    return node && node.tagName === "INPUT" ? String(node.type || "").toLowerCase() : "";
  }
  function maskInputFn(text, node) {
    // every field's value (maskInputOptions by tag): a hidden one (the desk's CSRF token)
    // blank always, a button's label kept
    if (isPassword(node) || fieldType(node) === "hidden") return "";
    if (node && node.closest && node.closest(".ccbox-mask,[data-ccbox-mask]")) return "";
    if (BUTTONS.indexOf(fieldType(node)) >= 0) return text;
    if (!maskInputs) return text;
    return "*".repeat(Math.min(String(text || "").length, 64));
  }

  // ---- recording -------------------------------------------------------------------------
  function loadRecorder() {
    if (window.rrwebRecord && window.rrwebRecord.record) return Promise.resolve();
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = panel.dataset.recorder;
      s.onload = function () {
        if (window.rrwebRecord && window.rrwebRecord.record) resolve();
        else reject(new Error("no recorder"));
      };
      s.onerror = reject;
      document.head.appendChild(s);
    });
  }
  function startRecording() {
    if (stopRecording) {
      snapshot();
      return;
    }
    Array.prototype.forEach.call(document.querySelectorAll("input[type=password]"), isPassword);
    loadRecorder().then(
      function () {
        if (stopRecording || !Object.keys(watches).length) return;
        stopRecording = window.rrwebRecord.record({
          emit: enqueue,
          // every field by its tag: maskAllInputs lists types, and lets a hidden or a file
          // input's value (a token, a file's name) out as it is
          maskAllInputs: false,
          maskInputOptions: { input: true, textarea: true, select: true, password: true },
          maskInputFn: maskInputFn,
          maskTextClass: "ccbox-mask",
          maskTextSelector: "[data-ccbox-mask], [data-ccbox-mask] *, .ccbox-mask *",
          recordCanvas: false,
          collectFonts: false,
          sampling: { mousemove: 50, scroll: 150 },
        });
      },
      function () {
        say(fmt(S.failed, { reason: "rrweb" }));
      }
    );
  }
  function stopIfAlone() {
    if (Object.keys(watches).length || !stopRecording) return;
    try {
      stopRecording();
    } catch (e) {
      /* already stopped */
    }
    stopRecording = null;
    queue = [];
  }
  function snapshot() {
    var record = window.rrwebRecord && window.rrwebRecord.record;
    if (stopRecording && record) record.takeFullSnapshot(true);
  }
  function enqueue(event) {
    if (event && event.type === 4) queue = [];
    queue.push({ event: event, size: JSON.stringify(event).length });
    if (!timer) timer = setTimeout(flush, FLUSH_MS);
  }
  function nextBatch() {
    var full = queue[0].event.type === 4;
    var batch = [];
    var bytes = 2;
    while (queue.length) {
      var item = queue[0];
      if (full && batch.length && batch[batch.length - 1].type === 2) break;
      if (!full && batch.length && bytes + item.size + 1 > MAX_POST) break;
      batch.push(item.event);
      bytes += item.size + 1;
      queue.shift();
    }
    return { events: batch, bytes: bytes, full: full, limit: full ? MAX_SNAPSHOT_POST : MAX_POST };
  }
  function flush() {
    timer = null;
    if (!queue.length) return;
    var batch = nextBatch();
    if (batch.bytes > batch.limit) {
      // a change over the cap: a full snapshot instead (a page over its cap: skipped)
      if (!batch.full) snapshot();
      return;
    }
    var body = JSON.stringify(batch.events);
    Object.keys(watches).forEach(function (sid) {
      post("desk_events?session=" + encodeURIComponent(sid), body).then(function (res) {
        // ended: the watch ended while this batch was on its way (its stop notice follows)
        if (res.status === 403 || res.status === 409 || (res.ok && res.data && res.data.ended)) {
          delete watches[sid];
          showBanner();
          stopIfAlone();
        }
      });
    });
    if (queue.length) timer = setTimeout(flush, FLUSH_MS);
  }

  // ---- the desk's co-browsing stream ------------------------------------------------------
  function control(ev) {
    if (!ev || typeof ev.type !== "string") return;
    switch (ev.type) {
      case "cobrowse.watch":
        watches[ev.session] = { by: String(ev.by || "") };
        maskInputs = ev.mask_inputs !== false;
        showBanner();
        startRecording();
        break;
      case "cobrowse.snapshot":
        if (watches[ev.session]) snapshot();
        break;
      case "cobrowse.stop":
        if (watches[ev.session]) {
          delete watches[ev.session];
          showBanner();
          stopIfAlone();
        }
        break;
      case "cobrowse.joined":
        offerViewer(ev.session);
        say(S.joined);
        break;
      default:
        break;
    }
  }
  var stream = null;
  function connect() {
    if (typeof EventSource !== "function") return;
    stream = new EventSource("/chat-desk/api/cobrowse/desk");
    stream.onmessage = function (m) {
      try {
        control(JSON.parse(m.data));
      } catch (e) {
        /* a frame we cannot read */
      }
    };
    stream.onerror = function () {
      // the browser reconnects; a reconnect gets the running watches again
      watches = {};
      showBanner();
      stopIfAlone();
    };
  }

  // ---- the buttons ---------------------------------------------------------------------
  function viewerUrl(session) {
    return "/desk/cobrowse?session=" + encodeURIComponent(session);
  }
  function offerViewer(session) {
    var p = document.getElementById("cobrowse-open");
    var a = document.getElementById("cobrowse-open-link");
    a.href = viewerUrl(session);
    p.hidden = false;
  }
  document.getElementById("cobrowse-chat").addEventListener("click", function () {
    var tab = document.querySelector('#chat-tabs [aria-selected="true"]');
    var id = tab ? Number(tab.dataset.conversation) : NaN;
    if (!tab || tab.dataset.state !== "active" || !(id > 0)) {
      say(S.no_chat);
      return;
    }
    // the window opens in the click (a popup blocker lets it), its address once known
    var win = window.open("about:blank", "_blank");
    post("request", { conversation: id }).then(function (res) {
      if (!res.ok) {
        if (win) win.close();
        return failed(res);
      }
      say("");
      if (win) {
        win.opener = null;
        win.location.href = viewerUrl(res.data.session);
      } else {
        offerViewer(res.data.session);
      }
    });
  });
  document.getElementById("cobrowse-code").addEventListener("click", function () {
    post("code", {}).then(function (res) {
      if (!res.ok) return failed(res);
      var shown = document.getElementById("cobrowse-code-shown");
      shown.textContent = fmt(S.code, {
        code: res.data.code,
        minutes: Math.round(res.data.expires_in / 60),
      });
      shown.hidden = false;
      say("");
    });
  });

  connect();
})();
