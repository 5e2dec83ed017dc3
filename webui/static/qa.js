// QA pages: the form builder (/qa) and the running total while scoring (/qa/score).
// Every text from the server goes into the page with textContent or value, never as HTML.
(function () {
  "use strict";

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "value") node.value = attrs[k];
      else if (k === "checked") node.checked = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  // ---- the running total on the scoring page (the server computes the score it saves) ----
  function scorePage(form) {
    var out = document.getElementById("qa-total");
    function total() {
      var weights = 0, earned = 0, complete = true, critical = false;
      form.querySelectorAll("fieldset.qa-group").forEach(function (g) {
        var weight = parseFloat(g.dataset.weight), got = 0, possible = 0;
        g.querySelectorAll(".qa-question").forEach(function (q) {
          var max = parseInt(q.dataset.max, 10), value = null;
          possible += max;
          var picked = q.querySelector("input:checked");
          var select = q.querySelector("select");
          if (picked) value = parseInt(picked.value, 10);
          else if (select && select.value !== "") value = parseInt(select.value, 10);
          if (value === null) { complete = false; return; }
          got += value;
          if (value === 0 && q.dataset.critical === "1") critical = true;
        });
        weights += weight;
        if (possible > 0) earned += weight * got / possible;
      });
      var score = critical ? 0 : Math.round(earned / weights * 1000) / 10;
      out.textContent = score.toFixed(1) + (complete ? "" : " …");
    }
    form.addEventListener("change", total);
    total();
  }

  // ---- the builder on the forms page -------------------------------------------------------
  function builder(root) {
    var T = JSON.parse(document.getElementById("qa-i18n").textContent);
    var groupsBox = document.getElementById("qa-groups");
    var nameInput = document.getElementById("qa-name");
    var message = document.getElementById("qa-message");
    var state = { groups: [] };
    var counter = 0;

    function newId() {
      var used = {};
      state.groups.forEach(function (g) { g.questions.forEach(function (q) { used[q.id] = 1; }); });
      do { counter += 1; } while (used["q" + counter]);
      return "q" + counter;
    }
    function newQuestion() { return { id: newId(), text: "", kind: "yes_no", max: 5, critical: false }; }

    function questionRow(group, q) {
      var text = el("input", { value: q.text, maxlength: "500", "aria-label": T.question });
      text.addEventListener("input", function () { q.text = text.value; });
      var kind = el("select", { "aria-label": T.kind }, [
        el("option", { value: "yes_no", text: T.yes_no }),
        el("option", { value: "scale", text: T.scale })
      ]);
      kind.value = q.kind;
      var max = el("input", { type: "number", min: "1", max: "10", value: String(q.max), "aria-label": T.max });
      max.hidden = q.kind !== "scale";
      kind.addEventListener("change", function () { q.kind = kind.value; max.hidden = q.kind !== "scale"; });
      max.addEventListener("input", function () { q.max = parseInt(max.value, 10); });
      var crit = el("input", { type: "checkbox", checked: q.critical });
      crit.addEventListener("change", function () { q.critical = crit.checked; });
      var remove = el("button", { type: "button", text: T.remove });
      remove.addEventListener("click", function () {
        group.questions.splice(group.questions.indexOf(q), 1);
        draw();
      });
      return el("div", { "class": "qa-b-question" }, [
        text, kind, max, el("label", { "class": "qa-b-critical" }, [crit, el("span", { text: T.critical })]), remove
      ]);
    }

    function groupBox(g, index) {
      var name = el("input", { value: g.name, maxlength: "500", placeholder: T.group_name, "aria-label": T.group_name });
      name.addEventListener("input", function () { g.name = name.value; });
      var weight = el("input", { type: "number", min: "0.1", step: "any", value: String(g.weight), "aria-label": T.weight });
      weight.addEventListener("input", function () { g.weight = parseFloat(weight.value); });
      var remove = el("button", { type: "button", text: T.remove });
      remove.addEventListener("click", function () { state.groups.splice(index, 1); draw(); });
      var add = el("button", { type: "button", text: T.add_question });
      add.addEventListener("click", function () { g.questions.push(newQuestion()); draw(); });
      var head = el("div", { "class": "qa-b-head" }, [
        el("strong", { text: T.group + " " + (index + 1) }), name,
        el("label", { "class": "qa-b-weight" }, [el("span", { text: T.weight }), weight]), remove
      ]);
      var box = el("fieldset", { "class": "qa-b-group" }, [head]);
      g.questions.forEach(function (q) { box.appendChild(questionRow(g, q)); });
      box.appendChild(add);
      return box;
    }

    function draw() {
      groupsBox.textContent = "";
      state.groups.forEach(function (g, i) { groupsBox.appendChild(groupBox(g, i)); });
    }

    function definition() {
      return {
        groups: state.groups.map(function (g) {
          return {
            name: g.name,
            weight: g.weight,
            questions: g.questions.map(function (q) {
              var out = { id: q.id, text: q.text, kind: q.kind };
              if (q.kind === "scale") out.max = q.max;
              if (q.critical) out.critical = true;
              return out;
            })
          };
        })
      };
    }

    document.getElementById("qa-add-group").addEventListener("click", function () {
      state.groups.push({ name: "", weight: 1, questions: [newQuestion()] });
      draw();
    });

    document.getElementById("qa-save").addEventListener("click", function () {
      message.textContent = "";
      message.className = "";
      fetch("/api/qa/forms", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": root.dataset.csrf },
        body: JSON.stringify({ name: nameInput.value, definition: definition() })
      }).then(function (r) {
        return r.json().then(function (body) { return { ok: r.ok, body: body }; });
      }).then(function (res) {
        if (res.ok) { message.textContent = T.saved; window.location.reload(); return; }
        message.className = "error";
        message.textContent = T.failed + " " + (res.body.error || "");
      }).catch(function (err) {
        message.className = "error";
        message.textContent = T.failed + " " + err;
      });
    });

    document.querySelectorAll(".qa-copy").forEach(function (button) {
      button.addEventListener("click", function () {
        fetch("/api/qa/form?id=" + encodeURIComponent(button.dataset.formId), { credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (f) {
            if (!f.definition) return;
            nameInput.value = f.name + " " + T.copy_suffix;
            state.groups = f.definition.groups.map(function (g) {
              return {
                name: g.name,
                weight: g.weight,
                questions: g.questions.map(function (q) {
                  return { id: q.id, text: q.text, kind: q.kind, max: q.max || 5, critical: !!q.critical };
                })
              };
            });
            draw();
            root.scrollIntoView();
          });
      });
    });

    state.groups.push({ name: "", weight: 1, questions: [newQuestion()] });
    draw();
  }

  var scoreForm = document.getElementById("qa-score");
  if (scoreForm) scorePage(scoreForm);
  var root = document.getElementById("qa-builder");
  if (root) builder(root);
})();
