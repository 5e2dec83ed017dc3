// ccboxLive: the live-events stream (GET /events, Server-Sent Events) for every page.
//
//   const feed = ccboxLive.connect({topics: "all" | "wallboard"});
//   feed.on("snapshot", (data) => ...);   // the whole state: first, and after a gap
//   feed.on("agent" | "queue" | "campaign" | "call" | "offer" | "notice" | "alarm" | "tickets", (data) => ...);
//   feed.status((s) => ...);              // "live" | "reconnecting"
//   feed.now();                           // the server's clock (epoch s), from server_time
//   feed.close();
//
// Every message is JSON; its strings (caller names...) are attacker-controlled: show them
// with textContent, never innerHTML. The browser's EventSource reconnects by itself and
// sends Last-Event-ID, so the server replays what was missed (or sends a new snapshot).
// When the browser gives up (the server said 401/5xx, or the stream closed), we make a
// new EventSource after a growing delay, with the last id in ?last_id=.
(function (global) {
  "use strict";

  var KINDS = ["snapshot", "agent", "queue", "campaign", "call", "offer", "lead", "notice", "alarm", "tickets", "spans"];
  var MIN_DELAY_MS = 1000;
  var MAX_DELAY_MS = 30000;

  function connect(options) {
    options = options || {};
    var topics = options.topics === "wallboard" ? "wallboard" : "all";
    var url = options.url || "/events";
    var handlers = {};
    var statusHandlers = [];
    var state = "reconnecting";
    var lastId = "";
    var offsetS = 0; // server clock minus ours, in seconds
    var source = null;
    var timer = null;
    var delay = MIN_DELAY_MS;
    var closed = false;

    function setStatus(s) {
      if (s === state) return;
      state = s;
      statusHandlers.forEach(function (fn) {
        try { fn(s); } catch (e) { if (global.console) console.error(e); }
      });
    }

    function dispatch(kind, ev) {
      var data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      if (ev.lastEventId) lastId = ev.lastEventId;
      if (kind === "snapshot" && typeof data.server_time === "number") {
        offsetS = data.server_time - Date.now() / 1000;
      }
      (handlers[kind] || []).forEach(function (fn) {
        try { fn(data); } catch (e) { if (global.console) console.error(e); }
      });
    }

    function open() {
      timer = null;
      if (closed) return;
      var full = url + "?topics=" + topics;
      if (lastId) full += "&last_id=" + encodeURIComponent(lastId);
      source = new EventSource(full);
      source.onopen = function () {
        delay = MIN_DELAY_MS;
        setStatus("live");
      };
      source.onerror = function () {
        setStatus("reconnecting");
        if (source && source.readyState === 2) { // CLOSED: the browser will not retry
          source = null;
          retry();
        }
      };
      KINDS.forEach(function (kind) {
        source.addEventListener(kind, function (ev) { dispatch(kind, ev); });
      });
    }

    function retry() {
      if (closed || timer) return;
      timer = setTimeout(open, delay + Math.random() * 500);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }

    var feed = {
      on: function (kind, fn) {
        (handlers[kind] = handlers[kind] || []).push(fn);
        return feed;
      },
      status: function (fn) {
        statusHandlers.push(fn);
        try { fn(state); } catch (e) { if (global.console) console.error(e); }
        return feed;
      },
      now: function () { return Date.now() / 1000 + offsetS; },
      offset: function () { return offsetS; },
      lastId: function () { return lastId; },
      close: function () {
        closed = true;
        if (timer) clearTimeout(timer);
        if (source) source.close();
        source = null;
        setStatus("reconnecting");
      }
    };
    // Handlers are added right after connect() returns: open on the next turn.
    timer = setTimeout(open, 0);
    return feed;
  }

  global.ccboxLive = { connect: connect };
})(window);
