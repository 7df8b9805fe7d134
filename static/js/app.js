// Pausa's only script: countdowns, local times and a visible message when a request fails.
// Served from /static so the CSP can forbid inline script.
(function () {
  "use strict";

  // The page says which language it is in (<html lang>) and how to write a countdown in it
  // (data-i18n-countdown-* on <html>, rendered from the translations): no words are hard-coded here.
  var html = document.documentElement;
  var lang = html.lang || undefined;
  function wording(name, fallback) { return html.getAttribute("data-i18n-countdown-" + name) || fallback; }
  function fill(pattern, values) {
    return pattern.replace(/%\((\w+)\)s/g, function (_, key) { return values[key]; });
  }

  // Count down from the seconds the server sent, measured on this page's own monotonic
  // clock, so a wrong clock on the user's computer never shows a wrong countdown.
  function formatSeconds(total) {
    if (total <= 0) return wording("soon", "any moment now");
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return h > 0 ? fill(wording("hm", "%(h)s h %(m)s min"), { h: h, m: pad(m) })
      : m > 0 ? fill(wording("ms", "%(m)s min %(s)s s"), { m: m, s: pad(s) })
      : fill(wording("s", "%(s)s s"), { s: s });
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
      node.textContent = when.toLocaleString(lang, {
        hour: "2-digit", minute: "2-digit", day: "numeric", month: "short",
      });
      node.title = when.toISOString();
    });
  }

  // The banner's close button hides it for this browser session, until the window or its
  // phase changes (data-banner-key names both). Without JavaScript the button stays hidden
  // and the banner simply stays.
  var DISMISSED = "pausa.banner.dismissed";
  function dismissedKey() {
    try { return window.sessionStorage.getItem(DISMISSED); } catch (e) { return null; }
  }
  function banners(scope) {
    var found = Array.prototype.slice.call((scope || document).querySelectorAll("[data-banner-key]"));
    if (scope && scope.matches && scope.matches("[data-banner-key]")) found.push(scope);
    return found;
  }
  function dismissableBanners(scope) {
    var dismissed = dismissedKey();
    banners(scope).forEach(function (banner) {
      var button = banner.querySelector("[data-dismiss-banner]");
      if (!button) return;
      banner.hidden = banner.getAttribute("data-banner-key") === dismissed;
      button.hidden = false;
    });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-dismiss-banner]");
    if (!button) return;
    var banner = button.closest("[data-banner-key]");
    if (!banner) return;
    try { window.sessionStorage.setItem(DISMISSED, banner.getAttribute("data-banner-key")); } catch (e) { /* private mode */ }
    banner.hidden = true;
    var main = document.getElementById("main");
    if (main) main.focus();  // the button is gone: do not leave focus nowhere
  });

  function enhance(root) {
    startCountdowns(root);
    localTimes(root);
    dismissableBanners(root);
  }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) { enhance(event.target); });

  // A form marked data-swap-rate-limit answers 429 with its own friendly fragment: show it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (event.detail.xhr.status === 429 && source && source.closest && source.closest("[data-swap-rate-limit]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // htmx does not swap error bodies: say something instead of failing silently.
  document.addEventListener("htmx:responseError", function (event) {
    var box = document.getElementById("request-error");
    if (!box) return;
    var status = event.detail.xhr.status;
    var say = function (name, fallback) { return box.getAttribute("data-msg-" + name) || fallback; };
    box.textContent = status === 429
      ? say("rate-limited", "Too many changes in a minute. Wait a little and try again.")
      : status === 403 ? say("forbidden", "You are not allowed to do that.")
      : say("failed", "That did not work (error {status}). Reload the page and try again.").replace("{status}", status);
    box.hidden = false;
  });
  document.addEventListener("htmx:sendError", function (event) {
    // Polls retry by themselves; only a failed submission needs telling.
    if (event.detail.requestConfig && event.detail.requestConfig.verb === "get") return;
    var box = document.getElementById("request-error");
    if (box) {
      box.textContent = box.getAttribute("data-msg-unreachable") || "The server could not be reached. Nothing was changed; try again.";
      box.hidden = false;
    }
  });
})();
