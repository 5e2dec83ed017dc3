// The wallboard (/wallboard): per queue calls waiting, longest wait, service level,
// answered/abandoned and agents by state, with the center's totals on top, and a tile per
// logged-in agent (state, time in state, calls handled today); from the live feed's
// "wallboard" topic (webui/static/live.js). The waits and times keep ticking between
// messages. ?queues=a,b (config.queue_ids) shows those queues and the agents who serve them.
// Outbound campaigns get a tile each (the dialer's figures, "campaign" messages): talk
// occupancy, the abandon rate over 24 h (red above the campaign's target) and 30 days, the
// dial level, calls placed, answered and abandoned.
// Chats and e-mails: a tile per channel (calls, chat, e-mail) with its queues' waiting,
// longest wait, active conversations and service level today (e-mail: the unanswered threads
// past their reply due), and a card per chat or e-mail queue ("channel_queue" messages from
// the channels' engine). config.media names what each queue takes: the call cards and the
// totals are the call queues'.
// Everything fits the screen: the tiles that do not are counted on a last "+N more" tile.
// Queue names are admin input and agent data is stored text: everything is shown with
// textContent. Colors come from the settings (#rrggbb, checked by the server) as CSS
// variables.
(function () {
  "use strict";

  var STATES = ["available", "ringing", "on_call", "wrap_up", "paused", "logged_out"];
  var config = JSON.parse(document.getElementById("wb-config").textContent);
  var S = config.settings;
  var T = config.texts;
  var page = document.getElementById("wb");
  var queuesEl = document.getElementById("wb-queues");
  var totalsEl = document.getElementById("wb-totals");
  var conn = document.getElementById("wb-conn");
  var lost = document.getElementById("wb-lost");
  var clock = document.getElementById("wb-clock");
  var tilesEl = document.getElementById("wb-tiles");
  var campaignsEl = queuesEl; // campaign tiles sit among the queues' cards
  var campaignInfo = config.campaigns || {}; // id -> {target, queue_id} from the server
  var only = config.queue_ids; // null: every queue
  var mediaOf = config.media || {}; // queue id -> call, chat, email
  var queueNames = config.queue_names || {};
  var channelsEl = document.getElementById("wb-channels");
  var channelQueues = {}; // id -> {data, at}: the chat and e-mail queues' figures

  var queues = {};   // id -> {data, at (our clock when received)}
  var agents = {};   // id -> agent message (every agent once, for the totals and tiles)
  var everLive = false;
  var tilesDirty = true;

  function wanted(queueId) {
    return only === null || only === undefined || only.indexOf(Number(queueId)) >= 0;
  }

  function isCall(queueId) {
    return (mediaOf[String(queueId)] || "call") === "call";
  }

  // An agent counts on this screen when it serves one of its queues (every agent when all).
  function ours(a) {
    if (only === null || only === undefined) return true;
    return (a.queues || []).some(function (q) { return only.indexOf(Number(q)) >= 0; });
  }

  var root = page.style;
  root.setProperty("--wb-normal", S.color_normal);
  root.setProperty("--wb-warning", S.color_warning);
  root.setProperty("--wb-alarm", S.color_alarm);

  function levelHigh(value, warning, alarm) {
    if (value >= alarm) return "alarm";
    if (value >= warning) return "warning";
    return "normal";
  }

  function levelLow(percent, warning, alarm) {
    if (percent === null) return "normal";
    if (percent < alarm) return "alarm";
    if (percent < warning) return "warning";
    return "normal";
  }

  function duration(s) {
    s = Math.max(0, Math.floor(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var mm = (h ? (m < 10 ? "0" : "") : "") + m;
    return (h ? h + ":" : "") + mm + ":" + (sec < 10 ? "0" : "") + sec;
  }

  function set(el, field, text, level) {
    var node = el.querySelector('[data-field="' + field + '"]');
    if (!node) return;
    if (node.textContent !== text) node.textContent = text;
    if (level) node.setAttribute("data-level", level);
  }

  function agentChips(el, counts) {
    var box = el.querySelector('[data-field="agents"]');
    if (!box) return;
    STATES.forEach(function (state) {
      var chip = box.querySelector('[data-state="' + state + '"]');
      if (!chip) {
        chip = document.createElement("span");
        chip.className = "wb-chip agent-" + state;
        chip.setAttribute("data-state", state);
        var label = document.createElement("span");
        label.textContent = T[state] || state;
        var n = document.createElement("b");
        chip.appendChild(label);
        chip.appendChild(n);
        box.appendChild(chip);
      }
      var text = String(counts[state] || 0);
      var num = chip.querySelector("b");
      if (num.textContent !== text) num.textContent = text;
      chip.classList.toggle("wb-zero", !counts[state]);
    });
  }

  function metric(label, field) {
    var div = document.createElement("div");
    div.className = "wb-metric";
    var l = document.createElement("span");
    l.className = "wb-label";
    l.textContent = label;
    var n = document.createElement("span");
    n.className = "wb-num";
    n.setAttribute("data-field", field);
    n.textContent = "–";
    div.appendChild(l);
    div.appendChild(n);
    return div;
  }

  function small(label, field) {
    var span = document.createElement("span");
    span.appendChild(document.createTextNode(label + " "));
    var b = document.createElement("b");
    b.setAttribute("data-field", field);
    b.textContent = "–";
    span.appendChild(b);
    return span;
  }

  function labelled(className, value) {
    var span = document.createElement("span");
    span.className = className;
    span.textContent = value;
    return span;
  }

  // A card: an <article> of that class and data attribute, a heading of the spans (a space
  // between), a row of big metrics and a row of small counters, each given as [label, field].
  function queueCard(className, attribute, id, heading, bigs, smalls) {
    var el = document.createElement("article");
    el.className = className;
    el.setAttribute(attribute, id);
    var h = document.createElement("h2");
    heading.forEach(function (span, i) {
      if (i) h.appendChild(document.createTextNode(" "));
      h.appendChild(span);
    });
    el.appendChild(h);
    var big = document.createElement("div");
    big.className = "wb-big";
    bigs.forEach(function (m) { big.appendChild(metric(m[0], m[1])); });
    el.appendChild(big);
    var row = document.createElement("div");
    row.className = "wb-small";
    smalls.forEach(function (m) { row.appendChild(small(m[0], m[1])); });
    el.appendChild(row);
    return el;
  }

  // What a queue's card shows big, a call queue's and a chat or e-mail queue's alike.
  var QUEUE_BIG = [[T.waiting, "waiting"], [T.longest_wait, "longest_wait"],
                   [T.service_level, "service_level"]];

  function card(q) {
    var el = queuesEl.querySelector('[data-queue-id="' + Number(q.id) + '"]');
    if (el) return el;
    if (only || !isCall(q.id)) return null; // a chosen set is rendered by the server
    var empty = queuesEl.querySelector(".wb-empty");
    if (empty) empty.remove();
    el = queueCard("wb-queue", "data-queue-id", String(Number(q.id)), [labelled("wb-qname", "")],
              QUEUE_BIG,
              [[T.answered, "answered"], [T.abandoned, "abandoned"], [T.offered, "offered"]]);
    var chips = document.createElement("div");
    chips.className = "wb-agents";
    chips.setAttribute("data-field", "agents");
    el.appendChild(chips);
    queuesEl.appendChild(el);
    return el;
  }

  // The longest wait now: from when the oldest caller joined (server clock), else from the
  // message's value plus the time since it came.
  function longestWait(entry) {
    var q = entry.data;
    if (!q.waiting) return 0;
    if (typeof q.oldest_since === "number") return feed.now() - q.oldest_since;
    return (q.longest_wait_s || 0) + (Date.now() - entry.at) / 1000;
  }

  function percent(sl) {
    return sl === null || sl === undefined ? null : Math.round(sl * 100);
  }

  // A queue's card's three big numbers (QUEUE_BIG), coloured by the wallboard's thresholds.
  function showQueueBig(el, entry) {
    var q = entry.data;
    var wait = longestWait(entry);
    var sl = percent(q.service_level);
    set(el, "waiting", String(q.waiting || 0),
        levelHigh(q.waiting || 0, S.waiting_warning, S.waiting_alarm));
    set(el, "longest_wait", duration(wait),
        levelHigh(wait, S.longest_wait_warning_s, S.longest_wait_alarm_s));
    set(el, "service_level", sl === null ? "–" : sl + "%",
        levelLow(sl, S.service_level_warning, S.service_level_alarm));
  }

  function showQueue(entry) {
    var q = entry.data, el = card(q);
    if (!el) return;
    var name = el.querySelector(".wb-qname");
    var title = q.display_name || q.name || "";
    if (name.textContent !== title) name.textContent = title;
    showQueueBig(el, entry);
    set(el, "answered", String(q.answered || 0));
    set(el, "abandoned", String(q.abandoned || 0));
    set(el, "offered", String(q.offered || 0));
    agentChips(el, q.agents || {});
  }

  function showTotals() {
    var waiting = 0, longest = 0, answered = 0, abandoned = 0, slWeight = 0, slSum = 0;
    Object.keys(queues).forEach(function (id) {
      var entry = queues[id], q = entry.data;
      waiting += q.waiting || 0;
      longest = Math.max(longest, longestWait(entry));
      answered += q.answered || 0;
      abandoned += q.abandoned || 0;
      if (q.service_level !== null && q.service_level !== undefined) {
        var weight = (q.answered || 0) + (q.abandoned || 0) || 1;
        slSum += q.service_level * weight;
        slWeight += weight;
      }
    });
    var sl = slWeight ? Math.round((slSum / slWeight) * 100) : null;
    set(totalsEl, "waiting", String(waiting),
        levelHigh(waiting, S.waiting_warning, S.waiting_alarm));
    set(totalsEl, "longest_wait", duration(longest),
        levelHigh(longest, S.longest_wait_warning_s, S.longest_wait_alarm_s));
    set(totalsEl, "service_level", sl === null ? "–" : sl + "%",
        levelLow(sl, S.service_level_warning, S.service_level_alarm));
    set(totalsEl, "answered", String(answered));
    set(totalsEl, "abandoned", String(abandoned));
    var counts = {};
    Object.keys(agents).forEach(function (id) {
      var a = agents[id];
      if (ours(a)) counts[a.state] = (counts[a.state] || 0) + 1;
    });
    agentChips(totalsEl, counts);
  }

  // ---- agent tiles ----------------------------------------------------------------------

  function text(el, value) {
    if (el.textContent !== value) el.textContent = value;
  }

  function tile(a) {
    var el = tilesEl.querySelector('[data-agent-id="' + Number(a.id) + '"]');
    if (el) return el;
    el = document.createElement("div");
    el.className = "wb-tile";
    el.setAttribute("data-agent-id", String(Number(a.id)));
    ["wb-tile-name", "wb-tile-state", "wb-tile-time", "wb-tile-handled"].forEach(function (c) {
      var span = document.createElement("span");
      span.className = c;
      el.appendChild(span);
    });
    return el;
  }

  function fillTile(el, a) {
    text(el.querySelector(".wb-tile-name"), a.number + " " + (a.name || ""));
    text(el.querySelector(".wb-tile-state"), T[a.state] || a.state);
    text(el.querySelector(".wb-tile-time"), duration(feed.now() - (a.since || feed.now())));
    text(el.querySelector(".wb-tile-handled"),
         a.handled === 1 ? T.call_1 : T.calls_n.replace("{n}", String(a.handled || 0)));
    if (el.getAttribute("data-state") !== a.state) {
      el.setAttribute("data-state", a.state);
      el.className = "wb-tile agent-" + a.state;
    }
  }

  // The logged-in agents of this screen, by number; as many as fit, the rest counted.
  function showTiles() {
    var list = Object.keys(agents).map(function (id) { return agents[id]; }).filter(function (a) {
      return a.state !== "logged_out" && ours(a);
    }).sort(function (x, y) { return String(x.number).localeCompare(String(y.number)); });
    if (tilesDirty) {
      tilesDirty = false;
      var keep = {};
      list.forEach(function (a) { keep[String(a.id)] = true; });
      Array.prototype.forEach.call(tilesEl.querySelectorAll(".wb-tile, .wb-empty"), function (el) {
        if (!keep[el.getAttribute("data-agent-id")]) el.remove();
      });
      list.forEach(function (a) { tilesEl.appendChild(tile(a)); }); // in order
      var more = tilesEl.querySelector(".wb-more");
      if (!more) {
        more = document.createElement("div");
        more.className = "wb-tile wb-more";
      }
      tilesEl.appendChild(more);
      if (!list.length) {
        var empty = document.createElement("p");
        empty.className = "wb-empty";
        empty.textContent = T.no_agents;
        tilesEl.insertBefore(empty, more);
      }
    }
    list.forEach(function (a) { fillTile(tile(a), a); });
    fit(list.length);
  }

  // Show the tiles that fit the space left under the queues; a last tile counts the others.
  function fit(n) {
    var tiles = tilesEl.querySelectorAll(".wb-tile[data-agent-id]");
    var more = tilesEl.querySelector(".wb-more");
    var style = getComputedStyle(tilesEl);
    var cols = style.gridTemplateColumns.split(" ").filter(Boolean).length || 1;
    var rowGap = parseFloat(style.rowGap) || 0;
    var first = tiles[0];
    var capacity = n;
    if (first && !first.hidden) {
      var h = first.getBoundingClientRect().height;
      var rows = Math.max(0, Math.floor((tilesEl.clientHeight + rowGap) / (h + rowGap)));
      capacity = rows * cols;
    } else if (first) {
      first.hidden = false;
      return fit(n);
    }
    var shown = n <= capacity ? n : Math.max(0, capacity - 1);
    Array.prototype.forEach.call(tiles, function (el, i) {
      var hide = i >= shown;
      if (el.hidden !== hide) el.hidden = hide;
    });
    more.hidden = shown >= n;
    text(more, more.hidden ? "" : T.more_agents.replace("{n}", String(n - shown)));
  }

  // ---- campaign tiles -------------------------------------------------------------------

  function campaignWanted(c) {
    if (only === null || only === undefined) return true;
    var info = campaignInfo[String(c.campaign_id)];
    return !!info && only.indexOf(Number(info.queue_id)) >= 0;
  }

  function target(c) {
    if (typeof c.target_abandon_pct === "number") return c.target_abandon_pct;
    var info = campaignInfo[String(c.campaign_id)];
    return info && typeof info.target === "number" ? info.target : 3.0;
  }

  function pct(value, digits) {
    return typeof value === "number" ? value.toFixed(digits) + "%" : "–";
  }

  function campaignTile(c) {
    var id = String(Number(c.campaign_id));
    var el = campaignsEl.querySelector('[data-campaign-id="' + id + '"]');
    if (el) return el;
    el = queueCard("wb-queue wb-campaign", "data-campaign-id", id,
              [labelled("wb-qname", ""), labelled("wb-cstate", "")],
              [[T.occupancy, "occupancy"], [T.abandon_24h, "abandon_24h"], [T.dial_level, "dial_level"]],
              [[T.placed, "placed"], [T.answered, "answered"], [T.abandoned, "abandoned"],
               [T.abandon_30d, "abandon_30d"], [T.target, "target"]]);
    campaignsEl.appendChild(el);
    return el;
  }

  function showCampaign(c) {
    if (!campaignWanted(c)) return;
    var el = campaignTile(c);
    text(el.querySelector(".wb-qname"), c.name || "");
    text(el.querySelector(".wb-cstate"), T["campaign_" + c.state] || c.state || "");
    el.setAttribute("data-state", c.state || "");
    var limit = target(c);
    set(el, "occupancy", typeof c.occupancy === "number" ? Math.round(c.occupancy * 100) + "%" : "–",
        "normal");
    set(el, "abandon_24h", pct(c.abandon_24h, 1), c.abandon_24h > limit ? "alarm" : "normal");
    set(el, "dial_level", typeof c.dial_level === "number" ? c.dial_level.toFixed(2) : "–", "normal");
    set(el, "placed", String(c.placed || 0));
    set(el, "answered", String(c.answered || 0));
    set(el, "abandoned", String(c.abandoned || 0));
    set(el, "abandon_30d", pct(c.abandon_30d, 1));
    set(el, "target", pct(limit, 1));
  }

  // ---- chat and e-mail: their queues' cards and the channels' tiles ---------------------

  function channelCard(q) {
    var id = String(Number(q.id));
    var el = queuesEl.querySelector('[data-channel-queue-id="' + id + '"]');
    if (el || only) return el; // a chosen set is rendered by the server
    var empty = queuesEl.querySelector(".wb-empty");
    if (empty) empty.remove();
    var counters = [[T.active, "active"], [T.answered, "answered"], [T.abandoned, "abandoned"]];
    if (q.media === "email") counters.push([T.sla_breaches, "sla_breaches"]);
    el = queueCard("wb-queue wb-channel-queue", "data-channel-queue-id", id,
              [labelled("wb-media", T["media_" + q.media] || q.media || ""),
               labelled("wb-qname", queueNames[id] || "")],
              QUEUE_BIG, counters);
    queuesEl.appendChild(el);
    return el;
  }

  // The unanswered e-mail threads whose reply is due by now (the server sends the deadlines).
  function breaches(q) {
    var now = feed.now();
    return (q.reply_due || []).filter(function (t) { return t <= now; }).length;
  }

  function showChannelQueue(entry) {
    var q = entry.data, el = channelCard(q);
    if (!el) return;
    showQueueBig(el, entry);
    set(el, "active", String(q.active || 0));
    set(el, "answered", String(q.answered || 0));
    set(el, "abandoned", String(q.abandoned || 0));
    if (q.media === "email") {
      var late = breaches(q);
      set(el, "sla_breaches", String(late), late ? "alarm" : "normal");
    }
  }

  // One tile per channel: its queues summed (calls: the call queues and the agents talking).
  function showChannels() {
    var sums = {};
    ["call", "chat", "email"].forEach(function (m) {
      sums[m] = {waiting: 0, longest: 0, active: 0, slSum: 0, slWeight: 0, late: 0, any: false};
    });
    function add(sum, entry, active) {
      var q = entry.data;
      sum.any = true;
      sum.waiting += q.waiting || 0;
      sum.longest = Math.max(sum.longest, longestWait(entry));
      sum.active += active;
      if (q.service_level !== null && q.service_level !== undefined) {
        var weight = (q.answered || 0) + (q.abandoned || 0) || 1;
        sum.slSum += q.service_level * weight;
        sum.slWeight += weight;
      }
    }
    Object.keys(queues).forEach(function (id) { add(sums.call, queues[id], 0); });
    Object.keys(agents).forEach(function (id) {
      var a = agents[id];
      if (ours(a) && a.state === "on_call") sums.call.active += 1;
    });
    Object.keys(channelQueues).forEach(function (id) {
      var entry = channelQueues[id], sum = sums[entry.data.media];
      if (!sum) return;
      add(sum, entry, entry.data.active || 0);
      if (entry.data.media === "email") sum.late += breaches(entry.data);
    });
    Object.keys(sums).forEach(function (m) {
      var el = channelsEl.querySelector('[data-media="' + m + '"]');
      if (!el) return;
      var sum = sums[m];
      var sl = sum.slWeight ? Math.round((sum.slSum / sum.slWeight) * 100) : null;
      set(el, "waiting", String(sum.waiting),
          levelHigh(sum.waiting, S.waiting_warning, S.waiting_alarm));
      set(el, "longest_wait", duration(sum.longest),
          levelHigh(sum.longest, S.longest_wait_warning_s, S.longest_wait_alarm_s));
      set(el, "active", String(sum.active));
      set(el, "service_level", sl === null ? "–" : sl + "%",
          levelLow(sl, S.service_level_warning, S.service_level_alarm));
      set(el, "sla_breaches", String(sum.late), sum.late ? "alarm" : "normal");
    });
  }

  function channelQueueMessage(q) {
    if (!wanted(q.id)) return;
    channelQueues[q.id] = {data: q, at: Date.now()};
    showChannelQueue(channelQueues[q.id]);
    showChannels();
  }

  function queueMessage(q) {
    if (!wanted(q.id) || !isCall(q.id)) return;
    queues[q.id] = {data: q, at: Date.now()};
    showQueue(queues[q.id]);
    showTotals();
  }

  function tick() {
    Object.keys(queues).forEach(function (id) { showQueue(queues[id]); });
    Object.keys(channelQueues).forEach(function (id) { showChannelQueue(channelQueues[id]); });
    showTotals();
    showChannels();
    showTiles();
    var now = new Date(feed.now() * 1000);
    var hh = now.getHours(), mm = now.getMinutes();
    clock.textContent = (hh < 10 ? "0" : "") + hh + ":" + (mm < 10 ? "0" : "") + mm;
  }

  function showStatus(s) {
    if (s === "live") everLive = true;
    var state = s === "live" ? "live" : (everLive ? "lost" : "connecting");
    conn.setAttribute("data-state", state);
    conn.textContent = state === "live" ? T.live : (state === "lost" ? T.lost : T.connecting);
    lost.hidden = state !== "lost";
    page.classList.toggle("wb-stale", state === "lost");
  }

  // The E1/DAHDI spans in alarm (the live feed's "spans"): a banner naming each span and
  // its alarms while any is in alarm.
  var spansEl = document.getElementById("wb-spans");
  function showSpans(list) {
    spansEl.textContent = "";
    (list || []).forEach(function (s) {
      var line = document.createElement("div");
      line.className = "wb-span-line";
      line.setAttribute("data-span", s.span);
      var alarms = (s.alarms || []).map(function (a) {
        return a + " (" + (T["alarm_" + a] || a) + ")";
      }).join(", ");
      // functions, not strings, as replacements: a "$&" in a span's name stays as it is
      line.textContent = T.span_alarm.replace("{span}", function () { return String(s.span); })
        .replace("{name}", function () { return s.name || ""; })
        .replace("{alarms}", function () { return alarms; });
      spansEl.appendChild(line);
    });
    spansEl.hidden = !(list && list.length);
  }

  var feed = window.ccboxLive.connect({topics: "wallboard"});
  feed.on("snapshot", function (snap) {
    queues = {};
    agents = {};
    (snap.agents || []).forEach(function (a) { agents[a.id] = a; });
    tilesDirty = true;
    var seen = {};
    channelQueues = {};
    (snap.channel_queues || []).forEach(function (q) {
      if (!wanted(q.id)) return;
      channelQueues[q.id] = {data: q, at: Date.now()};
      showChannelQueue(channelQueues[q.id]);
    });
    (snap.queues || []).forEach(function (q) {
      if (!wanted(q.id) || !isCall(q.id)) return;
      seen[String(q.id)] = true;
      queues[q.id] = {data: q, at: Date.now()};
      showQueue(queues[q.id]);
    });
    // A queue deleted while we were away goes.
    Array.prototype.forEach.call(queuesEl.querySelectorAll(".wb-queue:not(.wb-campaign):not(.wb-channel-queue)"), function (el) {
      if (!seen[el.getAttribute("data-queue-id")]) el.remove();
    });
    showTotals();
    Array.prototype.forEach.call(campaignsEl.querySelectorAll(".wb-campaign"), function (el) {
      el.remove();
    });
    (snap.campaigns || []).forEach(showCampaign);
    showSpans(snap.spans);
  });
  feed.on("spans", function (m) { showSpans(m.spans); });
  feed.on("queue", queueMessage);
  feed.on("channel_queue", channelQueueMessage);
  feed.on("campaign", showCampaign);
  feed.on("agent", function (a) {
    var old = agents[a.id];
    agents[a.id] = a;
    if (!old || old.state !== a.state || String(old.queues) !== String(a.queues)) tilesDirty = true;
    showTotals();
    showTiles();
  });
  window.addEventListener("resize", function () { showTiles(); });

  // The queues of this screen, chosen on the page: kept in the URL as ?queues=a,b.
  document.getElementById("wb-choose-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var names = Array.prototype.map.call(
      this.querySelectorAll("input[type=checkbox]:checked"), function (box) { return box.value; });
    location.href = "/wallboard" + (names.length ? "?queues=" + names.map(encodeURIComponent).join(",") : "");
  });
  feed.status(showStatus);
  // Never live within 5 s of opening: say so, not "connecting" forever.
  setTimeout(function () { if (!everLive) { everLive = true; showStatus("reconnecting"); } }, 5000);

  document.getElementById("wb-fullscreen").addEventListener("click", function () {
    if (document.fullscreenElement) {
      document.exitFullscreen();
    } else if (document.documentElement.requestFullscreen) {
      document.documentElement.requestFullscreen().catch(function () {});
    }
  });
  setInterval(tick, 250);
  tick();
})();
