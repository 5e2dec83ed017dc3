// A conversation watched from the supervisor console (webui/templates/supervisor_chat.html):
// its history from /chat-desk/api/history/<id>, then its lines, typing, read marks and
// states live from /chat-desk/stream?watch=<id> (the desk's staff stream, which audits the
// watch). Join and a line (or an internal note only the agent sees) are posted to
// /chat-desk/api/join and /chat-desk/api/say with the CSRF token.
//
// Every string shown comes from the template (#svc-i18n); names and lines are customer and
// agent input: textContent only, never HTML (an e-mail's sanitized HTML is not shown here).
(function () {
  "use strict";

  var root = document.getElementById("svc");
  if (!root) return;
  var T = JSON.parse(document.getElementById("svc-i18n").textContent);
  var csrf = root.dataset.csrf;
  var id = Number(root.dataset.conversation);
  var lines = document.getElementById("svc-lines");
  var stateEl = document.getElementById("svc-state");
  var typingEl = document.getElementById("svc-typing");
  var statusEl = document.getElementById("svc-status");
  var seen = {};

  var fmt = ccboxPage.fmt;

  function el(tag, cls, text) { return ccboxPage.el(tag, text, cls); }

  function say(text, bad) {
    statusEl.textContent = text;
    statusEl.className = "sv-result" + (bad ? " error" : " ok");
  }

  function addLine(m) {
    if (!m || seen[m.id]) return;
    seen[m.id] = true;
    var li = el("li", "svc-line svc-" + (m.sender || "system"));
    if (m.internal) li.classList.add("svc-internal");
    var head = el("div", "svc-head");
    head.appendChild(el("b", "svc-author", m.author || T.senders[m.sender] || m.sender));
    head.appendChild(document.createTextNode(" "));
    var when = m.created_at ? new Date(m.created_at) : null;
    head.appendChild(el("time", "svc-when", when && !isNaN(when) ? when.toLocaleTimeString() : ""));
    if (m.internal) head.appendChild(el("span", "svc-note", " " + T.internal));
    li.appendChild(head);
    li.appendChild(el("div", "svc-body", m.body || ""));
    (m.attachments || []).forEach(function (a) {
      li.appendChild(el("div", "svc-attachment", fmt(T.attachment, { name: a.file_name || "" })));
    });
    lines.appendChild(li);
    li.scrollIntoView({ block: "end" });
  }

  function showState(state) {
    stateEl.textContent = T.states[state] || state;
    stateEl.dataset.state = state;
  }

  function load() {
    fetch("/chat-desk/api/history/" + id, { credentials: "same-origin" }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) throw new Error(data.error || String(r.status));
        return data;
      });
    }).then(function (data) {
      if (data.conversation && data.conversation.state) showState(data.conversation.state);
      (data.messages || []).forEach(addLine);
    }).catch(function (err) { say(fmt(T.failed, { reason: err.message }), true); });
  }

  var typingTimer = null;
  function onEvent(ev) {
    if (!ev || ev.conversation !== undefined && Number(ev.conversation) !== id) return;
    if (ev.type === "message") addLine(ev.message);
    else if (ev.type === "state") showState(ev.state);
    else if (ev.type === "ended") { showState("ended"); say(T.ended, false); }
    else if (ev.type === "resync") load();
    else if (ev.type === "typing") {
      typingEl.textContent = ev.typing ? fmt(T.typing, { side: T[ev.side] || ev.side }) : "";
      clearTimeout(typingTimer);
      if (ev.typing) typingTimer = setTimeout(function () { typingEl.textContent = ""; }, 10000);
    }
  }

  var stream = new EventSource("/chat-desk/stream?watch=" + id);
  stream.onmessage = function (e) {
    var ev;
    try { ev = JSON.parse(e.data); } catch (err) { return; }
    onEvent(ev);
  };
  stream.onerror = function () { say(T.lost, true); };
  stream.onopen = function () { statusEl.textContent = ""; };

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(ccboxPage.json);
  }

  document.getElementById("svc-join").addEventListener("click", function () {
    post("/chat-desk/api/join", { conversation: id }).then(function () {
      say(T.joined, false);
    }).catch(function (err) { say(fmt(T.failed, { reason: err.message }), true); });
  });

  document.getElementById("svc-say").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = document.getElementById("svc-text");
    var internal = document.getElementById("svc-internal").checked;
    if (!text.value.trim()) return;
    post("/chat-desk/api/say", { conversation: id, text: text.value, internal: internal }).then(function (m) {
      text.value = "";
      addLine(m);
    }).catch(function (err) { say(fmt(T.failed, { reason: err.message }), true); });
  });

  load();
})();
