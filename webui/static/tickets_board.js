// The ticket board reloads itself every data-reload-s seconds ("live enough"), except while
// someone is choosing on it: a select or input has the focus, or a dispatch choice was
// changed and not sent yet. No ticket text is read or written here.
(function () {
  "use strict";
  var marker = document.getElementById("tk-live");
  if (!marker) return;
  var seconds = parseInt(marker.getAttribute("data-reload-s"), 10) || 30;
  var touched = false;
  document.addEventListener("change", function () { touched = true; });
  function busy() {
    var el = document.activeElement;
    return touched || (el && /^(SELECT|INPUT|TEXTAREA|BUTTON)$/.test(el.tagName));
  }
  setInterval(function () {
    if (!busy() && document.visibilityState !== "hidden") window.location.reload();
  }, seconds * 1000);
})();
