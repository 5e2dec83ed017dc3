// The supervisor console (webui/templates/supervisor.html): every agent and queue from the
// live feed, and the supervisor's actions posted to /api/supervisor/... with the CSRF token.
//
// Every string shown comes from the template (#sv-i18n); every value from the feed is
// attacker-controlled (caller names!) and goes into the page with textContent only.
(function () {
  "use strict";

  var root = document.getElementById("sv");
  if (!root) return;
  var T = JSON.parse(document.getElementById("sv-i18n").textContent);
  var S = JSON.parse(document.getElementById("sv-settings").textContent);
  var csrf = root.dataset.csrf;
  var statusEl = document.getElementById("sv-status");
  var resultEl = document.getElementById("sv-result");
  var deviceEl = document.getElementById("sv-device");
  var agentsBody = document.querySelector("#sv-agents tbody");
  var queuesEl = document.getElementById("sv-queues");
  var queueFilter = document.getElementById("sv-queue-filter");
  var teamFilter = document.getElementById("sv-team-filter");
  var teams = S.teams || {}; // agent id -> department (the page's "team")

  var agents = {};   // id -> agent message
  var queues = {};   // id -> queue message
  var calls = {};    // id -> call message
  var agentRows = {}; // id -> {tr, cells...}
  var feed = ccboxLive.connect({ topics: "all" });

  var fmt = ccboxPage.fmt;

  function el(tag, cls, text) { return ccboxPage.el(tag, text, cls); }

  function clock(seconds) {
    if (typeof seconds !== "number" || !isFinite(seconds) || seconds < 0) seconds = 0;
    seconds = Math.floor(seconds);
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var mm = (h && m < 10 ? "0" : "") + m, ss = (s < 10 ? "0" : "") + s;
    return (h ? h + ":" : "") + mm + ":" + ss;
  }

  function since(t) { return typeof t === "number" ? clock(feed.now() - t) : ""; }

  function caller(number, name) {
    var parts = [];
    if (number) parts.push(number);
    if (name) parts.push(name);
    return parts.length ? parts.join(" · ") : T.unknown_caller;
  }

  function callerCell(cell, number, name) {
    cell.appendChild(el("span", "sv-number", number || (name ? "" : T.unknown_caller)));
    if (name) cell.appendChild(el("span", "sv-name", name));
    return cell;
  }

  function queueName(id) {
    var q = queues[id];
    return q ? (q.display_name || q.name) : "";
  }

  function say(text, bad) {
    resultEl.textContent = text;
    resultEl.className = "sv-result" + (bad ? " error" : " ok");
  }

  function post(action, body, what) {
    return postTo("/api/supervisor/" + action, body, what);
  }

  function postTo(path, body, what) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(ccboxPage.json).then(function (data) {
      say(fmt(T.done, { what: what }), false);
      return data;
    }).catch(function (err) {
      say(fmt(T.failed, { reason: err.message }), true);
    });
  }

  // ---- agents -----------------------------------------------------------------------------

  function button(label, cls, onClick) {
    var b = el("button", cls, label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  function agentRow(id) {
    if (agentRows[id]) return agentRows[id];
    var row = { tr: el("tr") };
    row.tr.dataset.agentId = id;
    row.who = el("td", "sv-who");
    row.state = el("td");
    row.badge = el("span", "sv-state");
    row.reason = el("span", "sv-reason");
    row.state.appendChild(row.badge);
    row.state.appendChild(row.reason);
    row.idle = el("div", "sv-idle"); // in the call's cell: a ready agent has no call
    row.idle.hidden = true;
    row.time = el("td", "sv-time");
    row.today = el("td", "sv-today");
    row.handled = el("span", "sv-handled");
    row.talk = el("span", "sv-talk");
    row.today.appendChild(row.handled);
    row.today.appendChild(row.talk);
    row.call = el("td", "sv-call");
    row.acts = el("td", "sv-acts");
    row.spy = {};
    var spyLine = el("div", "sv-line"), stateLine = el("div", "sv-line");
    row.acts.appendChild(spyLine);
    row.acts.appendChild(stateLine);
    S.modes.forEach(function (mode) {
      var b = button(T.modes[mode], "sv-spy sv-" + mode, function () {
        var a = agents[id];
        if (!a) return;
        var body = { agent: a.number, mode: mode };
        var device = deviceEl.value.trim();
        if (device) body.device = device;
        post("spy", body, T.modes[mode] + " " + a.number);
      });
      b.dataset.mode = mode;
      row.spy[mode] = b;
      spyLine.appendChild(b);
    });
    // Record a call its queue does not record, from now on (the recorder says when it is
    // recorded already); audited with the supervisor's name.
    row.record = button(T.record_now, "sv-record", function () {
      var a = agents[id];
      if (a && typeof a.call_id === "number") {
        postTo("/api/recording_control/start", { call_id: a.call_id }, T.record_now + " " + a.number);
      }
    });
    spyLine.appendChild(row.record);
    // Call control on the agent's own call, as its desk has it (hold, mute, hang up).
    var ctlLine = el("div", "sv-line");
    row.acts.appendChild(ctlLine);
    row.ctl = {};
    ["hold", "resume", "mute", "unmute", "hangup"].forEach(function (action) {
      var b = button(T.controls[action], "sv-ctl sv-ctl-" + action, function () {
        var a = agents[id];
        if (!a) return;
        var body = { agent: a.number, action: action === "unmute" ? "mute" : action };
        if (action === "mute" || action === "unmute") body.muted = action === "mute";
        post("control", body, T.controls[action] + " " + a.number);
      });
      b.dataset.ctl = action;
      row.ctl[action] = b;
      ctlLine.appendChild(b);
    });
    row.reasonSel = el("select", "sv-reason-select");
    row.reasonSel.setAttribute("aria-label", T.pause);
    S.reasons.forEach(function (r) {
      var o = el("option", null, T.reasons[r] || r);
      o.value = r;
      row.reasonSel.appendChild(o);
    });
    stateLine.appendChild(row.reasonSel);
    row.pause = button(T.pause, "sv-pause", function () {
      var a = agents[id];
      if (a) post("pause", { agent: a.number, reason: row.reasonSel.value }, T.pause + " " + a.number);
    });
    row.logout = button(T.logout, "sv-logout", function () {
      var a = agents[id];
      if (a && window.confirm(fmt(T.confirm_logout, { agent: a.number + " " + a.name }))) {
        post("logout", { agent: a.number }, T.logout + " " + a.number);
      }
    });
    // An agent the ACD holds ringing or on a call the switch does not have (the server
    // refuses while the switch has a channel of the agent's phone).
    row.release = button(T.release, "sv-release", function () {
      var a = agents[id];
      if (a && window.confirm(fmt(T.confirm_release, { agent: a.number + " " + a.name }))) {
        post("release", { agent: a.number }, T.release + " " + a.number);
      }
    });
    stateLine.appendChild(row.pause);
    stateLine.appendChild(row.logout);
    stateLine.appendChild(row.release);
    // chats and e-mails: the agent's load ("Chats 2/3", from the chats section's reads) and
    // the supervisor's live view of its desk
    row.chatLoad = el("span", "sv-chat-load");
    row.chatLoad.hidden = true;
    row.today.appendChild(row.chatLoad);
    var viewLine = el("div", "sv-line");
    row.liveView = el("a", "sv-live-view", T.live_view);
    row.liveView.href = "/supervisor/desk/" + encodeURIComponent(String(Number(id)));
    viewLine.appendChild(row.liveView);
    row.acts.appendChild(viewLine);
    [row.who, row.state, row.time, row.today, row.call, row.acts].forEach(function (td) { row.tr.appendChild(td); });
    agentRows[id] = row;
    return row;
  }

  function renderAgent(a) {
    var row = agentRow(a.id);
    row.who.textContent = a.number + " " + (a.name || "");
    row.badge.textContent = T.states[a.state] || a.state;
    row.badge.dataset.state = a.state;
    row.tr.dataset.state = a.state;
    row.reason.textContent = a.state === "paused" && a.reason ? (T.reasons[a.reason] || a.reason) : "";
    row.handled.textContent = a.handled === 1 ? T.handled_1 : fmt(T.handled_n, { n: a.handled || 0 });
    row.talk.textContent = fmt(T.talk, { time: clock(a.talk_s || 0) });
    row.call.textContent = "";
    row.call.appendChild(row.idle);
    if (a.call_id !== null && a.call_id !== undefined) {
      row.call.appendChild(callerCell(el("div", "sv-caller"), a.caller_number, a.caller_name));
      var line = el("div", "sv-queue", queueName(a.queue_id) + " ");
      row.callTime = el("span", "sv-duration");
      line.appendChild(row.callTime);
      row.call.appendChild(line);
    } else {
      row.callTime = null;
    }
    var onCall = a.state === "on_call";
    S.modes.forEach(function (m) { row.spy[m].disabled = !onCall; });
    Object.keys(row.ctl).forEach(function (k) { row.ctl[k].disabled = !onCall; });
    row.record.disabled = !onCall || typeof a.call_id !== "number";
    row.pause.disabled = !(a.state === "available" || a.state === "paused" || a.state === "wrap_up");
    row.logout.disabled = !(a.state === "available" || a.state === "paused" || a.state === "wrap_up");
    row.release.disabled = !(a.state === "ringing" || a.state === "on_call");
    tickAgent(a);
  }

  function tickAgent(a) {
    var row = agentRows[a.id];
    if (!row) return;
    showLoad(row, a.id);
    row.time.textContent = since(a.since);
    if (row.callTime) row.callTime.textContent = since(a.call_since);
  }

  function renderAgents() {
    var ids = Object.keys(agents).sort(function (x, y) {
      return String(agents[x].number).localeCompare(String(agents[y].number));
    });
    ids.forEach(function (id) {
      renderAgent(agents[id]);
      agentRows[id].tr.hidden = !shown(agents[id]);
      agentsBody.appendChild(agentRows[id].tr); // in order (appendChild moves it)
    });
    showIdle();
    Object.keys(agentRows).forEach(function (id) {
      if (!agents[id]) { agentRows[id].tr.remove(); delete agentRows[id]; }
    });
  }

  // ---- chats and e-mails: the engine's waiting and active conversations, read every few
  // seconds from /supervisor/conversations; Watch opens the read-only view, Join posts to
  // the desk's chat API (/chat-desk/api/join) and opens it -------------------------------

  var chatsBody = document.querySelector("#sv-conversations tbody");
  var chatsNote = document.getElementById("sv-chats-note");
  var chats = { running: true, conversations: [], loads: {}, queues: {}, more: 0 };
  var chatOffset = 0; // server clock minus ours, in seconds

  function serverNow() { return Date.now() / 1000 + chatOffset; }

  function showLoad(row, id) {
    var load = chats.loads[String(id)];
    row.chatLoad.hidden = !load;
    if (load) row.chatLoad.textContent = fmt(T.load, { open: load.open, capacity: load.capacity });
  }

  function watchUrl(id) { return "/supervisor/chat?id=" + encodeURIComponent(String(Number(id))); }

  function timeCell(td, c) {
    var now = serverNow(), level = "normal", text;
    if (typeof c.due_at === "number") {
      var left = c.due_at - now;
      text = left >= 0 ? fmt(T.due_in, { time: clock(left) }) : fmt(T.overdue, { time: clock(-left) });
      if (left < 0) level = "alarm";
    } else if (typeof c.waiting_since === "number") {
      var waited = now - c.waiting_since;
      var q = chats.queues[String(c.queue_id)];
      var limit = q ? q.service_level_s : 0;
      text = clock(waited);
      if (limit && waited >= limit) level = "alarm";
      else if (limit && waited >= limit * 0.8) level = "warning";
    } else {
      text = clock(now - (c.answered_at || c.created_at || now));
    }
    if (td.textContent !== text) td.textContent = text;
    td.dataset.level = level;
  }

  function chatRow(c) {
    var tr = el("tr");
    tr.dataset.conversationId = c.id;
    tr.dataset.state = c.state;
    var who = el("td", "sv-customer");
    var medium = el("span", "sv-media", T.media[c.media] || c.media);
    medium.dataset.media = c.media;
    who.appendChild(medium);
    who.appendChild(el("span", "sv-name", c.name || T.unknown_caller));
    if (c.media === "email" && c.subject) who.appendChild(el("div", "sv-subject", c.subject));
    tr.appendChild(who);
    tr.appendChild(el("td", "sv-queue", c.queue || T.nobody));
    tr.appendChild(el("td", "sv-agent", c.agent || T.nobody));
    tr.appendChild(el("td", "sv-conv-state", T.conv_states[c.state] || c.state));
    var time = el("td", "sv-duration");
    timeCell(time, c);
    tr.appendChild(time);
    var acts = el("td", "sv-acts");
    var watch = el("a", "sv-watch", T.watch);
    watch.href = watchUrl(c.id);
    watch.target = "_blank";
    watch.rel = "noopener";
    acts.appendChild(watch);
    acts.appendChild(document.createTextNode(" "));
    acts.appendChild(button(T.join, "sv-join", function () {
      // the watch page (where one writes) opens now, in the click: a window opened after
      // the request would be a pop-up the browser may block
      window.open(watchUrl(c.id), "_blank");
      postTo("/chat-desk/api/join", { conversation: c.id }, T.join);
    }));
    tr.appendChild(acts);
    return tr;
  }

  function renderChats() {
    chatsBody.textContent = "";
    if (!chats.running) {
      chatsNote.textContent = T.channels_off;
      return;
    }
    chats.conversations.forEach(function (c) {
      if (chatShown(c)) chatsBody.appendChild(chatRow(c));
    });
    chatsNote.textContent = chats.conversations.length ? (chats.more ? fmt(T.more_conversations, { n: chats.more }) : "") : T.no_conversations;
    Object.keys(agentRows).forEach(function (id) { showLoad(agentRows[id], id); });
  }

  // The page's filters: a team shows the conversations its agents have; a queue (the call
  // queues the filter offers) has no chats or e-mails.
  function chatShown(c) {
    if (queueFilter && queueFilter.value) return false;
    var team = teamFilter ? teamFilter.value : "";
    return !team || (c.agent_id !== null && teams[String(c.agent_id)] === team);
  }

  function tickChats() {
    var byId = {};
    chats.conversations.forEach(function (c) { byId[c.id] = c; });
    Array.prototype.forEach.call(chatsBody.querySelectorAll("tr"), function (tr) {
      var c = byId[tr.dataset.conversationId];
      if (c) timeCell(tr.querySelector(".sv-duration"), c);
    });
  }

  function askChats() {
    fetch("/supervisor/conversations", { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (data) {
      if (!data) return;
      if (typeof data.server_time === "number") chatOffset = data.server_time - Date.now() / 1000;
      chats = data;
      chats.loads = data.loads || {};
      chats.queues = data.queues || {};
      renderChats();
    }).catch(function () {});
  }

  // ---- filters: a queue (by name) and a team (the agents' department), kept in the URL ------

  function chosenQueueId() {
    var name = queueFilter ? queueFilter.value : "";
    if (!name) return null;
    var id = null;
    Object.keys(queues).forEach(function (qid) { if (queues[qid].name === name) id = Number(qid); });
    return id === null ? -1 : id; // a queue the feed does not know (yet): nothing matches
  }

  function shown(a) {
    var team = teamFilter ? teamFilter.value : "";
    if (team && teams[String(a.id)] !== team) return false;
    var qid = chosenQueueId();
    if (qid === null) return true;
    return (a.queues || []).indexOf(qid) >= 0 || a.queue_id === qid;
  }

  function filtersChanged() {
    var params = new URLSearchParams();
    if (queueFilter.value) params.set("queue", queueFilter.value);
    if (teamFilter.value) params.set("team", teamFilter.value);
    var query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? "?" + query : ""));
    renderAgents();
    renderQueues();
    renderChats();
  }
  if (queueFilter) queueFilter.addEventListener("change", filtersChanged);
  if (teamFilter) teamFilter.addEventListener("change", filtersChanged);

  // ---- why a ready agent gets no calls (asked of the ACD while callers wait) --------------

  var idle = {};        // agent id -> [reason, ...] from /api/supervisor/idle
  var idleAsked = 0;    // when we last asked (ms)
  var idleTimer = null;

  function anyoneWaits() {
    return Object.keys(calls).some(function (k) { return calls[k].state === "waiting"; });
  }

  function anyoneReady() {
    return Object.keys(agents).some(function (k) { return agents[k].state === "available"; });
  }

  function askIdle() {
    if (idleTimer) { clearTimeout(idleTimer); idleTimer = null; }
    if (!(anyoneWaits() && anyoneReady())) {
      if (Object.keys(idle).length) { idle = {}; showIdle(); }
      return;
    }
    var due = idleAsked + 1000 - Date.now(); // at most once a second
    if (due > 0) { idleTimer = setTimeout(askIdle, due); return; }
    idleAsked = Date.now();
    fetch("/api/supervisor/idle", { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (data) {
      if (!data) return;
      idle = data.agents || {};
      showIdle();
    }).catch(function () {});
  }

  function showIdle() {
    Object.keys(agentRows).forEach(function (id) {
      var row = agentRows[id], a = agents[id];
      var found = (a && a.state === "available" && idle[id]) || [];
      // "serves" is a call on its way, not a reason: only the queues it cannot take
      var reasons = found.filter(function (r) { return r.why !== "serves"; });
      var text = reasons.map(function (r) { return r.text; }).join("\n");
      if (row.idle.dataset.text === text) return;
      row.idle.dataset.text = text;
      row.idle.textContent = "";
      row.idle.hidden = !reasons.length;
      if (!reasons.length) return;
      row.idle.appendChild(el("div", "sv-idle-title", T.idle_title));
      reasons.forEach(function (r) {
        var line = el("div", "sv-idle-reason", r.text);
        line.dataset.why = r.why;
        line.dataset.queueId = r.queue_id;
        row.idle.appendChild(line);
      });
    });
  }

  // ---- queues and their calls -------------------------------------------------------------

  function moveTargets(call) {
    var sel = el("select", "sv-move-select");
    sel.setAttribute("aria-label", T.move_to);
    var first = el("option", null, T.move_to);
    first.value = "";
    sel.appendChild(first);
    Object.keys(queues).forEach(function (qid) {
      if (Number(qid) === call.queue_id) return;
      var o = el("option", null, fmt(T.to_queue, { name: queueName(qid) }));
      o.value = "queue:" + queues[qid].name;
      sel.appendChild(o);
    });
    Object.keys(agents).forEach(function (aid) {
      var a = agents[aid];
      if (a.state !== "available") return;
      var o = el("option", null, fmt(T.to_agent, { name: a.number + " " + (a.name || "") }));
      o.value = "agent:" + a.number;
      sel.appendChild(o);
    });
    return sel;
  }

  function callRow(c) {
    var tr = el("tr");
    tr.dataset.callId = c.id;
    tr.dataset.state = c.state;
    tr.appendChild(callerCell(el("td", "sv-caller"), c.caller_number, c.caller_name));
    tr.appendChild(el("td", "sv-call-state", T.call_states[c.state] || c.state));
    var wait = el("td", "sv-wait", since(c.since));
    wait.dataset.since = c.since;
    tr.appendChild(wait);
    tr.appendChild(el("td", "sv-priority", c.priority ? fmt(T.priority, { n: c.priority }) : ""));
    var acts = el("td", "sv-acts");
    var numeric = typeof c.id === "number";
    var sel = moveTargets(c);
    var move = button(T.move, "sv-move", function () {
      var v = sel.value;
      if (!v) return;
      var kind = v.slice(0, v.indexOf(":")), target = v.slice(v.indexOf(":") + 1);
      var body = { call_id: c.id };
      body[kind] = target;
      post("move", body, T.move + " " + caller(c.caller_number, c.caller_name));
    });
    var hang = button(T.hangup, "sv-hangup", function () {
      var who = caller(c.caller_number, c.caller_name);
      if (window.confirm(fmt(T.confirm_hangup, { caller: who }))) {
        post("hangup", { call_id: c.id }, T.hangup + " " + who);
      }
    });
    var movable = numeric || /^acd-[0-9]+$/.test(String(c.id)); // a callback: acd-N
    sel.disabled = move.disabled = !movable || c.state !== "waiting";
    hang.disabled = !numeric;
    var line1 = el("div", "sv-line"), line2 = el("div", "sv-line");
    line1.appendChild(sel);
    line1.appendChild(move);
    line2.appendChild(hang);
    acts.appendChild(line1);
    acts.appendChild(line2);
    tr.appendChild(acts);
    return tr;
  }

  function renderQueues() {
    // Rebuilt from scratch on a change, except while a move menu is open (focused).
    var active = document.activeElement;
    if (active && active.classList && active.classList.contains("sv-move-select") && queuesEl.contains(active)) {
      queuesDirty = true;
      return;
    }
    queuesDirty = false;
    queuesEl.textContent = "";
    var only = chosenQueueId();
    Object.keys(queues).filter(function (qid) {
      return only === null || Number(qid) === only;
    }).sort(function (x, y) {
      return String(queues[x].name).localeCompare(String(queues[y].name));
    }).forEach(function (qid) {
      var q = queues[qid];
      var box = el("div", "sv-queue-box");
      box.dataset.queueId = qid;
      var head = el("div", "sv-queue-head");
      head.appendChild(el("strong", null, q.display_name || q.name));
      head.appendChild(el("span", "sv-waiting", fmt(T.waiting_n, { n: q.waiting })));
      var longest = el("span", "sv-longest");
      longest.dataset.since = q.oldest_since || "";
      head.appendChild(longest);
      box.appendChild(head);
      var mine = Object.keys(calls).map(function (k) { return calls[k]; }).filter(function (c) {
        return String(c.queue_id) === String(qid);
      }).sort(function (a, b) { return (a.since - b.since) || (b.priority - a.priority); });
      if (!mine.length) {
        box.appendChild(el("p", "sv-empty", T.no_calls));
      } else {
        // the longest waits first; a long line is cut at max_calls, the rest counted
        var table = el("table", "sv-calls");
        var body = el("tbody");
        mine.slice(0, S.max_calls).forEach(function (c) { body.appendChild(callRow(c)); });
        table.appendChild(body);
        box.appendChild(table);
        if (mine.length > S.max_calls) {
          box.appendChild(el("p", "sv-more", fmt(T.more_calls, { n: mine.length - S.max_calls })));
        }
      }
      queuesEl.appendChild(box);
    });
    tickQueues();
  }

  function tickQueues() {
    queuesEl.querySelectorAll(".sv-wait").forEach(function (td) {
      td.textContent = since(Number(td.dataset.since));
    });
    queuesEl.querySelectorAll(".sv-longest").forEach(function (span) {
      var t = Number(span.dataset.since);
      span.textContent = span.dataset.since ? fmt(T.longest, { time: since(t) }) : "";
    });
  }

  var queuesDirty = false;
  var pending = null;
  function later() { // several messages in one flush: one render
    if (pending) return;
    pending = setTimeout(function () { pending = null; renderAgents(); renderQueues(); askIdle(); }, 0);
  }

  // ---- the feed ---------------------------------------------------------------------------

  function byId(list) {
    var out = {};
    (list || []).forEach(function (x) { out[x.id] = x; });
    return out;
  }

  feed.on("snapshot", function (d) {
    agents = byId(d.agents);
    queues = byId(d.queues);
    calls = byId((d.calls || []).filter(function (c) { return c.state !== "ended"; }));
    later();
  });
  feed.on("agent", function (a) { agents[a.id] = a; later(); });
  feed.on("queue", function (q) { queues[q.id] = q; later(); });
  feed.on("call", function (c) {
    if (c.state === "ended") delete calls[c.id]; else calls[c.id] = c;
    later();
  });
  feed.status(function (s) {
    statusEl.dataset.state = s;
    statusEl.textContent = s === "live" ? T.live : T.lost;
    root.classList.toggle("sv-offline", s !== "live");
  });
  queuesEl.addEventListener("focusout", function () { if (queuesDirty) setTimeout(renderQueues, 0); });

  setInterval(function () {
    Object.keys(agents).forEach(function (id) { tickAgent(agents[id]); });
    tickQueues();
    tickChats();
  }, 1000);
  askChats();
  setInterval(askChats, S.chats_every_ms);
  // the reasons change with the callers and the agents, but also with a queue's or an
  // agent's settings: asked again now and then while anyone waits
  setInterval(askIdle, S.idle_every_ms);
})();
