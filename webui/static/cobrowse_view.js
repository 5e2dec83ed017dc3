/*
 * The viewer of a mirrored page (webui/cobrowse/): the supervisor's live view of an agent's
 * desk (data-mode="watch": the page starts the watch with a POST, audited by the box) and
 * the agent's window on a customer's page (data-mode="session").
 *
 * Events come from /chat-desk/api/cobrowse/stream?session= (Server-Sent Events) and are
 * replayed live with rrweb's Replayer (/vendor/rrweb.min.js, installed from npm) inside its
 * sandboxed frame: a batch that opens with a full snapshot (a Meta event) starts a fresh
 * Replayer, which is how the viewer catches up after a gap. In session mode the agent may
 * send the customer to a page of the center's site and point at an element: a click in
 * the replay names the element's rrweb id to the box, the customer's page outlines it.
 *
 * Texts come translated in #cobrowse-i18n; every text goes in with textContent.
 */
(function () {
  "use strict";
  var root = document.getElementById("cobrowse-view");
  if (!root) return;
  var T = JSON.parse(document.getElementById("cobrowse-i18n").textContent || "{}");
  var mode = root.dataset.mode;
  var csrf = root.dataset.csrf;
  var stage = document.getElementById("cobrowse-stage");
  var status = document.getElementById("cobrowse-status");
  var msg = document.getElementById("cobrowse-msg");
  var stopBtn = document.getElementById("cobrowse-stop");
  var pointBtn = document.getElementById("cobrowse-point");
  var pushForm = document.getElementById("cobrowse-push");
  var session = root.dataset.session || null;
  var replayer = null;
  var stream = null;
  var ended = false;
  var pointing = false;

  function fmt(text, params) {
    text = String(text || "");
    Object.keys(params || {}).forEach(function (k) {
      text = text.split("{" + k + "}").join(String(params[k]));
    });
    return text;
  }
  function setStatus(key, state) {
    status.textContent = T[key] || key;
    status.dataset.state = state || key;
  }
  function say(text) {
    if (msg) msg.textContent = text || "";
  }
  function post(action, body, keepalive) {
    return ccboxPage.result(fetch("/chat-desk/api/cobrowse/" + action, {
      method: "POST",
      credentials: "same-origin",
      keepalive: !!keepalive,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    }));
  }
  function failed(res) {
    var reason = (res.data && res.data.error) || String(res.status || "");
    say(fmt(T.failed, { reason: reason }));
  }

  // ---- replaying ---------------------------------------------------------------------------
  function fit() {
    if (!replayer || !replayer.wrapper) return;
    var iframe = replayer.iframe;
    var width = iframe ? parseInt(iframe.getAttribute("width") || iframe.width || 0, 10) : 0;
    var height = iframe ? parseInt(iframe.getAttribute("height") || iframe.height || 0, 10) : 0;
    if (!width || !height) return;
    var scale = Math.min(1, stage.clientWidth / width);
    replayer.wrapper.style.transform = "scale(" + scale + ")";
    replayer.wrapper.style.transformOrigin = "0 0";
    stage.style.height = Math.ceil(height * scale) + "px";
  }

  function rebuild(first) {
    if (replayer) {
      try {
        replayer.destroy();
      } catch (e) {
        /* an older Replayer: its frame goes with the stage's content */
      }
    }
    stage.textContent = "";
    replayer = new window.rrweb.Replayer([], {
      root: stage,
      liveMode: true,
      mouseTail: false,
      triggerFocus: false,
      showWarning: false,
      UNSAFE_replayCanvas: false,
    });
    replayer.on("resize", fit);
    replayer.on("fullsnapshot-rebuilded", armPointing);
    replayer.startLive(first.timestamp);
    setPointing(false);
    setStatus("active", "active");
  }

  function onEvents(events) {
    if (!Array.isArray(events) || !events.length) return;
    var at = -1;
    for (var i = 0; i < events.length; i++) {
      if (events[i] && events[i].type === 4) at = i;
    }
    if (at >= 0) {
      events = events.slice(at);
      rebuild(events[0]);
    }
    if (!replayer) return; // nothing until a full snapshot
    events.forEach(function (ev) {
      replayer.addEvent(ev);
    });
    fit();
  }

  // ---- pointing at an element (session mode) -----------------------------------------
  function armPointing() {
    var frame = replayer && replayer.iframe;
    var doc = frame && frame.contentDocument;
    if (!doc || doc.ccboxArmed) return;
    doc.ccboxArmed = true;
    doc.addEventListener(
      "click",
      function (e) {
        if (!pointing) return;
        e.preventDefault();
        e.stopPropagation();
        var id = replayer.getMirror().getId(e.target);
        setPointing(false);
        if (typeof id === "number" && id > 0) {
          post("highlight", { session: session, node: id }).then(function (res) {
            if (!res.ok) failed(res);
          });
        }
      },
      true
    );
  }
  function setPointing(on) {
    pointing = !!on && !!replayer;
    if (pointBtn) pointBtn.setAttribute("aria-pressed", pointing ? "true" : "false");
    if (!replayer) return;
    if (pointing) {
      replayer.enableInteract();
      armPointing();
      say(T.point_on);
    } else {
      replayer.disableInteract();
    }
  }

  // ---- the stream ----------------------------------------------------------------------
  function open() {
    setStatus("connecting", "connecting");
    stream = new EventSource(
      "/chat-desk/api/cobrowse/stream?session=" + encodeURIComponent(session)
    );
    stream.onmessage = function (m) {
      var ev;
      try {
        ev = JSON.parse(m.data);
      } catch (e) {
        return;
      }
      if (!ev || typeof ev.type !== "string") return;
      if (ev.type === "cobrowse.events") onEvents(ev.events);
      else if (ev.type === "cobrowse.state") onState(ev);
      else if (ev.type === "cobrowse.stop") finish(ev.reason);
    };
    stream.onerror = function () {
      if (stream && stream.readyState === 2) finish("gone");
    };
  }
  function onState(ev) {
    if (ev.state === "ended") return finish(ev.reason);
    if (replayer) return;
    if (ev.state === "requested") setStatus("waiting_visitor", "waiting");
    else setStatus(mode === "watch" ? "waiting_desk" : "waiting_visitor", "waiting");
  }
  function finish(reason) {
    if (ended) return;
    ended = true;
    if (stream) stream.close();
    stream = null;
    setPointing(false);
    setStatus(reason === "denied" ? "denied" : "ended", "ended");
    if (stopBtn) stopBtn.disabled = true;
    if (pointBtn) pointBtn.disabled = true;
    if (pushForm) pushForm.hidden = true;
  }

  // ---- controls ------------------------------------------------------------------------
  if (stopBtn) {
    stopBtn.addEventListener("click", function () {
      if (!session || ended) return;
      post("stop", { session: session }).then(function (res) {
        if (res.ok || res.status === 404) finish("staff_stopped");
        else failed(res);
      });
    });
  }
  if (pointBtn) {
    pointBtn.addEventListener("click", function () {
      setPointing(!pointing);
    });
  }
  if (pushForm) {
    pushForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var url = document.getElementById("cobrowse-url").value.trim();
      post("push", { session: session, url: url }).then(function (res) {
        if (res.ok) say(fmt(T.pushed, { url: url }));
        else failed(res);
      });
    });
  }
  window.addEventListener("resize", fit);
  window.addEventListener("pagehide", function () {
    // leaving the live view ends it at once (keepalive: the POST outlives the page)
    if (mode === "watch" && session && !ended) post("stop", { session: session }, true);
  });

  if (!window.rrweb || !window.rrweb.Replayer) {
    var script = document.createElement("script");
    script.src = root.dataset.rrweb;
    script.onload = start;
    script.onerror = function () {
      say(T.missing);
    };
    document.head.appendChild(script);
  } else {
    start();
  }

  function start() {
    if (mode === "watch") {
      post("watch", { agent: Number(root.dataset.agent) }).then(function (res) {
        if (!res.ok) {
          failed(res);
          return finish("failed");
        }
        session = res.data.session;
        open();
      });
    } else {
      open();
    }
  }
})();
