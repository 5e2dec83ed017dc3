// The recording player (webui/templates/recording.html): draws the waveform from the
// index's peaks (the larger of the two channels per bucket), moves a position line while
// the audio plays, and seeks where the waveform is clicked. No inline script: the CSP
// forbids it. Nothing from the page is put into HTML: the peaks are parsed as numbers.
(function () {
  "use strict";
  var box = document.getElementById("rec-player");
  var audio = document.getElementById("rec-audio");
  var canvas = document.getElementById("rec-wave");
  var clock = document.getElementById("rec-time");
  if (!box || !audio || !canvas) return;

  var peaks = (box.dataset.peaks || "").split(",").map(Number).filter(function (p) {
    return isFinite(p) && p >= 0;
  });
  var knownMs = Number(box.dataset.durationMs) || 0;
  var top = Math.max(1000, Math.max.apply(null, peaks.concat([0])));
  var raf = 0;

  function duration() {
    return isFinite(audio.duration) && audio.duration > 0 ? audio.duration : knownMs / 1000;
  }

  function mmss(s) {
    s = Math.max(0, Math.floor(s));
    var h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return h ? h + ":" + pad(m) + ":" + pad(sec) : m + ":" + pad(sec);
  }

  function fit() {
    var ratio = window.devicePixelRatio || 1;
    var w = Math.max(200, Math.round(canvas.clientWidth * ratio));
    var h = Math.max(60, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
  }

  function draw() {
    var g = canvas.getContext("2d");
    var w = canvas.width, h = canvas.height, mid = h / 2;
    var total = duration();
    var at = total > 0 ? Math.min(1, audio.currentTime / total) : 0;
    g.clearRect(0, 0, w, h);
    g.fillStyle = "#f4f7fb";
    g.fillRect(0, 0, w, h);
    g.fillStyle = "#dde3ea";
    g.fillRect(0, mid, w, 1);
    var n = peaks.length;
    if (n) {
      var step = w / n;
      for (var i = 0; i < n; i++) {
        var bar = Math.max(1, (peaks[i] / top) * (mid - 4));
        g.fillStyle = (i + 0.5) / n <= at ? "#1565c0" : "#90a4ba";
        g.fillRect(Math.floor(i * step), mid - bar, Math.max(1, Math.ceil(step) - 1), bar * 2);
      }
    }
    var x = Math.round(at * (w - 2));
    g.fillStyle = "#c62828";
    g.fillRect(x, 0, 2, h);
    if (clock) clock.textContent = mmss(audio.currentTime);
  }

  function tick() {
    draw();
    raf = audio.paused ? 0 : window.requestAnimationFrame(tick);
  }

  canvas.addEventListener("click", function (ev) {
    var rect = canvas.getBoundingClientRect();
    var frac = Math.min(1, Math.max(0, (ev.clientX - rect.left) / rect.width));
    var total = duration();
    if (total > 0) {
      audio.currentTime = frac * total;
      draw();
    }
  });
  audio.addEventListener("play", function () { if (!raf) tick(); });
  ["pause", "seeked", "timeupdate", "loadedmetadata", "ended"].forEach(function (name) {
    audio.addEventListener(name, draw);
  });
  audio.addEventListener("error", function () {
    box.classList.add("rec-failed");
  });
  window.addEventListener("resize", function () { fit(); draw(); });
  fit();
  draw();
  box.dataset.ready = "1";
})();
