// Pausa's watcher for the pages of a system behind the edge gate (docs/edge.md).
// Include it on the protected app's pages:
//   <script src="/_pausa/static/js/watch.js" defer data-poll-seconds="15"></script>
// It polls /_pausa/status.json (cheap: ETag, 304) and, when the maintenance state changes,
// asks whether this very page is blocked now (a HEAD through the proxy, so the same gate
// decides, bypass cookie and all). If it is, the page reloads: the proxy answers with
// Pausa's maintenance page at the same URL, which comes back by itself when the window ends.
// It also loads keep.js, so what visitors type in the page's forms survives the maintenance page
// (data-keep="off" on this script tag leaves it out), and shows why an htmx write was refused
// during a drain period (in an element marked data-pausa-message, else a notice atop the page).
(function () {
  "use strict";
  var script = document.currentScript;
  var seconds = Math.max(2, parseInt(script && script.getAttribute("data-poll-seconds"), 10) || 15);
  var base = (script && script.src) ? new URL("../..", script.src).pathname.replace(/\/$/, "") : "/_pausa";
  var seen = null; // the last state seen: its version, and whether a window was in effect

  if (!script || script.getAttribute("data-keep") !== "off") {
    var keep = document.createElement("script");
    keep.src = base + "/static/js/keep.js";
    keep.async = true;
    (document.head || document.documentElement).appendChild(keep);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail && event.detail.xhr;
    if (!xhr || xhr.getResponseHeader("X-Pausa-Writes") !== "paused") return;
    var box = document.querySelector("[data-pausa-message]");
    if (!box) {
      box = document.createElement("div");
      box.className = "pausa-message";
      box.setAttribute("role", "alert");
      document.body.insertBefore(box, document.body.firstChild);
    }
    box.textContent = xhr.responseText;
    box.hidden = false;
  });

  function next() {
    // Jitter: thousands of open pages must not ask in the same second.
    setTimeout(poll, (seconds * (0.75 + Math.random() * 0.5)) * 1000);
  }

  function blockedHere() {
    return fetch(window.location.href, { method: "HEAD", cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        return response.status === 503 && response.headers.get("X-Maintenance") === "active";
      });
  }

  function poll() {
    fetch(base + "/status.json", { cache: "no-cache", credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (status) {
        if (!status) return false;
        // Ask about this page only when something moved: a change, or a planned start.
        var moved = seen === null || status.version !== seen.version || status.active !== seen.active;
        seen = { version: status.version, active: status.active };
        return status.active && moved ? blockedHere() : false;
      })
      .then(function (blocked) {
        if (blocked) { window.location.reload(); } else { next(); }
      })
      .catch(next);
  }

  next();
})();
