// Pausa's form keeper: what a visitor types survives the maintenance page (docs/edge.md, "What
// visitors type"). While someone types, the form's fields are saved in this browser (localStorage,
// keyed by the page's path and query, the form and the field's name); when the same URL loads again
// (the maintenance page sends the visitor back there), they are put back. A form that was sent and
// accepted forgets its draft; one refused by maintenance or a drain period keeps it. Drafts expire
// after 24 hours. Never kept: passwords, hidden and file inputs, CSRF tokens, and fields (or forms,
// or any ancestor) marked autocomplete="off", autocomplete="cc-…" (card details) or data-pausa-keep="off".
// Pausa's pages load it from _head.html; a protected app gets it through watch.js.
(function () {
  "use strict";
  if (window.pausaKeep) return; // loaded twice (a script tag and watch.js): once is enough
  window.pausaKeep = true;

  var PREFIX = "pausa.keep:";
  var PENDING = "pausa.keep.pending"; // the form just sent from this tab, to learn how it went
  var MAX_AGE = 24 * 3600 * 1000;
  var PENDING_AGE = 10 * 60 * 1000;
  var SAVE_DELAY = 400;
  var NEVER_TYPES = ["hidden", "password", "file", "submit", "button", "image", "reset"];
  var NEVER_NAMES = /csrf|xsrf|authenticity_token|requestverificationtoken/i;
  var NEVER_AUTOCOMPLETE = /^(off|cc-.*|new-password|current-password|one-time-code)$/;

  function storage(name) {
    try {
      var store = window[name];
      store.getItem(PENDING); // throws where storage is switched off
      return store;
    } catch (e) { return null; }
  }
  var drafts = storage("localStorage");
  var tab = storage("sessionStorage");
  if (!drafts) return;

  function read(store, key) {
    try { return JSON.parse(store.getItem(key) || "null"); } catch (e) { return null; }
  }
  function write(store, key, value) {
    try { store.setItem(key, JSON.stringify(value)); } catch (e) { /* full or refused: keep nothing */ }
  }

  // What this page is, when Pausa answered it (the maintenance page says so in a meta tag):
  // "refused" (a sent form was blocked), "paused" (a write refused during a drain period),
  // "maintenance" or "idle". A normal page has none.
  var meta = document.querySelector('meta[name="pausa-answer"]');
  var answer = meta ? meta.getAttribute("content") : null;

  function never(element) {
    if (element.closest && element.closest('[data-pausa-keep="off"]')) return true;
    var owners = [element, element.form];
    for (var i = 0; i < owners.length; i++) {
      var tokens = ((owners[i] && owners[i].getAttribute("autocomplete")) || "").toLowerCase().split(/\s+/);
      for (var j = 0; j < tokens.length; j++) {
        if (NEVER_AUTOCOMPLETE.test(tokens[j])) return true;
      }
    }
    return false;
  }

  function keepable(element) {
    var tag = element.tagName;
    if (tag !== "INPUT" && tag !== "TEXTAREA" && tag !== "SELECT") return false;
    var name = element.getAttribute("name");
    if (!name || element.disabled || NEVER_NAMES.test(name)) return false;
    if (tag === "INPUT" && NEVER_TYPES.indexOf((element.getAttribute("type") || "text").toLowerCase()) >= 0) {
      return false;
    }
    return !never(element);
  }

  function fieldsOf(form) {
    return Array.prototype.filter.call(form.elements, keepable);
  }

  // A form is known by its id, else its name, else where and how it is sent (and its rank among
  // the forms sent there). Attributes, not properties: a field named "id" or "action" shadows those.
  function keyOf(form) {
    var name = form.getAttribute("id") || form.getAttribute("name");
    if (!name) {
      var action = form.getAttribute("action") || "";
      var method = (form.getAttribute("method") || "get").toLowerCase();
      var same = Array.prototype.filter.call(document.forms, function (other) {
        return (other.getAttribute("action") || "") === action
          && (other.getAttribute("method") || "get").toLowerCase() === method;
      });
      name = method + " " + action + " " + same.indexOf(form);
    }
    return PREFIX + window.location.pathname + window.location.search + "|" + name;
  }

  // The fields' values, or null when nothing differs from what the page came with.
  function collect(form) {
    var values = {};
    var changed = false;
    fieldsOf(form).forEach(function (field) {
      var name = field.getAttribute("name");
      var list = values[name] || (values[name] = []);
      var type = (field.getAttribute("type") || "").toLowerCase();
      if (type === "checkbox" || type === "radio") {
        if (field.checked) list.push(field.value);
        changed = changed || field.checked !== field.defaultChecked;
      } else if (field.tagName === "SELECT") {
        Array.prototype.forEach.call(field.options, function (option) {
          if (option.selected) list.push(option.value);
          changed = changed || option.selected !== option.defaultSelected;
        });
      } else {
        list.push(field.value);
        changed = changed || field.value !== field.defaultValue;
      }
    });
    return changed ? values : null;
  }

  function save(form) {
    var values = collect(form);
    if (values) {
      write(drafts, keyOf(form), { savedAt: Date.now(), fields: values });
    } else {
      drafts.removeItem(keyOf(form));
    }
  }

  function restore(form) {
    var key = keyOf(form);
    var draft = read(drafts, key);
    if (!draft || !draft.fields) return;
    var rank = {};
    fieldsOf(form).forEach(function (field) {
      var name = field.getAttribute("name");
      var values = draft.fields[name];
      if (!values) return;
      var type = (field.getAttribute("type") || "").toLowerCase();
      if (type === "checkbox" || type === "radio") {
        field.checked = values.indexOf(field.value) >= 0;
      } else if (field.tagName === "SELECT") {
        Array.prototype.forEach.call(field.options, function (option) {
          option.selected = values.indexOf(option.value) >= 0;
        });
      } else {
        var index = rank[name] || 0;
        rank[name] = index + 1;
        if (index >= values.length || field.value === values[index]) return;
        field.value = values[index];
      }
      // Tell the page's own scripts (character counters, frameworks) that the value changed.
      field.dispatchEvent(new Event("input", { bubbles: true }));
      field.dispatchEvent(new Event("change", { bubbles: true }));
    });
    form.setAttribute("data-pausa-restored", "");
  }

  function forgetExpired() {
    var now = Date.now();
    for (var i = drafts.length - 1; i >= 0; i--) {
      var key = drafts.key(i);
      if (key && key.indexOf(PREFIX) === 0) {
        var draft = read(drafts, key);
        if (!draft || !(now - draft.savedAt < MAX_AGE)) drafts.removeItem(key);
      }
    }
  }

  // The status of this page's own answer, where the browser tells it (0 when it does not).
  function documentStatus() {
    var entries = window.performance && performance.getEntriesByType && performance.getEntriesByType("navigation");
    return (entries && entries[0] && entries[0].responseStatus) || 0;
  }

  // A form was sent from this tab just before this page loaded: this page is its answer.
  // Refused (the maintenance page, a drain period, or an error status): keep the draft for when the
  // visitor is back. Accepted: forget it.
  function settlePending() {
    var pending = tab && read(tab, PENDING);
    if (!pending) return;
    tab.removeItem(PENDING);
    if (!(Date.now() - pending.sentAt < PENDING_AGE)) return;
    var refused = answer === "refused" || answer === "paused" || answer === "maintenance";
    if (!refused && !(documentStatus() >= 400)) drafts.removeItem(pending.key);
  }

  var timers = {};
  function saveSoon(form) {
    var key = keyOf(form);
    clearTimeout(timers[key]);
    timers[key] = setTimeout(function () { delete timers[key]; save(form); }, SAVE_DELAY);
  }
  function saveNow() {
    Object.keys(timers).forEach(function (key) { clearTimeout(timers[key]); });
    timers = {};
    Array.prototype.forEach.call(document.forms, function (form) {
      if (form.hasAttribute("data-pausa-dirty")) save(form);
    });
  }

  function watch() {
    document.addEventListener("input", onEdit, true);
    document.addEventListener("change", onEdit, true);
    function onEdit(event) {
      var field = event.target;
      if (!event.isTrusted || !field.form || !keepable(field)) return;
      field.form.setAttribute("data-pausa-dirty", "");
      saveSoon(field.form);
    }
    // Before the page goes (the maintenance page is about to replace it): write what is pending now.
    window.addEventListener("pagehide", saveNow);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") saveNow();
    });
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form || form.tagName !== "FORM" || never(form)) return;
      save(form); // if the send is refused, what was typed is already safe
      if (!event.defaultPrevented && tab) {
        // A real navigation follows: the next page says whether it was accepted.
        write(tab, PENDING, { key: keyOf(form), sentAt: Date.now() });
      }
    });
    // A form sent by htmx: accepted (2xx, 3xx) forgets its draft; refused keeps it (a block's
    // HX-Refresh reloads into the maintenance page, and the draft comes back with the page).
    document.addEventListener("htmx:afterRequest", function (event) {
      var form = event.detail && event.detail.elt;
      var xhr = event.detail && event.detail.xhr;
      if (form && form.tagName === "FORM" && xhr && xhr.status >= 200 && xhr.status < 400) {
        drafts.removeItem(keyOf(form));
      }
    });
  }

  function start() {
    forgetExpired();
    settlePending();
    if (answer === "refused") {
      // This page answers a form that was sent: when the window ends, load the URL again rather than
      // reload it, which would send the form a second time without asking.
      document.addEventListener("htmx:beforeOnLoad", function (event) {
        var xhr = event.detail && event.detail.xhr;
        if (xhr && xhr.getResponseHeader("HX-Refresh") === "true") {
          event.preventDefault();
          window.location.replace(window.location.href);
        }
      });
    }
    if (answer !== null) return; // Pausa's own page at this URL: nothing here to keep or restore
    Array.prototype.forEach.call(document.forms, function (form) {
      if (!never(form)) restore(form);
    });
    watch();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start(); // loaded late (by watch.js): the page is already there
  }
})();
