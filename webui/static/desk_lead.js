// The agent's campaign lead on the desk (templates/desk_lead.html): the lead, its list
// fields and the campaign's script from the live feed's "lead" messages; preview's "Dial now"
// and "Skip"; the disposition form (with an optional callback). desk.js hands over its feed
// (window.ccboxDeskLead). Every value goes into the page with textContent, never as HTML.
(function () {
  "use strict";

  function $(id) { return document.getElementById(id); }
  var root = $("desk-lead");
  if (!root) return;
  var S = JSON.parse($("desk-lead-strings").textContent);
  var shown = null; // the lead message on screen
  var feed = null;

  function fmt(template, values) {
    return template.replace(/\{(\w+)\}/g, function (m, k) {
      return Object.prototype.hasOwnProperty.call(values, k) ? String(values[k]) : m;
    });
  }

  function say(node, text, bad) {
    node.textContent = text || "";
    node.classList.toggle("bad", !!bad);
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": root.dataset.csrf },
      body: JSON.stringify(body),
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw new Error(data.error || String(r.status));
        return data;
      });
    });
  }

  function now() { return feed ? feed.now() : Date.now() / 1000; }

  function countdown() {
    if (!shown || shown.state !== "preview") return;
    var left = Math.max(0, Math.ceil(shown.at + shown.dial_in_s - now()));
    $("lead-countdown").textContent = fmt(S.dial_in, { s: left });
  }

  function hide() {
    shown = null;
    root.hidden = true;
    root.dataset.state = "";
  }

  function show(lead) {
    if (!lead) { hide(); return; }
    if (lead.state === "withdrawn") {
      if (shown && shown.lead_id === lead.lead_id) hide();
      return;
    }
    var fresh = !shown || shown.lead_id !== lead.lead_id || shown.attempt_id !== lead.attempt_id;
    shown = lead;
    root.hidden = false;
    root.dataset.state = lead.state;
    root.dataset.leadId = lead.lead_id;
    $("lead-status").textContent = S["state_" + lead.state] || lead.state;
    $("lead-campaign").textContent = lead.campaign;
    $("lead-number").textContent = lead.number;
    $("lead-name").textContent = lead.name;
    var dl = $("lead-fields");
    dl.textContent = "";
    (lead.fields || []).forEach(function (f) {
      var dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = f[0];
      dd.textContent = f[1];
      dl.appendChild(dt);
      dl.appendChild(dd);
    });
    $("lead-script").textContent = lead.script || S.no_script;
    var preview = lead.state === "preview";
    $("lead-preview").hidden = !preview;
    $("btn-lead-dial").disabled = !preview;
    $("btn-lead-skip").disabled = !preview;
    countdown();
    var form = $("lead-form");
    // the attempt is the agent's once it answered: the disposition from then on (a customer
    // who hung up before that is no call of the agent's)
    form.hidden = !lead.talked;
    if (fresh) {
      say($("lead-preview-msg"), "");
      say($("lead-msg"), "");
      form.reset();
      delete root.dataset.saved;
      var select = $("lead-disposition");
      while (select.options.length > 1) select.remove(1);
      (lead.dispositions || []).forEach(function (d) {
        var o = document.createElement("option");
        o.value = d;
        o.textContent = d;
        select.appendChild(o);
      });
    }
  }

  function preview(action) {
    var msg = $("lead-preview-msg");
    say(msg, "");
    post("/api/desk_lead/" + action, {}).then(function (r) { say(msg, r.message); },
      function (err) { say(msg, fmt(S.failed, { reason: err.message }), true); });
  }

  $("btn-lead-dial").addEventListener("click", function () { preview("dial_now"); });
  $("btn-lead-skip").addEventListener("click", function () { preview("skip"); });

  $("lead-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var msg = $("lead-msg");
    if (!shown || !shown.attempt_id) return;
    var disposition = $("lead-disposition").value;
    if (!disposition) { say(msg, S.pick_disposition, true); return; }
    var body = { attempt_id: shown.attempt_id, disposition: disposition, notes: $("lead-notes").value };
    var at = $("lead-callback-at").value;
    if (at) {
      var when = new Date(at); // the agent's local time
      body.callback_at = isNaN(when.getTime()) ? at : when.toISOString();
      body.callback_agent = $("lead-callback-agent").value.trim();
    }
    say(msg, "");
    post("/api/desk_lead/disposition", body).then(function (r) {
      say(msg, r.message);
      root.dataset.saved = r.disposition;
    }, function (err) { say(msg, fmt(S.failed, { reason: err.message }), true); });
  });

  setInterval(countdown, 1000);

  window.ccboxDeskLead = function (liveFeed) {
    feed = liveFeed;
    feed.on("snapshot", function (d) { if ("lead" in d) show(d.lead); });
    feed.on("lead", show);
  };
})();
