// The ticket board reloads itself when a ticket changes: the live feed's "tickets" message
// (staff only; live.js), or a new snapshot after a gap in the stream (one may have been
// missed), and every data-live-reload-s seconds anyway (a ticket falls due with no write).
// While the feed is down it reloads every data-reload-s seconds, as before. Never while
// someone is choosing on it: a select or input has the focus, or a dispatch choice was
// changed and not sent yet. No ticket text is read or written here.
(function () {
  "use strict";
  var marker = document.getElementById("tk-live");
  if (!marker) return;
  var polling = parseInt(marker.getAttribute("data-reload-s"), 10) || 30;
  var liveEvery = parseInt(marker.getAttribute("data-live-reload-s"), 10) || 300;
  var liveText = document.getElementById("tk-live-on");
  var loaded = Date.now();
  var touched = false;
  var changed = false;
  var live = false;
  var snapshots = 0;
  document.addEventListener("change", function () { touched = true; });
  function busy() {
    var el = document.activeElement;
    return touched || (el && /^(SELECT|INPUT|TEXTAREA|BUTTON)$/.test(el.tagName));
  }
  setInterval(function () {
    if (busy() || document.visibilityState === "hidden") return;
    var age = (Date.now() - loaded) / 1000;
    if (changed || age >= (live ? liveEvery : polling)) window.location.reload();
  }, 1000);
  if (!window.ccboxLive) return;
  var feed = window.ccboxLive.connect({ topics: "all" });
  feed.on("tickets", function () { changed = true; });
  feed.on("snapshot", function () {
    snapshots += 1;
    if (snapshots > 1) changed = true;
  });
  feed.status(function (s) {
    live = s === "live";
    marker.hidden = live;
    if (liveText) liveText.hidden = !live;
  });
})();
