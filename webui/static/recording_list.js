// The recordings search (webui/templates/recordings.html): a row's Listen button plays the
// recording in place, in the player bar under the table, without leaving the page (the
// search and its scroll position stay). No inline script: the CSP forbids it. The label is
// set as text, never as HTML: a caller's number is attacker-controlled.
(function () {
  "use strict";
  var bar = document.getElementById("rec-inline");
  var audio = document.getElementById("rec-inline-audio");
  var what = document.getElementById("rec-inline-what");
  var close = document.getElementById("rec-inline-close");
  var table = document.getElementById("rec-results");
  if (!bar || !audio || !what || !table) return;
  var playing = null;

  function mark(row) {
    if (playing) playing.classList.remove("rec-playing");
    playing = row;
    if (row) row.classList.add("rec-playing");
  }

  table.addEventListener("click", function (ev) {
    var button = ev.target.closest ? ev.target.closest("button.rec-play") : null;
    if (!button) return;
    var id = button.dataset.id;
    if (!/^[0-9]+$/.test(id || "")) return;
    bar.hidden = false;
    bar.dataset.id = id;
    what.textContent = button.dataset.label || id;
    audio.src = "/api/recordings/audio?id=" + id;
    mark(button.closest("tr"));
    var started = audio.play();
    if (started && started.catch) started.catch(function () { /* the user presses play */ });
  });
  if (close) {
    close.addEventListener("click", function () {
      audio.pause();
      audio.removeAttribute("src");
      audio.load();
      bar.hidden = true;
      delete bar.dataset.id;
      mark(null);
    });
  }
  audio.addEventListener("error", function () {
    if (audio.getAttribute("src")) bar.classList.add("rec-failed");
  });
  audio.addEventListener("playing", function () { bar.classList.remove("rec-failed"); });
  bar.dataset.ready = "1";
})();
