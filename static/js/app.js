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

  // Screen readers hear the time left at a few marks only, never every second: each visible
  // countdown is a timer that is not read as it ticks (role="timer", aria-live="off"), and one
  // visually hidden live region, made here, says what changed. It lives outside everything the
  // polls swap, so a poll that brings the same words says nothing.
  var announcer = null;
  var queued = [];
  var rewrite = null;  // the timer that says the same words again, cancelled by newer words
  // Htmx replaces <body>'s content when Back restores a page: the announcer left with the old
  // content, so a new one is made in the new #main, or one the restored markup brought is taken
  // over (its old words are no news). Marks and sentences: docs/accessibility.md.
  function makeAnnouncer() {
    if (announcer && announcer.isConnected) return;
    announcer = document.querySelector("[data-announcer]");
    if (announcer) { announcer.textContent = ""; return; }
    announcer = document.createElement("div");
    announcer.className = "visually-hidden";
    announcer.setAttribute("role", "status");
    announcer.setAttribute("data-announcer", "");
    (document.getElementById("main") || document.body).appendChild(announcer);
  }
  function announce(text) {
    if (!text || !document.body) return;
    makeAnnouncer();
    queued.push(text);
    if (queued.length > 1) return;
    // What one swap changes (a sentence and a countdown) is said together, in one go.
    setTimeout(function () {
      var words = queued.join(" ");
      queued = [];
      makeAnnouncer();
      // Older words still waiting to be said again would overwrite these: the newest words win.
      clearTimeout(rewrite);
      rewrite = null;
      // The same words again are no change to a screen reader: empty the region first.
      if (announcer.textContent === words) {
        announcer.textContent = "";
        rewrite = setTimeout(function () { rewrite = null; makeAnnouncer(); announcer.textContent = words; }, 100);
      } else {
        announcer.textContent = words;
      }
    }, 50);
  }
  // A region that is live already (the dashboard's preview of the maintenance page) speaks for itself.
  function insideLiveRegion(node) {
    var region = node.parentElement && node.parentElement.closest("[aria-live], [role=status], [role=alert], [role=log]");
    return !!region && region.getAttribute("aria-live") !== "off";
  }
  function unseen(node) { return !!node.closest("[hidden]"); }

  // The marks: each minute from ten minutes, every five minutes up to an hour, every half hour
  // beyond. `mark` names the stretch the time left is in; it is said when a new stretch begins.
  function mark(left) {
    if (left <= 0) return 0;
    var minutes = Math.ceil(left / 60);
    var step = minutes <= 10 ? 1 : minutes <= 60 ? 5 : 30;
    return Math.ceil(minutes / step) * step;
  }
  function markWords(to, minutes) {
    var name = to + "-" + (minutes === 0 ? "now" : minutes === 1 ? "one" : "other");
    return fill(wording(name, ""), { m: minutes });
  }
  // What was last said per kind of countdown ("start" or "back"): the first visible countdown of a
  // kind speaks for all of them on the page, and the fresh one each poll brings takes over silently.
  var lastMark = {};
  function leader(to) {
    var found = document.querySelectorAll('[data-countdown][data-countdown-to="' + to + '"]');
    for (var i = 0; i < found.length; i++) {
      if (!unseen(found[i]) && !insideLiveRegion(found[i])) return found[i];
    }
    return null;
  }
  function markReached(node, left) {
    var to = node.dataset.countdownTo;
    if (!to || leader(to) !== node) return;
    var now = mark(left), last = lastMark[to];
    lastMark[to] = { mark: now, left: left };
    if (!last || last.mark === now) return;
    // A fresh countdown may be a second or two behind the one it replaces (the server rounds, the
    // request takes time): a mark that goes back up by so little is not news.
    if (left > last.left && left - last.left < 10) { lastMark[to] = last; return; }
    announce(markWords(to, now));
  }

  function startCountdowns(root) {
    var nodes = (root || document).querySelectorAll("[data-countdown]");
    nodes.forEach(function (node) {
      if (node.dataset.started) return;
      node.dataset.started = "1";
      var seconds = parseInt(node.dataset.seconds, 10);
      if (isNaN(seconds)) return;
      var began = performance.now();
      // Inside a live region that is not ours (the dashboard's preview), ticking would be read out
      // every second: the countdown is written once and stays.
      var still = insideLiveRegion(node);
      var tick = function () {
        if (!node.isConnected) return;
        var left = Math.max(0, Math.round(seconds - (performance.now() - began) / 1000));
        node.textContent = formatSeconds(left);
        if (still) return;
        markReached(node, left);
        if (left > 0) setTimeout(tick, 1000);
      };
      tick();
    });
  }

  // The sentences a poll swaps in (data-live-text names each): said again only when their words
  // change, the countdown in them aside. The page's first words are read with the page.
  var sentences = {};
  function sentenceWords(node, withCountdown) {
    var copy = node.cloneNode(true);
    if (!withCountdown) copy.querySelectorAll("[data-countdown]").forEach(function (c) { c.textContent = ""; });
    return copy.textContent.replace(/\s+/g, " ").trim();
  }
  function announceNewSentences(root, swapped) {
    var found = Array.prototype.slice.call(root.querySelectorAll("[data-live-text]"));
    if (root.matches && root.matches("[data-live-text]")) found.push(root);
    if (swapped) {
      // A sentence the swap took away is forgotten: when it comes back, it is news again.
      Object.keys(sentences).forEach(function (key) {
        if (!document.querySelector('[data-live-text="' + key + '"]')) delete sentences[key];
      });
    }
    found.forEach(function (node) {
      if (insideLiveRegion(node)) return;
      var key = node.getAttribute("data-live-text");
      var words = sentenceWords(node, false);
      var known = sentences[key];
      sentences[key] = words;
      if (swapped && known !== words && !unseen(node)) announce(sentenceWords(node, true));
    });
  }

  // Show times in the viewer's own time zone, named (the server renders UTC for no-JS readers):
  // "14:30" alone is ambiguous to a visitor in another zone than the people who wrote it.
  function localTimes(root) {
    (root || document).querySelectorAll("time[data-local]").forEach(function (node) {
      var when = new Date(node.getAttribute("datetime"));
      if (isNaN(when.getTime())) return;
      node.textContent = when.toLocaleString(lang, {
        hour: "2-digit", minute: "2-digit", day: "numeric", month: "short", timeZoneName: "short",
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

  function enhance(root, swapped) {
    startCountdowns(root);
    localTimes(root);
    dismissableBanners(root);
    announceNewSentences(root, swapped);
  }

  document.addEventListener("DOMContentLoaded", function () { makeAnnouncer(); enhance(document, false); });
  // htmx loads the whole body once at start (nothing new then), and then each swapped element.
  document.addEventListener("htmx:load", function (event) {
    makeAnnouncer();  // before the swapped content speaks: it may have replaced #main
    enhance(event.target, event.target !== document.body);
  });
  document.addEventListener("htmx:historyRestore", makeAnnouncer);

  // A form marked data-swap-rate-limit answers 429 with its own friendly fragment: show it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (event.detail.xhr.status === 429 && source && source.closest && source.closest("[data-swap-rate-limit]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // A form marked data-swap-bad-request answers a bad filter with 400 and itself, the message
  // next to the field (the same answer as without JavaScript): show it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (event.detail.xhr.status === 400 && source && source.closest && source.closest("[data-swap-bad-request]")) {
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
    // A write refused during a drain period: the server says why, in the page's language.
    var paused = event.detail.xhr.getResponseHeader("X-Pausa-Writes") === "paused";
    box.textContent = paused ? event.detail.xhr.responseText
      : status === 429
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

// Focus what a form's answer marks data-focus-on-swap once htmx swaps it in: the confirmation
// (tabindex="-1") or the refused field. Otherwise focus falls to <body> with the removed button and
// a screen reader does not read the new markup. Swaps only: never on the first page load.
(function () {
  "use strict";
  document.addEventListener("htmx:afterSwap", function (event) {
    var root = event.target;
    if (!root || !root.querySelector) return;
    var target = root.matches("[data-focus-on-swap]") ? root : root.querySelector("[data-focus-on-swap]");
    if (target && target.isConnected) target.focus();
  });
})();
