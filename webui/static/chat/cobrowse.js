/*
 * ccbox escorted browsing, the visitor's side. The chat widget (widget.js) loads this file
 * when its stream carries an event whose type starts with "cobrowse." and hands each such
 * event to  window.ccboxCobrowse.handle(event, api)  (api: {token, base, post}).
 *
 * Nothing is recorded before the visitor presses Allow. While the agent views the page a
 * banner says so, with a Stop button. The page is recorded with rrweb's recorder
 * (/chat/static/rrweb-record.min.js, installed from npm): form fields masked unless the
 * box says mask_inputs is off, password fields ALWAYS (also one whose type a script
 * changed later: it is remembered), elements with class ccbox-mask or the attribute
 * data-ccbox-mask masked, and the chat widget itself (#ccbox-chat and its shadow root)
 * never recorded. Events go to the box every 250 ms in POSTs of at most 256 KB (a full
 * snapshot may be larger, up to 4 MB).
 *
 * The agent may push a page of the center's site: a notice shows for 3 seconds, then the
 * page moves; the recording token stays in sessionStorage so the next page resumes (the
 * box tells the widget to load this file again) with a fresh full snapshot. A page of
 * ANOTHER site gets the token in its address's fragment, which anyone could write into a
 * link: there the visitor is asked again before anything is recorded, with the box's own
 * masking (GET config). The agent may point at an element: it is outlined for 4 seconds.
 *
 * Every text goes in with textContent. Browser tests find the elements by data-test:
 * cobrowse-consent, cobrowse-allow, cobrowse-deny, cobrowse-banner, cobrowse-stop,
 * cobrowse-push-notice, cobrowse-code-form, cobrowse-code, cobrowse-code-go,
 * cobrowse-code-error, cobrowse-ended (inside the shadow root of #ccbox-cobrowse).
 */
