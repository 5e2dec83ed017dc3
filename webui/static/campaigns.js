// The campaign pages (/admin/campaigns, /admin/campaigns/edit): the dialer's live figures
// from the live feed ("campaign" messages) into every element with data-campaign-id, the
// abandon rate marked when above the campaign's target (data-target); and on a campaign's
// page, the import of an uploaded list followed until it is done (its progress polled, then
// its bad rows listed). Campaign names and bad rows' reasons are shown with textContent.
(function () {
  "use strict";

  var T = JSON.parse(document.getElementById("campaign-texts").textContent);

  function set(scope, field, text, level) {
    var el = scope.querySelector('[data-field="' + field + '"]');
    if (!el) return;
    if (el.textContent !== text) el.textContent = text;
    if (level !== undefined) el.setAttribute("data-level", level);
  }

  function pct(value) {
    return typeof value === "number" ? value.toFixed(1) + "%" : "–";
  }

  function show(c) {
    var els = document.querySelectorAll('[data-campaign-id="' + Number(c.campaign_id) + '"]');
    Array.prototype.forEach.call(els, function (el) {
      var target = parseFloat(el.getAttribute("data-target"));
      if (isNaN(target)) target = 3.0;
      set(el, "state", T[c.state] || c.state || "");
      set(el, "occupancy",
          typeof c.occupancy === "number" ? Math.round(c.occupancy * 100) + "%" : "–");
      set(el, "abandon_24h", pct(c.abandon_24h), c.abandon_24h > target ? "alarm" : "normal");
      set(el, "abandon_30d", pct(c.abandon_30d), c.abandon_30d > target ? "alarm" : "normal");
      set(el, "dial_level", typeof c.dial_level === "number" ? c.dial_level.toFixed(2) : "–");
      ["placed", "answered", "abandoned", "machines", "in_flight"].forEach(function (f) {
        set(el, f, String(c[f] || 0));
      });
    });
    var chip = document.querySelector("h1 [data-field=state]");
    var live = document.getElementById("live");
    if (chip && live && Number(live.getAttribute("data-campaign-id")) === Number(c.campaign_id)) {
      chip.textContent = T[c.state] || c.state || "";
    }
  }

  if (window.ccboxLive) {
    var feed = window.ccboxLive.connect({topics: "all"});
    feed.on("snapshot", function (snap) { (snap.campaigns || []).forEach(show); });
    feed.on("campaign", show);
  }

  // ---- an import in progress ----------------------------------------------------------

  var box = document.getElementById("import");
  if (!box || box.getAttribute("data-done") === "true") return;
  var token = box.getAttribute("data-token");

  function text(id, value) {
    var el = document.getElementById(id);
    if (el && el.textContent !== value) el.textContent = value;
  }

  function finish(p) {
    var table = document.getElementById("bad-rows");
    var body = table.querySelector("tbody");
    while (body.firstChild) body.removeChild(body.firstChild);
    (p.bad || []).forEach(function (b) {
      var tr = document.createElement("tr");
      var line = document.createElement("td");
      line.textContent = String(b.line);
      var reason = document.createElement("td");
      reason.textContent = b.reason;
      tr.appendChild(line);
      tr.appendChild(reason);
      body.appendChild(tr);
    });
    table.hidden = !(p.bad && p.bad.length);
    var error = document.getElementById("import-error");
    error.textContent = p.error || "";
    error.hidden = !p.error;
    box.setAttribute("data-done", "true");
  }

  function poll() {
    fetch("/admin/campaigns/progress?job=" + encodeURIComponent(token), {
      credentials: "same-origin", headers: {"Accept": "application/json"}
    }).then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      return r.json();
    }).then(function (p) {
      var bar = document.getElementById("import-bar");
      bar.value = p.done ? 100 : p.percent || 0;
      bar.textContent = Math.round(bar.value) + "%";
      text("import-state", p.state_text || p.state);
      text("import-ok", String(p.rows_ok));
      text("import-bad", String(p.rows_bad));
      if (p.done) finish(p); else setTimeout(poll, 500);
    }).catch(function () { setTimeout(poll, 2000); });
  }
  poll();
})();
