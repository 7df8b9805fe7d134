// Pausa's only script: countdowns, local times and a visible message when a request fails.
// Served from /static so the CSP can forbid inline script.
(function () {
  "use strict";

  // Count down from the seconds the server sent, measured on this page's own monotonic
  // clock, so a wrong clock on the user's computer never shows a wrong countdown.
  function formatSeconds(total) {
    if (total <= 0) return "any moment now";
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return h > 0 ? h + " h " + pad(m) + " min" : m > 0 ? m + " min " + pad(s) + " s" : s + " s";
  }

  function startCountdowns(root) {
    var nodes = (root || document).querySelectorAll("[data-countdown]");
    nodes.forEach(function (node) {
      if (node.dataset.started) return;
      node.dataset.started = "1";
      var seconds = parseInt(node.dataset.seconds, 10);
      if (isNaN(seconds)) return;
      var began = performance.now();
      var tick = function () {
        if (!node.isConnected) return;
        var left = Math.max(0, Math.round(seconds - (performance.now() - began) / 1000));
        node.textContent = formatSeconds(left);
        if (left > 0) setTimeout(tick, 1000);
      };
      tick();
    });
  }

  // Show times in the viewer's own time zone (the server renders UTC for no-JS readers).
  function localTimes(root) {
    (root || document).querySelectorAll("time[data-local]").forEach(function (node) {
      var when = new Date(node.getAttribute("datetime"));
      if (isNaN(when.getTime())) return;
      node.textContent = when.toLocaleString(undefined, {
        hour: "2-digit", minute: "2-digit", day: "numeric", month: "short",
      });
      node.title = when.toISOString();
    });
  }

  function enhance(root) {
    startCountdowns(root);
    localTimes(root);
  }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) { enhance(event.target); });

  // htmx does not swap error bodies: say something instead of failing silently.
  document.addEventListener("htmx:responseError", function (event) {
    var box = document.getElementById("request-error");
    if (!box) return;
    var status = event.detail.xhr.status;
    box.textContent = status === 429
      ? "Too many changes in a minute. Wait a little and try again."
      : status === 403 ? "You are not allowed to do that."
      : "That did not work (error " + status + "). Reload the page and try again.";
    box.hidden = false;
  });
  document.addEventListener("htmx:sendError", function (event) {
    // Polls retry by themselves; only a failed submission needs telling.
    if (event.detail.requestConfig && event.detail.requestConfig.verb === "get") return;
    var box = document.getElementById("request-error");
    if (box) { box.textContent = "The server could not be reached. Nothing was changed; try again."; box.hidden = false; }
  });
})();