(function () {
  "use strict";
  if (window.ccboxCobrowse) return;

  var me = document.currentScript;
  var BASE = me && me.src ? new URL(me.src, document.baseURI).origin : "";
  var KEY = "ccbox-cobrowse:" + BASE;
  var FLUSH_MS = 250;
  var MAX_POST = 256 * 1024;
  var MAX_SNAPSHOT_POST = 4 * 1024 * 1024;
  var PUSH_DELAY_MS = 3000;
  var HIGHLIGHT_MS = 4000;

  var STRINGS = {
    en: {
      ask: "{agent} would like to see this page with you, to help you find your way. " +
        "Form fields stay hidden from them.",
      askNoMask: "{agent} would like to see this page with you, to help you find your way. " +
        "Passwords stay hidden from them.",
      allow: "Allow",
      deny: "Deny",
      viewing: "{agent} is viewing this page with you.",
      stop: "Stop",
      push: "{agent} is taking you to another page…",
      stopped: "The agent no longer sees this page.",
      codeTitle: "Have a code from the agent? Enter it to share this page.",
      code: "6-digit code",
      go: "Share",
      tooLarge: "This page is too large to share.",
      failed: "Sharing the page failed.",
    },
    zh: {
      ask: "{agent} 希望与您一起查看此页面，以帮助您找到所需内容。表单内容不会被对方看到。",
      askNoMask: "{agent} 希望与您一起查看此页面，以帮助您找到所需内容。密码不会被对方看到。",
      allow: "允许",
      deny: "拒绝",
      viewing: "{agent} 正在与您一起查看此页面。",
      stop: "停止",
      push: "{agent} 正在带您前往另一个页面…",
      stopped: "客服已不再查看此页面。",
      codeTitle: "客服给了您一个代码？输入代码即可共享此页面。",
      code: "6 位数字代码",
      go: "共享",
      tooLarge: "此页面太大，无法共享。",
      failed: "共享页面失败。",
    },
  };
  var widgetTag = document.querySelector("script[data-ccbox-chat]");
  var want = (widgetTag && widgetTag.getAttribute("data-lang")) || navigator.language || "en";
  var LANG = String(want).toLowerCase().indexOf("zh") === 0 ? "zh" : "en";
  function t(key, params) {
    var text = STRINGS[LANG][key] || STRINGS.en[key] || key;
    Object.keys(params || {}).forEach(function (k) {
      text = text.split("{" + k + "}").join(String(params[k]));
    });
    return text;
  }

  // ---- state ---------------------------------------------------------------------------
  var state = null; // {session, token, agent, config, active}
  var stopRecording = null;
  var queue = [];
  var queueBytes = 0;
  var timer = null;
  var sending = false;
  var source = null; // the control EventSource
  var passwords = typeof WeakSet === "function" ? new WeakSet() : null;

  function save() {
    try {
      if (state) sessionStorage.setItem(KEY, JSON.stringify(state));
      else sessionStorage.removeItem(KEY);
    } catch (e) {
      /* storage refused: no resume after a page change */
    }
  }
  function load() {
    try {
      var raw = sessionStorage.getItem(KEY);
      return raw ? JSON.parse(raw) : null;
    } catch (e) {
      return null;
    }
  }

  // ---- the box's API (the recording token in X-Chat-Token: the header CORS allows) --------
  function call(method, path, body, token) {
    var headers = { "X-Chat-Token": token };
    var init = { method: method, headers: headers, mode: "cors", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    return fetch(BASE + path, init).then(
      function (res) {
        return res
          .json()
          .catch(function () {
            return {};
          })
          .then(function (data) {
            return { ok: res.ok, status: res.status, data: data || {} };
          });
      },
      function () {
        return { ok: false, status: 0, data: {} };
      }
    );
  }

  // ---- the overlay (its own shadow root: the site's CSS does not reach it) ---------------
  var host = null;
  var ui = null;
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "test") node.setAttribute("data-test", attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) {
      node.appendChild(c);
    });
    return node;
  }
  var CSS =
    ":host{all:initial}" +
    ".box{position:fixed;left:16px;bottom:16px;z-index:2147483646;max-width:360px;" +
    "font:14px/1.4 system-ui,sans-serif;color:#1b1b1b;background:#fff;border:2px solid #d9480f;" +
    "border-radius:8px;box-shadow:0 4px 16px rgba(0,0,0,.25);padding:10px 12px}" +
    ".banner{position:fixed;top:0;left:0;right:0;z-index:2147483646;background:#d9480f;" +
    "color:#fff;font:14px/1.4 system-ui,sans-serif;padding:6px 12px;display:flex;gap:12px;" +
    "align-items:center;justify-content:center}" +
    "button{font:inherit;border-radius:4px;border:1px solid #888;background:#f4f4f4;" +
    "padding:4px 12px;cursor:pointer}" +
    "button.primary{background:#d9480f;border-color:#d9480f;color:#fff}" +
    ".banner button{background:#fff;color:#d9480f;border-color:#fff}" +
    ".row{display:flex;gap:8px;margin-top:8px}" +
    "input{font:inherit;padding:4px;width:8em;letter-spacing:.2em}" +
    ".error{color:#c92a2a;margin-top:4px}";
  function overlay() {
    if (ui) return ui;
    host = el("div", { id: "ccbox-cobrowse" });
    var root = host.attachShadow({ mode: "open" });
    root.appendChild(el("style", { text: CSS }));
    ui = root;
    document.documentElement.appendChild(host);
    return ui;
  }
  function clear() {
    if (!ui) return;
    Array.prototype.slice.call(ui.childNodes, 1).forEach(function (n) {
      ui.removeChild(n);
    });
  }
  function notice(text, test) {
    overlay();
    clear();
    ui.appendChild(el("div", { class: "box", role: "status", test: test, text: text }));
  }

  function askConsent() {
    overlay();
    clear();
    var allow = el("button", { type: "button", class: "primary", test: "cobrowse-allow" });
    allow.textContent = t("allow");
    var deny = el("button", { type: "button", test: "cobrowse-deny", text: t("deny") });
    var key = state.config && state.config.mask_inputs === false ? "askNoMask" : "ask";
    var box = el("div", { class: "box", role: "dialog", test: "cobrowse-consent" }, [
      el("div", { text: t(key, { agent: state.agent || "" }) }),
      el("div", { class: "row" }, [allow, deny]),
    ]);
    ui.appendChild(box);
    allow.addEventListener("click", function () {
      allow.disabled = deny.disabled = true;
      call("POST", "/chat/api/cobrowse/consent", { allow: true }, state.token).then(
        function (res) {
          if (!res.ok) return end(t("failed"));
          state.active = true;
          save();
          begin();
        }
      );
    });
    deny.addEventListener("click", function () {
      call("POST", "/chat/api/cobrowse/consent", { allow: false }, state.token);
      end();
    });
  }

  function showBanner() {
    overlay();
    clear();
    var stop = el("button", { type: "button", test: "cobrowse-stop", text: t("stop") });
    stop.addEventListener("click", function () {
      if (state) call("POST", "/chat/api/cobrowse/stop", {}, state.token);
      end();
    });
    ui.appendChild(
      el("div", { class: "banner", role: "status", test: "cobrowse-banner" }, [
        el("span", { text: t("viewing", { agent: state.agent || "" }) }),
        stop,
      ])
    );
  }

  // ---- masking ---------------------------------------------------------------------------
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
  function marked(node) {
    return !!(node && node.closest && node.closest(".ccbox-mask,[data-ccbox-mask]"));
  }
  function rememberPasswords() {
    Array.prototype.forEach.call(
      document.querySelectorAll("input[type=password],input[autocomplete*=password]"),
      function (n) {
        if (passwords) passwords.add(n);
      }
    );
  }
  function maskInputFn(text, node) {
    // every input, textarea and select value comes through here (maskInputOptions by tag):
    // blank a password (ever one), a marked field or a hidden one always, a button's label
    // kept, the rest masked unless mask_inputs is off.
    if (isPassword(node) || marked(node) || fieldType(node) === "hidden") return "";
    if (BUTTONS.indexOf(fieldType(node)) >= 0) return text;
    if (state && state.config && state.config.mask_inputs === false) return text;
    return "*".repeat(Math.min(String(text || "").length, 64));
  }

  // ---- recording -------------------------------------------------------------------------
  function loadRecorder() {
    if (window.rrwebRecord && window.rrwebRecord.record) return Promise.resolve();
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = BASE + "/chat/static/rrweb-record.min.js";
      s.async = true;
      s.onload = function () {
        if (window.rrwebRecord && window.rrwebRecord.record) resolve();
        else reject(new Error("no recorder"));
      };
      s.onerror = reject;
      document.head.appendChild(s);
    });
  }

  function begin() {
    showBanner();
    openControl();
    rememberPasswords();
    loadRecorder().then(
      function () {
        if (!state || !state.active || stopRecording) return;
        var record = window.rrwebRecord.record;
        stopRecording = record({
          emit: enqueue,
          // every field by its tag: maskAllInputs lists types, and lets a hidden or a file
          // input's value (a token, a file's name) out as it is
          maskAllInputs: false,
          maskInputOptions: { input: true, textarea: true, select: true, password: true },
          maskInputFn: maskInputFn,
          maskTextClass: "ccbox-mask",
          maskTextSelector: "[data-ccbox-mask], [data-ccbox-mask] *, .ccbox-mask *",
          blockSelector: "#ccbox-chat, #ccbox-cobrowse",
          recordCanvas: false,
          collectFonts: false,
          inlineImages: false,
          sampling: { mousemove: 50, scroll: 150 },
        });
      },
      function () {
        end(t("failed"));
      }
    );
  }

  function enqueue(event) {
    if (!state) return;
    var type = event && event.type;
    if (type === 4) {
      // a Meta event opens a full snapshot: what waits before it is no longer needed
      queue = [];
      queueBytes = 0;
    }
    var size = JSON.stringify(event).length;
    queue.push({ event: event, size: size });
    queueBytes += size;
    if (!timer) timer = setTimeout(flush, FLUSH_MS);
  }

  function nextBatch() {
    // one POST: a full snapshot (its Meta and FullSnapshot events) alone, up to
    // MAX_SNAPSHOT_POST; other events together up to MAX_POST
    var full = queue[0].event.type === 4;
    var batch = [];
    var bytes = 2;
    while (queue.length) {
      var item = queue[0];
      if (full && batch.length && batch[batch.length - 1].type === 2) break;
      if (!full && batch.length && bytes + item.size + 1 > MAX_POST) break;
      batch.push(item.event);
      bytes += item.size + 1;
      queueBytes -= item.size;
      queue.shift();
    }
    return { events: batch, bytes: bytes, full: full, limit: full ? MAX_SNAPSHOT_POST : MAX_POST };
  }

  function flush() {
    timer = null;
    if (!state || sending || !queue.length) return;
    var batch = nextBatch();
    if (batch.bytes > batch.limit && !batch.full) {
      // one change alone over the cap (a big piece of page added): a full snapshot instead
      queue = [];
      queueBytes = 0;
      snapshot();
      return;
    }
    if (batch.bytes > batch.limit) {
      // the whole page over the snapshot's cap (an enormous page): say so and stop
      if (state) call("POST", "/chat/api/cobrowse/stop", {}, state.token);
      return end(t("tooLarge"));
    }
    sending = true;
    call("POST", "/chat/api/cobrowse/events", JSON.stringify(batch.events), state.token).then(
      function (res) {
        sending = false;
        // ended: the session ended while this batch was on its way
        if (res.status === 401 || res.status === 409 || (res.ok && res.data.ended)) {
          return end(t("stopped"));
        }
        if (res.status === 429) {
          // too fast: wait, and ask for nothing lost to matter (a fresh snapshot later)
          timer = setTimeout(flush, 1000);
          return;
        }
        if (queue.length && !timer) timer = setTimeout(flush, FLUSH_MS);
      }
    );
  }

  function snapshot() {
    var record = window.rrwebRecord && window.rrwebRecord.record;
    if (stopRecording && record && record.takeFullSnapshot) record.takeFullSnapshot(true);
  }

  // ---- the control stream: snapshot requests, page pushes, highlights, stop -------------
  function openControl() {
    if (source || !state || typeof EventSource !== "function") return;
    source = new EventSource(
      BASE + "/chat/api/cobrowse/stream?t=" + encodeURIComponent(state.token)
    );
    source.onmessage = function (m) {
      var ev;
      try {
        ev = JSON.parse(m.data);
      } catch (e) {
        return;
      }
      control(ev);
    };
    source.onerror = function () {
      // closed by the box (session over) or the network: EventSource retries by itself;
      // a session that ended answers 401 and the browser gives up (readyState CLOSED)
      if (source && source.readyState === 2) {
        source = null;
        if (state && state.active) end(t("stopped"));
      }
    };
  }

  function control(ev) {
    if (!ev || typeof ev.type !== "string" || !state) return;
    switch (ev.type) {
      case "cobrowse.snapshot":
        snapshot();
        break;
      case "cobrowse.push":
        pushTo(ev.url);
        break;
      case "cobrowse.highlight":
        highlight(ev.node);
        break;
      case "cobrowse.stop":
        end(t("stopped"));
        break;
      default:
        break;
    }
  }

  function pushTo(url) {
    var target;
    try {
      target = new URL(String(url), document.baseURI);
    } catch (e) {
      return;
    }
    if (target.protocol !== "https:" && target.protocol !== "http:") return;
    notice(t("push", { agent: state.agent || "" }), "cobrowse-push-notice");
    save();
    setTimeout(function () {
      if (!state) return;
      if (target.origin !== location.origin) {
        // sessionStorage is per site: the token travels in the fragment, read and removed
        // by this script on the next page (never sent to a server)
        target.hash = "ccbox-cobrowse=" + encodeURIComponent(JSON.stringify(state));
      }
      location.assign(target.href);
    }, PUSH_DELAY_MS);
  }

  function highlight(id) {
    var record = window.rrwebRecord && window.rrwebRecord.record;
    var mirror = record && record.mirror;
    var node = mirror && typeof id === "number" ? mirror.getNode(id) : null;
    if (!node || node.nodeType !== 1) return;
    var before = node.style.outline;
    var offset = node.style.outlineOffset;
    node.style.outline = "3px solid #d9480f";
    node.style.outlineOffset = "2px";
    if (node.scrollIntoView) node.scrollIntoView({ block: "center", behavior: "smooth" });
    setTimeout(function () {
      node.style.outline = before;
      node.style.outlineOffset = offset;
    }, HIGHLIGHT_MS);
  }

  function end(message) {
    if (stopRecording) {
      try {
        stopRecording();
      } catch (e) {
        /* already stopped */
      }
    }
    stopRecording = null;
    if (timer) clearTimeout(timer);
    timer = null;
    queue = [];
    queueBytes = 0;
    if (source) source.close();
    source = null;
    state = null;
    save();
    if (message) {
      notice(message, "cobrowse-ended");
      setTimeout(function () {
        if (!state) clear();
      }, 5000);
    } else {
      clear();
    }
  }

  // ---- the code a caller got on the phone ---------------------------------------------
  function codeForm() {
    overlay();
    clear();
    var input = el("input", {
      type: "text",
      inputmode: "numeric",
      maxlength: "6",
      autocomplete: "one-time-code",
      "aria-label": t("code"),
      placeholder: t("code"),
      test: "cobrowse-code",
    });
    var go = el("button", { type: "submit", class: "primary", test: "cobrowse-code-go" });
    go.textContent = t("go");
    var error = el("div", { class: "error", role: "alert", test: "cobrowse-code-error" });
    var form = el("form", { class: "box", test: "cobrowse-code-form" }, [
      el("div", { text: t("codeTitle") }),
      el("div", { class: "row" }, [input, go]),
      error,
    ]);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      go.disabled = true;
      call("POST", "/chat/api/cobrowse/code", { code: input.value.trim() }, "").then(
        function (res) {
          go.disabled = false;
          if (!res.ok) {
            error.textContent = (res.data && res.data.error) || t("failed");
            return;
          }
          joined(res.data);
        }
      );
    });
    ui.appendChild(form);
    input.focus();
  }

  function joined(data) {
    state = {
      session: data.session,
      token: data.token,
      agent: data.agent,
      config: data.config || {},
      active: false,
    };
    save();
    askConsent();
  }

  // ---- events from the widget's chat stream ---------------------------------------------
  function handle(ev, api) {
    if (!ev || typeof ev.type !== "string") return;
    if (ev.type === "cobrowse.request") {
      if (state && state.active) return;
      api.post("/chat/api/cobrowse/join", { session: ev.session }).then(function (res) {
        if (res.ok) joined(res.data);
      });
    } else if (ev.type === "cobrowse.resume") {
      resume();
    } else if (ev.type === "cobrowse.code_entry") {
      if (!state) codeForm();
    } else if (state && ev.session === state.session) {
      control(ev);
    }
  }

  function resume() {
    if (state) return;
    var saved = load();
    var linked = false;
    var m = /(?:^|&)ccbox-cobrowse=([^&]+)/.exec(location.hash.slice(1));
    if (m) {
      try {
        saved = JSON.parse(decodeURIComponent(m[1]));
        linked = true;
      } catch (e) {
        saved = null;
      }
      history.replaceState(null, "", location.pathname + location.search);
    }
    if (!saved || typeof saved.token !== "string" || !saved.token || !saved.active) return;
    if (linked) {
      // an address anyone can write (a link in a mail): this site asks the visitor again,
      // with the box's masking, never the link's
      state = {
        session: String(saved.session || ""),
        token: saved.token,
        agent: String(saved.agent || ""),
        config: {},
        active: false,
      };
      save();
      call("GET", "/chat/api/cobrowse/config", undefined, "").then(function (res) {
        if (!state || state.active) return;
        if (res.ok && res.data) state.config = res.data;
        askConsent();
      });
      return;
    }
    state = saved;
    save();
    begin(); // the box asks for a full snapshot as the control stream opens
  }

  window.ccboxCobrowse = { handle: handle, resume: resume, codeForm: codeForm };
  resume();
})();
