// pier console: the only script. It refreshes the part of a page marked data-refresh (the
// overview's tables and charts) every data-refresh seconds without reloading the page, so scroll
// position stays put; each refresh may change the period (faster while an upload job runs). It
// skips a refresh while keyboard focus is inside that part (replacing it would throw focus away)
// or the tab is hidden. Every page works without it.
(function () {
  "use strict";
  var region = document.querySelector("[data-refresh]");
  if (!region) return;
  function schedule() {
    var every = Number(region.getAttribute("data-refresh")) * 1000;
    if (!(every > 0)) return;
    setTimeout(refresh, every);
  }
  function refresh() {
    if (document.hidden || region.contains(document.activeElement)) return schedule();
    fetch(location.href, { credentials: "same-origin" })
      .then(function (resp) {
        // A redirect means the session ended: leave the page as it is until the next navigation.
        if (!resp.ok || resp.redirected) return null;
        return resp.text();
      })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-refresh]");
        if (!fresh) return;
        region.replaceChildren.apply(region, Array.from(fresh.childNodes));
        region.setAttribute("data-refresh", fresh.getAttribute("data-refresh"));
      })
      .catch(function () { /* server restarting or offline: keep the last view */ })
      .then(schedule);
  }
  schedule();
})();
