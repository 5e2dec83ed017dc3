// The desk's chats and e-mail threads (the "Chats & e-mail" panel of /desk).
// Events come from /chat-desk/stream (Server-Sent Events), actions go to /chat-desk/api/...
// Every value from the server (names, lines, subjects, file names) goes into the page with
// textContent; an e-mail's HTML, sanitized by the server, is shown only inside an iframe
// sandboxed without scripts (srcdoc), or as text.
(function () {
  "use strict";

  var panel = document.getElementById("desk-chats");
  if (!panel || !window.fetch || !window.EventSource) return;
  var S = JSON.parse(document.getElementById("desk-chat-strings").textContent);
  var API = "/chat-desk/api/";

  function $(id) { return document.getElementById(id); }

  var el = ccboxPage.el;
  var fmt = ccboxPage.fmt;

  function when(value) {
    if (!value) return "";
    var d = new Date(value);
    return isNaN(d.getTime()) ? "" : d.toLocaleTimeString(document.documentElement.lang,
      { hour: "2-digit", minute: "2-digit" });
  }

  function request(method, path, body, raw) {
    var opts = { method: method, credentials: "same-origin", headers: {} };
    if (method !== "GET") opts.headers["X-CSRF-Token"] = panel.dataset.csrf;
    if (raw !== undefined) {
      opts.headers["Content-Type"] = "application/octet-stream";
      opts.body = raw;
    } else if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(API + path, opts).then(ccboxPage.json);
  }

  var msgNode = $("chat-msg");
  function say(text, bad) {
    msgNode.textContent = text || "";
    msgNode.classList.toggle("bad", !!bad);
  }
  function failed(err) { say(fmt(S.failed, { reason: err.message }), true); }

  // ---- state ---------------------------------------------------------------------------
  var convs = {};      // id -> {c: conversation, messages: [], unread, typing, readUpTo}
  var order = [];      // tab order (ids)
  var current = null;  // the selected conversation's id
  var me = null;       // this desk's agent id (the stream's hello)
  var offers = {};     // conversation id -> {node, deadline, timer}
  var pendingFiles = []; // attachments uploaded for the next line: {id, file_name}

  function conv(id) { return convs[id]; }

  function remember(c, messages) {
    var known = convs[c.id];
    if (!known) {
      known = convs[c.id] = { c: c, messages: [], unread: 0, typing: false, readUpTo: 0 };
      order.push(c.id);
    } else {
      known.c = c;
    }
    if (messages) known.messages = messages.slice();
    return known;
  }

  function forget(id) {
    delete convs[id];
    order = order.filter(function (x) { return x !== id; });
    if (current === id) {
      current = null;
      $("chat-text").value = "";
      pendingFiles = [];
      renderFiles();
      if (order.length) { select(order[0]); return; }
    }
    renderTabs();
    renderCurrent();
  }

  // ---- tabs ----------------------------------------------------------------------------
  function tabName(c) {
    return c.name || c.email || c.phone || "#" + c.id;
  }

  function renderTabs() {
    var tabs = $("chat-tabs");
    tabs.textContent = "";
    order.forEach(function (id) {
      var k = convs[id];
      var b = el("button", null, "chat-tab");
      b.appendChild(el("span", k.c.media === "email" ? S.email : S.chat, "chat-media"));
      b.appendChild(document.createTextNode(" " + tabName(k.c)));
      b.type = "button";
      b.setAttribute("role", "tab");
      b.setAttribute("aria-selected", id === current ? "true" : "false");
      b.dataset.test = "chat-tab";
      b.dataset.conversation = String(id);
      b.dataset.state = k.c.state;
      if (k.unread > 0) {
        var badge = el("span", k.unread, "chat-unread");
        badge.dataset.test = "chat-unread";
        b.appendChild(badge);
      }
      b.addEventListener("click", function () { select(id); });
      tabs.appendChild(b);
    });
    $("chat-empty").hidden = order.length > 0;
    $("chat-body").hidden = current === null;
  }

  function select(id) {
    // each conversation keeps its own draft and files: a reply never changes customer
    var before = current !== null ? convs[current] : null;
    if (before && before.c.id !== id) {
      before.draft = $("chat-text").value;
      before.files = pendingFiles;
    }
    if (before && before.c.id === id) {
      // the same one again (a reload): keep what is being typed
    } else {
      $("chat-text").value = (convs[id] && convs[id].draft) || "";
      pendingFiles = (convs[id] && convs[id].files) || [];
    }
    current = id;
    var k = convs[id];
    if (k) k.unread = 0;
    renderFiles();
    $("chat-transfer").hidden = true;
    say("");
    renderTabs();
    renderCurrent();
    if (k) {
      markRead(k);
      loadCanned(id);
      loadContext(id);
      loadSuggestions(id);
    }
  }

  // ---- the selected conversation -------------------------------------------------------
  function renderCurrent() {
    var k = current !== null ? convs[current] : null;
    $("chat-body").hidden = !k;
    if (!k) return;
    var c = k.c;
    $("chat-title").textContent = c.name || c.email || c.phone || "#" + c.id;
    var sub = [];
    if (c.media === "email" && c.subject) sub.push(fmt(S.subject, { subject: c.subject }));
    if (c.queue) sub.push(c.queue);
    if (c.phone) sub.push(c.phone);
    if (c.email) sub.push(c.email);
    if (c.media === "email" && c.due_at) sub.push(fmt(S.due, { at: new Date(c.due_at).toLocaleString() }));
    $("chat-sub").textContent = sub.join(" · ");
    var st = $("chat-state");
    st.textContent = S["state_" + c.state] || c.state;
    st.dataset.state = c.state;
    var active = c.state === "active";
    $("chat-btn-transfer").disabled = !active;
    $("chat-btn-end").disabled = !active;
    $("chat-btn-wrapup").hidden = c.state !== "wrap_up";
    $("chat-send").disabled = !active;
    $("chat-text").disabled = !active;
    $("chat-typing").hidden = !k.typing;
    var lines = $("chat-lines");
    lines.textContent = "";
    k.messages.forEach(function (m) { lines.appendChild(line(k, m)); });
    lines.scrollTop = lines.scrollHeight;
  }

  function who(m) {
    if (m.sender === "customer") return m.author || S.customer;
    if (m.sender === "system") return S.system;
    if (m.sender === "supervisor") return (m.author || "") + " (" + S.supervisor + ")";
    return m.author || S.you;
  }

  function line(k, m) {
    var li = el("li", null, "chat-line chat-" + m.sender + (m.internal ? " chat-internal" : "") +
      (k.c.media === "email" ? " chat-line-mail" : ""));
    li.dataset.test = "chat-line";
    li.dataset.sender = m.sender;
    li.dataset.message = String(m.id);
    var head = el("div", null, "chat-line-head");
    head.appendChild(el("span", who(m), "chat-who"));
    head.appendChild(el("span", when(m.created_at), "chat-time muted"));
    if (m.internal) {
      var tag = el("span", S.internal, "chat-internal-tag");
      tag.dataset.test = "chat-internal";
      head.appendChild(tag);
    }
    if (m.sender === "agent" && k.readUpTo >= m.id) {
      var r = el("span", "✓ " + S.read, "chat-read");
      r.dataset.test = "chat-read";
      head.appendChild(r);
    }
    li.appendChild(head);
    if (k.c.media === "email" && m.html) {
      li.appendChild(mailBody(m));
    } else {
      li.appendChild(el("div", m.body, "chat-text"));
    }
    if (m.attachments && m.attachments.length) {
      var ul = el("ul", null, "chat-attachments");
      m.attachments.forEach(function (a) {
        var item = el("li");
        var link = el("a", a.file_name);
        link.href = API + "file/" + encodeURIComponent(a.id);
        link.setAttribute("download", "");
        link.rel = "noopener";
        link.dataset.test = "chat-attachment";
        item.appendChild(link);
        item.appendChild(el("span", " (" + Math.max(1, Math.round(a.size / 1024)) + " KB)", "muted"));
        ul.appendChild(item);
      });
      li.appendChild(ul);
    }
    return li;
  }

  // An e-mail: its sanitized HTML in an iframe that may run nothing (sandbox without
  // allow-scripts, allow-same-origin or allow-popups), or its text.
  function mailBody(m) {
    var box = el("div", null, "chat-mail");
    var frame = document.createElement("iframe");
    frame.setAttribute("sandbox", "");
    frame.setAttribute("referrerpolicy", "no-referrer");
    frame.className = "chat-mail-html";
    frame.dataset.test = "chat-mail-html";
    frame.srcdoc = m.html;
    var text = el("div", m.body, "chat-text");
    text.hidden = true;
    var toggle = el("button", S.show_text, "link");
    toggle.type = "button";
    toggle.addEventListener("click", function () {
      text.hidden = !text.hidden;
      frame.hidden = !text.hidden;
      toggle.textContent = text.hidden ? S.show_text : S.show_html;
    });
    box.appendChild(toggle);
    box.appendChild(frame);
    box.appendChild(text);
    return box;
  }

  // ---- events from the stream ------------------------------------------------------------
  function onEvent(ev) {
    var k = ev.conversation !== undefined ? conv(ev.conversation) : null;
    switch (ev.type) {
      case "hello":
        me = ev.agent;
        loadAll();
        break;
      case "resync":
        loadAll();
        break;
      case "load":
        $("chat-load").textContent = ev.open + "/" + ev.capacity;
        $("chat-load").dataset.mayTake = ev.may_take ? "yes" : "no";
        break;
      case "offer":
        showOffer(ev);
        break;
      case "offer_withdrawn":
        dropOffer(ev.conversation);
        break;
      case "message":
        if (!k) { loadAll(); break; }
        if (k.messages.some(function (m) { return m.id === ev.message.id; })) break;
        k.messages.push(ev.message);
        if (ev.message.sender === "customer") {
          k.typing = false;
          if (ev.conversation === current && !document.hidden) markRead(k);
          else k.unread += 1;
          if (ev.conversation === current) loadSuggestionsSoon(current);
        }
        renderTabs();
        if (ev.conversation === current) renderCurrent();
        break;
      case "typing":
        if (k && ev.side === "customer") {
          k.typing = !!ev.typing;
          if (ev.conversation === current) $("chat-typing").hidden = !k.typing;
        }
        break;
      case "read":
        if (k && ev.side === "customer") {
          k.readUpTo = Math.max(k.readUpTo, ev.up_to || 0);
          if (ev.conversation === current) renderCurrent();
        }
        break;
      case "state":
        dropOffer(ev.conversation);
        // gone back to a queue, over, or now another agent's (a transfer): no longer a tab
        var others = ev.agent && me !== null && ev.agent.id !== me;
        if (ev.state === "ended" || ev.state === "waiting" || ev.state === "offered" || others) {
          if (k) forget(ev.conversation);
          break;
        }
        if (!k) { loadAll(); break; }
        k.c.state = ev.state;
        if (ev.queue) k.c.queue = ev.queue.name;
        renderTabs();
        if (ev.conversation === current) renderCurrent();
        break;
      case "transferred":
        // passed on by this desk: the engine sends this desk nothing more of it (its
        // next state goes to the agent or queue it went to), so the tab goes now
        if (k && ev.from_agent && me !== null && ev.from_agent.id === me) {
          forget(ev.conversation);
          break;
        }
        // a note is a stored internal line (the history the taking desk loads shows it)
        if (k && !ev.note && ev.to_agent !== undefined && ev.from_agent !== undefined) {
          k.messages.push({ id: 0, sender: "system", body: fmt(S.transferred, { note: ev.note || "" }),
            created_at: new Date().toISOString(), attachments: [] });
          if (ev.conversation === current) renderCurrent();
        }
        break;
      case "ended":
        dropOffer(ev.conversation);
        if (k && ev.conversation === current) say(S.ended);
        break;
      default:
        // co-browsing (cobrowse.*) and the live view are handled by their own scripts
        if (typeof ev.type === "string" && ev.type.indexOf("cobrowse.") === 0) {
          document.dispatchEvent(new CustomEvent("ccbox:cobrowse", { detail: ev }));
        } else if (typeof ev.type === "string") {
          document.dispatchEvent(new CustomEvent("ccbox:deskchat", { detail: ev }));
        }
    }
  }

  // ---- offers ---------------------------------------------------------------------------
  function showOffer(ev) {
    dropOffer(ev.conversation);
    var box = el("div", null, "chat-offer");
    box.dataset.test = "chat-offer";
    box.dataset.conversation = String(ev.conversation);
    var offer = ev.media === "email" ? S.offer_email : S.offer_chat;
    box.appendChild(el("strong", fmt(offer, { name: ev.name || "?" })));
    if (ev.subject) box.appendChild(el("span", " " + ev.subject, "muted"));
    if (ev.queue) {
      var q = typeof ev.queue === "object" ? ev.queue.name : ev.queue;
      box.appendChild(el("span", " · " + fmt(S.offer_queue, { queue: q }), "muted"));
    }
    var left = el("span", "", "chat-countdown");
    left.dataset.test = "chat-offer-countdown";
    box.appendChild(left);
    var ok = el("button", S.accept, "primary");
    ok.type = "button";
    ok.dataset.test = "chat-accept";
    var no = el("button", S.decline);
    no.type = "button";
    no.dataset.test = "chat-decline";
    ok.addEventListener("click", function () {
      ok.disabled = no.disabled = true;
      request("POST", "accept", { conversation: ev.conversation }).then(function () {
        dropOffer(ev.conversation);
        return loadAll(ev.conversation);
      }).catch(function (err) { ok.disabled = no.disabled = false; failed(err); });
    });
    no.addEventListener("click", function () {
      ok.disabled = no.disabled = true;
      request("POST", "decline", { conversation: ev.conversation }).then(function () {
        dropOffer(ev.conversation);
      }).catch(failed);
    });
    box.appendChild(ok);
    box.appendChild(no);
    var deadline = Date.now() + (typeof ev.timeout_s === "number" ? ev.timeout_s : 30) * 1000;
    function tick() {
      var s = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      left.textContent = " " + fmt(S.offer_left, { s: s }) + " ";
      if (s <= 0) dropOffer(ev.conversation);
    }
    tick();
    offers[ev.conversation] = { node: box, timer: setInterval(tick, 1000) };
    $("chat-offers").appendChild(box);
    showTitle();
  }

  // The tab's title counts the offers waiting, so a desk in the background shows them.
  var baseTitle = document.title;
  function showTitle() {
    var n = Object.keys(offers).length;
    document.title = n ? "(" + n + ") " + baseTitle : baseTitle;
  }

  function dropOffer(id) {
    var o = offers[id];
    if (!o) return;
    clearInterval(o.timer);
    if (o.node.parentNode) o.node.parentNode.removeChild(o.node);
    delete offers[id];
    showTitle();
  }

  // ---- loading --------------------------------------------------------------------------
  function loadAll(selectId) {
    return request("GET", "conversations").then(function (data) {
      panel.hidden = false;
      var seen = {};
      data.conversations.forEach(function (c) {
        var messages = c.messages;
        delete c.messages;
        if (c.state === "offered") {  // a banner, not a tab, until it is accepted
          if (!offers[c.id]) {
            showOffer({ conversation: c.id, media: c.media, name: c.name, subject: c.subject,
              queue: c.queue,
              timeout_s: typeof c.offer_left_s === "number" ? c.offer_left_s : data.offer_timeout_s });
          }
          return;
        }
        remember(c, messages);
        seen[c.id] = true;
        dropOffer(c.id);
      });
      order.slice().forEach(function (id) { if (!seen[id]) forget(id); });
      var l = data.load;
      $("chat-load").textContent = l.open + "/" + l.capacity;
      if (selectId !== undefined && convs[selectId]) select(selectId);
      else if (current === null || !convs[current]) {
        if (order.length) select(order[0]); else { current = null; renderTabs(); renderCurrent(); }
      } else { renderTabs(); renderCurrent(); }
    }).catch(function (err) {
      if (err.status === 401) { loggedOut(); return; }
      if (err.status === 503) { panel.hidden = true; return; }
      if (err.status === 403 || err.status === 404) { panel.hidden = true; return; }
      panel.hidden = false;
      failed(err);
    });
  }

  function markRead(k) {
    var last = 0;
    k.messages.forEach(function (m) { if (m.sender === "customer" && m.id > last) last = m.id; });
    if (!last || k.c.state !== "active" || k.lastRead >= last) return;
    k.lastRead = last;
    request("POST", "read", { conversation: k.c.id, up_to: last }).catch(function () {});
  }

  function loadCanned(id) {
    var select = $("chat-canned");
    while (select.options.length > 1) select.remove(1);
    request("GET", "canned?conversation=" + encodeURIComponent(id)).then(function (data) {
      if (current !== id) return;
      while (select.options.length > 1) select.remove(1);  // a second load may have run
      data.replies.forEach(function (r) {
        var o = el("option", r.title);
        o.value = r.text;
        o.dataset.test = "chat-canned-option";
        select.appendChild(o);
      });
    }).catch(function () {});
  }

  function loadContext(id) {
    var box = $("chat-customer"), tickets = $("chat-tickets"), tl = $("chat-timeline");
    box.textContent = ""; tickets.textContent = ""; tl.textContent = "";
    request("GET", "context/" + encodeURIComponent(id)).then(function (data) {
      if (current !== id) return;
      box.textContent = ""; tickets.textContent = ""; tl.textContent = "";
      if (!data.customer) {
        box.appendChild(el("p", S.no_customer, "muted"));
      } else {
        var c = data.customer;
        box.appendChild(el("strong", c.name));
        if (c.numbers.length) box.appendChild(el("div", c.numbers.join(", "), "muted"));
        if (c.email) box.appendChild(el("div", c.email, "muted"));
        var a = el("a", S.open_customer);
        a.href = c.url; a.target = "_blank"; a.rel = "noopener";
        box.appendChild(a);
      }
      if (!data.open_tickets.length) tickets.appendChild(el("li", S.no_tickets, "muted"));
      data.open_tickets.forEach(function (t) {
        var li = el("li");
        var a = el("a", t.number + " " + t.subject);
        a.href = t.url; a.target = "_blank"; a.rel = "noopener";
        li.appendChild(a);
        li.appendChild(el("span", " " + t.state_label, "muted"));
        tickets.appendChild(li);
      });
      if (!data.timeline.length) tl.appendChild(el("li", S.nothing, "muted"));
      data.timeline.forEach(function (item) {
        var li = el("li");
        li.dataset.test = "chat-timeline-item";
        li.appendChild(el("span", new Date(item.at).toLocaleDateString() + " ", "muted"));
        li.appendChild(el("span", item.kind_name + ": ", "chat-kind"));
        if (item.link) {
          var a = el("a", item.title);
          a.href = item.link; a.target = "_blank"; a.rel = "noopener";
          li.appendChild(a);
        } else {
          li.appendChild(el("span", item.title));
        }
        if (item.state) li.appendChild(el("span", " " + item.state, "muted"));
        tl.appendChild(li);
      });
    }).catch(function () {});
  }

  var suggestTimer = null;
  function loadSuggestionsSoon(id) {
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(function () { loadSuggestions(id); }, 1500);
  }

  function loadSuggestions(id) {
    var list = $("chat-kb");
    request("GET", "suggest?conversation=" + encodeURIComponent(id)).then(function (data) {
      if (current !== id) return;
      list.textContent = "";
      if (!data.suggestions.length) list.appendChild(el("li", S.no_articles, "muted"));
      data.suggestions.forEach(function (s) {
        var li = el("li");
        var b = el("button", s.title, "link");
        b.type = "button";
        b.dataset.test = "chat-kb-suggestion";
        b.title = s.url;
        b.addEventListener("click", function () {
          insert(s.title + (s.excerpt ? "\n" + s.excerpt : ""));
        });
        li.appendChild(b);
        var open = el("a", "↗");
        open.href = s.url; open.target = "_blank"; open.rel = "noopener";
        li.appendChild(open);
        list.appendChild(li);
      });
    }).catch(function () {});
  }

  function insert(text) {
    var t = $("chat-text");
    // at the cursor: 0 is a place too (`selectionStart || length` put the text at the end)
    var at = typeof t.selectionStart === "number" ? t.selectionStart : t.value.length;
    var end = typeof t.selectionEnd === "number" ? t.selectionEnd : at;
    t.value = t.value.slice(0, at) + text + t.value.slice(end);
    t.focus();
    t.selectionStart = t.selectionEnd = at + text.length;
  }

  // ---- composing ------------------------------------------------------------------------
  var typingSent = false, typingTimer = null, typingIn = null;
  function typing(on) {
    if (on && typingSent && typingIn !== current) typing(false);  // moved to another tab
    if (typingSent === on || (on && current === null)) return;
    typingSent = on;
    if (on) typingIn = current;
    request("POST", "typing", { conversation: typingIn, typing: on }).catch(function () {});
  }

  $("chat-text").addEventListener("input", function () {
    typing(true);
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { typing(false); }, 4000);
  });

  $("chat-text").addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });

  $("chat-compose").addEventListener("submit", function (e) {
    e.preventDefault();
    send();
  });

  function send() {
    var id = current;
    var text = $("chat-text").value;
    if (id === null || (!text.trim() && !pendingFiles.length)) return;
    var files = pendingFiles.map(function (f) { return f.id; });
    // only what went: a file uploaded while the line is on its way waits for the next one
    function unsent(list) {
      return (list || []).filter(function (f) { return files.indexOf(f.id) < 0; });
    }
    $("chat-send").disabled = true;
    request("POST", "send", { conversation: id, text: text, attachments: files }).then(function (m) {
      var k = conv(id);
      if (id === current) {
        if ($("chat-text").value === text) $("chat-text").value = "";
        pendingFiles = unsent(pendingFiles);
        renderFiles();
      } else if (k) {  // the agent moved to another tab meanwhile: what it typed since stays
        if (k.draft === text) k.draft = "";
        k.files = unsent(k.files);
      }
      clearTimeout(typingTimer);
      if (typingSent && typingIn === id) typing(false);
      if (k && !k.messages.some(function (x) { return x.id === m.id; })) {
        k.messages.push(m);
        if (id === current) renderCurrent();
      }
      say("");
    }).catch(failed).then(function () {
      var k = conv(id);
      $("chat-send").disabled = !(k && k.c.state === "active");
    });
  }

  $("chat-canned").addEventListener("change", function () {
    var value = this.value;
    if (value) insert(value);
    this.value = "";
  });

  $("chat-file").addEventListener("change", function () {
    var input = this, file = input.files && input.files[0], id = current;
    if (!file || id === null) return;
    say(fmt(S.uploading, { name: file.name }));
    var path = "attach?conversation=" + encodeURIComponent(id) + "&name=" + encodeURIComponent(file.name);
    request("POST", path, undefined, file).then(function (a) {
      if (current === id) pendingFiles.push(a);
      else if (convs[id]) convs[id].files = (convs[id].files || []).concat([a]);
      renderFiles();
      say("");
    }).catch(failed).then(function () { input.value = ""; });
  });

  function renderFiles() {
    var ul = $("chat-files");
    ul.textContent = "";
    pendingFiles.forEach(function (f, i) {
      var li = el("li", f.file_name, "chat-file");
      li.dataset.test = "chat-pending-file";
      var x = el("button", "×");
      x.type = "button";
      x.title = S.remove;
      x.addEventListener("click", function () { pendingFiles.splice(i, 1); renderFiles(); });
      li.appendChild(x);
      ul.appendChild(li);
    });
  }

  // ---- actions --------------------------------------------------------------------------
  $("chat-btn-end").addEventListener("click", function () {
    if (current === null) return;
    request("POST", "end", { conversation: current }).catch(failed);
  });

  $("chat-btn-wrapup").addEventListener("click", function () {
    var id = current;
    if (id === null) return;
    request("POST", "wrapup-done", { conversation: id }).then(function () { forget(id); }).catch(failed);
  });

  $("chat-btn-ticket").addEventListener("click", function () {
    var id = current, button = this;
    if (id === null) return;
    button.disabled = true;
    request("POST", "ticket", { conversation: id }).then(function (t) {
      var p = $("chat-ticket-link");
      p.textContent = "";
      p.appendChild(el("span", fmt(S.ticket_made, { number: t.number || "#" + t.ticket_id }) + " "));
      var a = el("a", S.ticket_open);
      a.href = t.url; a.target = "_blank"; a.rel = "noopener";
      a.dataset.test = "chat-ticket-url";
      p.appendChild(a);
      p.hidden = false;
      if (id === current) loadContext(id);
    }).catch(failed).then(function () { button.disabled = false; });
  });

  $("chat-btn-transfer").addEventListener("click", function () {
    var id = current;
    if (id === null) return;
    var form = $("chat-transfer"), target = $("chat-transfer-target");
    target.textContent = "";
    request("GET", "targets?conversation=" + encodeURIComponent(id)).then(function (data) {
      var qg = el("optgroup"); qg.label = S.queues;
      data.queues.forEach(function (q) {
        var o = el("option", q.name); o.value = "queue:" + q.id; qg.appendChild(o);
      });
      var ag = el("optgroup"); ag.label = S.agents;
      data.agents.forEach(function (a) {
        var o = el("option", fmt(S.agent_load, { name: a.number + " " + a.name, open: a.open, capacity: a.capacity }));
        o.value = "agent:" + a.id;
        o.disabled = !a.may_take;
        ag.appendChild(o);
      });
      target.appendChild(qg);
      target.appendChild(ag);
      form.hidden = false;
    }).catch(failed);
  });

  $("chat-transfer-cancel").addEventListener("click", function () { $("chat-transfer").hidden = true; });

  $("chat-transfer").addEventListener("submit", function (e) {
    e.preventDefault();
    var id = current, value = $("chat-transfer-target").value;
    if (id === null || !value) return;
    var parts = value.split(":");
    var body = { conversation: id, note: $("chat-transfer-note").value };
    body[parts[0] === "agent" ? "to_agent" : "to_queue"] = Number(parts[1]);
    request("POST", "transfer", body).then(function () {
      $("chat-transfer").hidden = true;
      $("chat-transfer-note").value = "";
    }).catch(failed);
  });

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && current !== null && convs[current]) markRead(convs[current]);
  });

  // ---- the stream -----------------------------------------------------------------------
  var conn = $("chat-conn");
  // The session is gone (logged out elsewhere, expired): no more retries every 5 s, ever;
  // the agent logs in again.
  var signedOut = false;
  function loggedOut() {
    signedOut = true;
    panel.hidden = false;
    conn.dataset.state = "logged-out";
    conn.textContent = S.logged_out;
    say(S.logged_out, true);
  }
  function connect() {
    var source = new EventSource("/chat-desk/stream");
    source.onopen = function () {
      conn.dataset.state = "open";
      conn.textContent = S.connected;
    };
    source.onmessage = function (e) {
      var ev;
      try { ev = JSON.parse(e.data); } catch (err) { return; }
      onEvent(ev);
    };
    source.onerror = function () {
      conn.dataset.state = "closed";
      conn.textContent = S.reconnecting;
      if (source.readyState === EventSource.CLOSED) {
        // refused (not an agent, not running): ask the API once what is going on
        setTimeout(function () {
          loadAll().then(function () { if (!panel.hidden && !signedOut) connect(); });
        }, 5000);
      }
    };
    window.ccboxDeskChat = { source: source, request: request, current: function () { return current; } };
  }
  loadAll().then(function () { if (!panel.hidden && !signedOut) connect(); });
})();
