// The agent desktop (/desk) and the supervisors' notices page (/desk/notices).
// Every value from the server (caller ID, customer fields, notes, notices) goes into the page
// with textContent, never as HTML. The translated strings come from the page (#desk-strings).
(function () {
  "use strict";

  var S = JSON.parse(document.getElementById("desk-strings").textContent);
  var L = S.labels;
  var clockOffset = 0; // server time minus this browser's time, in seconds (from a snapshot)

  function $(id) { return document.getElementById(id); }

  var el = ccboxPage.el;
  var fmt = ccboxPage.fmt;

  function now() { return Date.now() / 1000 + clockOffset; }

  function label(group, code) {
    return (L[group] && L[group][code]) || code || "";
  }

  function when(value) {
    if (value === null || value === undefined || value === "") return "";
    var d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    return isNaN(d.getTime()) ? "" : d.toLocaleString(document.documentElement.lang);
  }

  function clock(value) {
    var d = new Date(value * 1000);
    return d.toLocaleTimeString(document.documentElement.lang, { hour: "2-digit", minute: "2-digit" });
  }

  function request(root, method, path, body) {
    var opts = { method: method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRF-Token"] = root.dataset.csrf;
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(ccboxPage.json);
  }

  function say(node, text, bad) {
    node.textContent = text;
    node.classList.toggle("bad", !!bad);
  }

  function failed(node) {
    return function (err) { say(node, fmt(S.failed, { reason: err.message }), true); };
  }

  // ---- notices: the scrolling bar (desk) ----------------------------------------------------
  function NoticeBar(track) {
    this.track = track;
    this.notices = {};
  }
  NoticeBar.prototype.put = function (n) {
    if (!n || n.id === undefined) return;
    this.notices[n.id] = n;
    this.render();
  };
  NoticeBar.prototype.replace = function (list) {
    var self = this;
    self.notices = {};
    (list || []).forEach(function (n) { self.notices[n.id] = n; });
    self.render();
  };
  NoticeBar.prototype.render = function () {
    var self = this, t = now();
    var current = Object.keys(self.notices).map(function (k) { return self.notices[k]; })
      .filter(function (n) { return n.expires_at > t; })
      .sort(function (a, b) { return b.created_at - a.created_at; });
    var key = current.map(function (n) { return n.id + ":" + n.expires_at; }).join(",");
    if (key === self.key) return;
    self.key = key;
    self.track.textContent = "";
    if (!current.length) {
      self.track.appendChild(el("span", S.no_notices, "notice notice-none"));
      self.track.classList.remove("scrolling");
      return;
    }
    current.forEach(function (n) {
      var item = el("span", null, "notice notice-" + n.level);
      item.dataset.id = n.id;
      item.appendChild(el("b", label("levels", n.level)));
      item.appendChild(el("span", n.text, "notice-text"));
      item.appendChild(el("span", n.author + " · " + clock(n.created_at), "notice-meta"));
      self.track.appendChild(item);
    });
    self.track.classList.add("scrolling");
  };

  // ---- the desk -----------------------------------------------------------------------------
  function desk(root) {
    var me = null; // the last /api/desk/me answer or agent message
    var shownCall = null; // the call in the pop panel
    var shownAnswered = false;
    var liveState = null; // "live" | "reconnecting" | null (no live feed)
    var pollOk = true;
    var bar = new NoticeBar($("desk-notices-track"));
    var stateMsg = $("desk-state-msg"), callMsg = $("desk-call-msg");

    function connection() {
      var node = $("desk-conn");
      var lost = !pollOk || liveState === "reconnecting";
      node.dataset.state = lost ? "lost" : "live";
      node.textContent = lost ? S.lost : S.live;
    }

    function showState(a) {
      var before = me && me.state;
      me = Object.assign(me || {}, a);
      if (before !== me.state && typeof loadControl === "function") loadControl();
      var name = $("desk-state-name");
      name.textContent = label("states", me.state);
      name.className = "state agent-" + me.state;
      $("desk-state-reason").textContent = me.state === "paused" ? label("reasons", me.reason) : "";
      if (typeof me.in_state_s === "number") me.since_local = Date.now() / 1000 - me.in_state_s;
      if (typeof a.since === "number") me.since_local = a.since - clockOffset;
      var s = me.state;
      $("btn-login").disabled = s !== "logged_out";
      $("btn-ready").disabled = s !== "paused";
      $("btn-pause").disabled = s === "logged_out" || s === "paused";
      $("btn-wrapup").disabled = s !== "wrap_up";
      // Stuck ringing or on a call the phone does not have: the server checks the switch.
      $("btn-release").disabled = s !== "ringing" && s !== "on_call";
      $("btn-logout").disabled = s === "logged_out";
      if (shownCall !== null && shownAnswered && s !== "on_call" && s !== "ringing") {
        $("desk-pop").dataset.state = "ended";
        $("pop-status").textContent = S.ended;
      }
      if (s !== "on_call") showRecording(null);
      if (s === "wrap_up" && shownCall !== null) $("notes-disposition").focus();
    }

    function tick() {
      if (me && me.since_local) {
        var secs = Math.max(0, Math.floor(Date.now() / 1000 - me.since_local));
        var m = Math.floor(secs / 60), sec = secs % 60;
        $("desk-state-time").textContent = m + ":" + (sec < 10 ? "0" : "") + sec;
      }
      bar.render();
    }

    function setText(id, text) { $(id).textContent = text || ""; }

    function fillPop(p) {
      setText("pop-number", p.caller_number || S.unknown_caller);
      setText("pop-name", p.caller_name);
      setText("pop-queue", p.queue);
      fillCustomer(p);
      var ivr = $("pop-ivr");
      ivr.textContent = "";
      if (!p.ivr.length) ivr.appendChild(el("li", S.no_ivr, "muted"));
      p.ivr.forEach(function (s) {
        var li = el("li");
        li.appendChild(el("span", s.node, "pop-node"));
        li.appendChild(el("code", s.input));
        ivr.appendChild(li);
      });
      fillTickets(p);
      fillSuggestions(p.kb_suggestions);
      var body = $("pop-history");
      body.textContent = "";
      if (!p.last_calls.length) {
        var tr = el("tr"), td = el("td", S.no_history, "muted");
        td.colSpan = 5;
        tr.appendChild(td);
        body.appendChild(tr);
      }
      p.last_calls.forEach(function (h) {
        var row = el("tr");
        row.appendChild(el("td", when(h.started_at)));
        row.appendChild(el("td", h.queue));
        row.appendChild(el("td", h.agent));
        row.appendChild(el("td", h.notes.map(function (n) {
          return label("dispositions", n.disposition);
        }).join(", ") || h.outcome_label));
        row.appendChild(el("td", h.notes.map(function (n) { return n.notes; }).join(" / "), "pop-note"));
        body.appendChild(row);
      });
      var notes = $("pop-notes");
      notes.textContent = "";
      p.notes.forEach(function (n) { notes.appendChild(noteItem(n)); });
    }

    // The customer card: the class badge, the record's fields, a link to the record; no
    // record: one click creates it with the caller's number (the name as caller ID gave it,
    // editable: it is whatever the caller's side sent).
    function fillCustomer(p) {
      var c = p.customer, dl = $("pop-customer"), badge = $("pop-class");
      dl.textContent = "";
      var none = $("pop-no-customer"), link = $("pop-customer-link"), form = $("desk-new-customer");
      badge.hidden = !c || !c.class_label;
      if (c && c.class_label) {
        badge.textContent = c.class_label;
        badge.dataset.cls = c["class"];
      }
      if (c) {
        var rows = [["name", c.name], ["account", c.account], ["numbers", c.numbers.join(", ")],
          ["email", c.email], ["note", c.note]];
        rows.forEach(function (r) {
          if (!r[1]) return;
          dl.appendChild(el("dt", S["f_" + r[0]]));
          dl.appendChild(el("dd", r[1], "pop-" + r[0]));
        });
        (c.fields || []).forEach(function (f) {
          if (!f.value) return;
          dl.appendChild(el("dt", f.label));
          var dd = el("dd", f.value, "pop-field");
          dd.dataset.key = f.key;
          dl.appendChild(dd);
        });
        link.href = c.url;
        link.hidden = false;
        none.hidden = true;
        form.hidden = true;
      } else {
        link.hidden = true;
        none.textContent = S.no_customer;
        none.hidden = false;
        form.hidden = !p.caller_number;
        if (!form.dataset.callId || form.dataset.callId !== String(p.call_id)) {
          form.dataset.callId = p.call_id;
          // caller ID may be longer than a name may be: cut to the field's size
          $("new-customer-name").value = (p.caller_name || "").slice(0, 128);
          say($("new-customer-msg"), "");
        }
      }
    }

    function fillTickets(p) {
      var list = $("pop-tickets");
      list.textContent = "";
      if (!p.open_tickets.length) list.appendChild(el("li", S.no_tickets, "muted"));
      p.open_tickets.forEach(function (t) {
        var li = el("li", null, t.overdue ? "ticket-overdue" : "");
        li.dataset.id = t.id;
        var a = el("a", t.number + " " + t.subject);
        a.href = t.url;
        li.appendChild(a);
        li.appendChild(el("span", t.state_label, "state ticket-" + t.state));
        li.appendChild(el("span", t.priority_label, "muted"));
        if (t.due_at) {
          li.appendChild(el("span", fmt(t.overdue ? S.overdue_since : S.due, { when: when(t.due_at) }),
            t.overdue ? "bad" : "muted"));
        }
        list.appendChild(li);
      });
      var open = $("pop-new-ticket");
      open.href = p.new_ticket_url;
      open.hidden = !p.new_ticket_url;
    }

    function fillSuggestions(items) {
      var list = $("pop-kb");
      list.textContent = "";
      if (!items.length) list.appendChild(el("li", S.no_suggestions, "muted"));
      items.forEach(function (a) {
        var li = el("li"), link = el("a", a.title);
        link.href = a.url;
        link.target = "_blank";
        link.rel = "noopener";
        li.appendChild(link);
        if (a.category) li.appendChild(el("span", a.category, "muted"));
        list.appendChild(li);
      });
    }

    $("desk-new-customer").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var msg = $("new-customer-msg");
      request(root, "POST", "/api/desk/customer", {
        call_id: shownCall, name: $("new-customer-name").value,
      }).then(function (r) {
        say(msg, r.message);
        loadPop(shownCall);
      }, failed(msg));
    });

    // The knowledge base's search: titles link to the article, the snippet's matches are
    // marked (the server sends text pieces, never HTML).
    $("desk-kb-search").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var msg = $("kb-msg"), list = $("kb-hits"), q = $("kb-query").value.trim();
      list.textContent = "";
      if (!q) { say(msg, S.kb_type, true); return; }
      say(msg, "");
      request(root, "GET", "/api/desk/kb?q=" + encodeURIComponent(q)).then(function (r) {
        if (!r.hits.length) say(msg, S.kb_none);
        r.hits.forEach(function (h) {
          var li = el("li"), link = el("a", h.title, "kb-title");
          link.href = h.url;
          link.target = "_blank";
          link.rel = "noopener";
          li.appendChild(link);
          var snip = el("p", null, "kb-snippet");
          h.snippet.forEach(function (part) { snip.appendChild(el(part[1] ? "mark" : "span", part[0])); });
          li.appendChild(snip);
          list.appendChild(li);
        });
      }, failed(msg));
    });

    function noteItem(n) {
      var li = el("li");
      li.appendChild(el("b", label("dispositions", n.disposition)));
      li.appendChild(el("span", n.notes, "pop-note"));
      li.appendChild(el("span", when(n.created_at), "muted"));
      return li;
    }

    function loadPop(callId) {
      return request(root, "GET", "/api/desk/pop?call_id=" + encodeURIComponent(callId))
        .then(function (p) { if (p.call_id === shownCall) fillPop(p); })
        .catch(failed(callMsg));
    }

    function offer(o) {
      if (o.call_id === null || o.call_id === undefined) return;
      var answered = o.state === "answered";
      if (o.call_id === shownCall && (shownAnswered || !answered)) return;
      var fresh = o.call_id !== shownCall;
      shownCall = o.call_id;
      shownAnswered = answered;
      $("desk-pop").hidden = false;
      $("desk-pop").dataset.callId = o.call_id;
      $("desk-pop").dataset.state = answered ? "answered" : "ringing";
      setText("pop-status", answered ? S.answered : S.ringing);
      if (fresh) {
        if (o.caller_number !== undefined) setText("pop-number", o.caller_number || S.unknown_caller);
        if (o.caller_name !== undefined) setText("pop-name", o.caller_name);
        $("desk-notes").reset();
        say($("notes-msg"), "");
        $("pop-notes").textContent = "";
      }
      // a callback has no calls row yet ("acd-N"): the offer's caller is all there is
      if (typeof o.call_id === "number") loadPop(o.call_id);
      if (answered) loadRecording();
    }

    function fromMe(a) {
      showState(a);
      if (a.call_id !== null && a.call_id !== undefined && a.state !== "wrap_up") {
        offer({ call_id: a.call_id, state: a.state === "ringing" ? "ringing" : "answered" });
      }
    }

    function poll() {
      return request(root, "GET", "/api/desk/me").then(function (a) {
        pollOk = true;
        connection();
        fromMe(a);
        loadControl();
      }, function (err) {
        pollOk = err.status === 404; // a login that is no agent's is still connected
        connection();
        if (err.status === 404) say(stateMsg, err.message, true);
      });
    }

    function loadNotices() {
      return request(root, "GET", "/api/notices/").then(function (d) { bar.replace(d.notices); },
        function () {});
    }

    root.querySelectorAll("button[data-action]").forEach(function (b) {
      b.addEventListener("click", function () {
        var body = { action: b.dataset.action };
        if (body.action === "pause") body.reason = $("pause-reason").value;
        say(stateMsg, "");
        request(root, "POST", "/api/acd/state", body).then(showState, failed(stateMsg));
      });
    });

    $("desk-transfer").addEventListener("submit", function (ev) {
      ev.preventDefault();
      say(callMsg, "");
      request(root, "POST", "/api/acd/transfer", {
        kind: $("transfer-kind").value,
        target: $("transfer-target").value,
        attended: $("transfer-attended").checked,
      }).then(function (r) { say(callMsg, r.result); }, failed(callMsg));
    });

    // Call control (/api/desk/<action>): hold, mute, hang up, dial, consult, conference.
    var controlMsg = $("desk-control-msg");

    function showControl(st) {
      var on = !!st.on_call, held = !!st.held, busy = !!st.consulting || !!st.conference;
      $("btn-hold").disabled = !on || held || busy;
      $("btn-resume").disabled = !held;
      $("btn-mute").disabled = !on || st.muted;
      $("btn-unmute").disabled = !st.muted;
      $("btn-hangup").disabled = !on || !!st.consulting;
      $("btn-dial").disabled = on;
      $("btn-redial").disabled = on || !st.last_number;
      $("btn-consult").disabled = !on || held || busy;
      $("btn-complete").disabled = !busy;
      $("btn-conference").disabled = !st.consulting;
      $("btn-cancel").disabled = !st.consulting;
      var parts = [];
      if (held) parts.push(S.ctl_held);
      if (st.muted) parts.push(S.ctl_muted);
      if (st.consulting) parts.push(fmt(S.ctl_consulting, { who: st.consulting }));
      if (st.conference) parts.push(S.ctl_conference);
      $("desk-control-state").textContent = parts.join(" ");
    }

    function loadControl() {
      return request(root, "GET", "/api/desk/control").then(showControl, function () {});
    }

    function control(action, body) {
      say(controlMsg, "");
      return request(root, "POST", "/api/desk/" + action, body || {}).then(function (r) {
        say(controlMsg, r.message);
        showControl(r.state);
      }, function (err) { failed(controlMsg)(err); loadControl(); });
    }

    root.querySelectorAll("button[data-call]").forEach(function (b) {
      b.addEventListener("click", function () {
        var action = b.dataset.call;
        if (action === "mute" || action === "unmute") control("mute", { muted: action === "mute" });
        else control(action);
      });
    });

    $("desk-dial").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var typed = $("dial-number").value.trim();
      // empty: call back the customer shown, with the caller ID of the line they called
      var body = typed ? { number: typed }
        : { number: $("pop-number").textContent, call_id: shownCall };
      body.auto_answer = $("dial-auto-answer").checked;
      try { localStorage.setItem("ccbox.autoAnswer", body.auto_answer ? "1" : ""); } catch (e) {}
      if (!typed && typeof shownCall !== "number") { say(controlMsg, S.ctl_no_number, true); return; }
      control("dial", body);
    });

    // a PJSIP phone that honours the auto-answer headers: remembered in this browser
    try { $("dial-auto-answer").checked = localStorage.getItem("ccbox.autoAnswer") === "1"; } catch (e) {}

    // a queue is one of the agent's, picked from a list; the others are typed
    function consultKind() {
      var queue = $("consult-kind").value === "queue";
      $("consult-queue").hidden = !queue;
      $("consult-target").hidden = queue;
    }
    $("consult-kind").addEventListener("change", consultKind);
    consultKind();

    $("desk-consult").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var kind = $("consult-kind").value;
      var target = kind === "queue" ? $("consult-queue").value : $("consult-target").value.trim();
      control("consult", { kind: kind, target: target });
    });

    // The recording of the agent's own call: its state, and the buttons that apply to it.
    function showRecording(st) {
      var node = $("desk-rec-state");
      var state = !st ? "none" : !st.recording ? "off" : st.paused ? "paused" : "on";
      node.dataset.state = state;
      node.textContent = { none: "", off: S.rec_off, paused: S.rec_paused, on: S.rec_on }[state];
      $("btn-rec-pause").disabled = state !== "on";
      $("btn-rec-resume").disabled = state !== "paused";
      $("btn-rec-start").disabled = state !== "off";
    }

    function loadRecording() {
      return request(root, "GET", "/api/recording_control/status")
        .then(showRecording, function () { showRecording(null); });
    }

    [["btn-rec-pause", "pause", "paused_rec"], ["btn-rec-resume", "resume", "resumed_rec"],
     ["btn-rec-start", "start", "started_rec"]].forEach(function (b) {
      $(b[0]).addEventListener("click", function () {
        say(callMsg, "");
        request(root, "POST", "/api/recording_control/" + b[1], {})
          .then(function (st) { showRecording(st); say(callMsg, S[b[2]]); },
            function (err) { failed(callMsg)(err); loadRecording(); });
      });
    });

    $("desk-notes").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var msg = $("notes-msg");
      var disposition = $("notes-disposition").value;
      if (!disposition) { say(msg, S.pick_disposition, true); return; }
      request(root, "POST", "/api/desk/notes", {
        call_id: shownCall, disposition: disposition, notes: $("notes-text").value,
      }).then(function (n) {
        say(msg, S.saved);
        $("pop-notes").appendChild(noteItem(n));
        $("notes-text").value = "";
      }, failed(msg));
    });

    // "Don't call me": the shown call's number, or the one typed, on the do-not-call list.
    $("desk-dnc").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var msg = $("dnc-msg");
      var typed = $("dnc-number").value.trim();
      var body = typed ? { number: typed } : shownCall !== null ? { call_id: shownCall } : {};
      request(root, "POST", "/api/desk/dnc", body).then(function (r) {
        say(msg, r.message);
        $("dnc-number").value = "";
      }, failed(msg));
    });

    if (window.ccboxLive) {
      var feed = window.ccboxLive.connect({ topics: "all" });
      if (window.ccboxDeskLead) window.ccboxDeskLead(feed); // a campaign's lead (desk_lead.js)
      feed.status(function (s) { liveState = s; connection(); if (s === "live") poll(); });
      feed.on("snapshot", function (d) {
        if (typeof d.server_time === "number") clockOffset = d.server_time - Date.now() / 1000;
        if (d.notices) bar.replace(d.notices);
        (d.agents || []).forEach(function (a) { if (me && a.number === me.number) showState(a); });
      });
      feed.on("agent", function (a) { if (me && a.number === me.number) showState(a); });
      feed.on("offer", offer);
      feed.on("notice", function (n) { bar.put(n); });
    }
    poll();
    loadNotices();
    // The feed brings changes at once; the poll is the fallback (and the connection check).
    setInterval(poll, window.ccboxLive ? 5000 : 2000);
    setInterval(loadNotices, window.ccboxLive ? 60000 : 10000);
    setInterval(tick, 1000);
  }

  // ---- the supervisors' notices page --------------------------------------------------------
  function noticesAdmin(root) {
    var queues = {};
    $("notice-queue").querySelectorAll("option").forEach(function (o) {
      queues[o.value] = o.textContent;
    });
    var msg = $("notice-msg");

    // Whom a notice is for: a queue's agents, one agent (a ticket's escalation), the
    // supervisors only (an unassigned ticket's), or everyone.
    function audience(n) {
      if (n.queue_id !== null) return queues[n.queue_id] || String(n.queue_id);
      if (n.agent_id !== null && n.agent_id !== undefined) {
        return fmt(S.agent_number, { number: n.agent_number || String(n.agent_id) });
      }
      return n.supervisors ? S.supervisors_only : S.everyone;
    }

    function load() {
      request(root, "GET", "/api/notices/").then(function (d) {
        var body = $("notice-list");
        body.textContent = "";
        d.notices.forEach(function (n) {
          var row = el("tr");
          row.dataset.id = n.id;
          row.appendChild(el("td", label("levels", n.level), "notice-" + n.level));
          row.appendChild(el("td", n.text, "notice-text"));
          row.appendChild(el("td", audience(n)));
          row.appendChild(el("td", n.author));
          row.appendChild(el("td", when(n.expires_at)));
          var cell = el("td"), b = el("button", S.withdraw);
          b.type = "button";
          b.addEventListener("click", function () {
            request(root, "POST", "/api/notices/withdraw", { id: n.id }).then(load, failed(msg));
          });
          cell.appendChild(b);
          row.appendChild(cell);
          body.appendChild(row);
        });
      }, failed(msg));
    }

    $("notice-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var q = $("notice-queue").value;
      request(root, "POST", "/api/notices/", {
        text: $("notice-text").value,
        level: $("notice-level").value,
        queue_id: q === "" ? null : parseInt(q, 10),
        minutes: parseInt($("notice-minutes").value, 10),
      }).then(function () {
        say(msg, S.saved);
        $("notice-text").value = "";
        load();
      }, failed(msg));
    });
    load();
  }

  if ($("desk")) desk($("desk"));
  if ($("notices-admin")) noticesAdmin($("notices-admin"));
})();
