// atlascope progressive enhancement. Everything works without this file;
// it only saves clicks and keystrokes. No inline script anywhere (strict CSP).
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Release switcher: switch as soon as a release is chosen.
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
      target.form.requestSubmit();
    }
  });

  // Live updates: show whether this page receives the others' changes.
  function setLive(element, connected) {
    var root = element.closest("[sse-connect]") || element;
    root.setAttribute("data-live", connected ? "connected" : "offline");
    var pill = document.getElementById("live-status");
    if (pill) pill.textContent = connected ? "● Live: changes by others appear here" : "○ Offline: reconnecting…";
  }
  document.addEventListener("htmx:sseOpen", function (event) { setLive(event.target, true); });
  document.addEventListener("htmx:sseError", function (event) { setLive(event.target, false); });
  // The server ended the stream for good (access ended): stop reconnecting and say so.
  document.addEventListener("htmx:sseClose", function (event) {
    var root = event.target.closest("[sse-connect]") || event.target;
    root.setAttribute("data-live", "ended");
    var pill = document.getElementById("live-status");
    if (pill) pill.textContent = "✕ Disconnected: live updates stopped";
  });

  // Workshop matrix keyboard navigation: arrows move between techniques
  // (left/right across tactics), Space ticks the focused one for bulk actions.
  function visibleLinks(column) {
    return Array.prototype.filter.call(column.querySelectorAll("a.wlink"), function (link) {
      return link.offsetParent !== null;
    });
  }
  document.addEventListener("keydown", function (event) {
    var link = event.target;
    if (!(link instanceof HTMLAnchorElement) || !link.classList.contains("wlink")) return;
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    var column = link.closest(".column");
    if (!column) return;
    var columns = Array.prototype.slice.call(document.querySelectorAll(".wmatrix .column"));
    var links = visibleLinks(column);
    var index = links.indexOf(link);
    var next = null;
    if (event.key === "ArrowDown") next = links[index + 1];
    else if (event.key === "ArrowUp") next = links[index - 1];
    else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      var step = event.key === "ArrowRight" ? 1 : -1;
      for (var c = columns.indexOf(column) + step; c >= 0 && c < columns.length && !next; c += step) {
        var other = visibleLinks(columns[c]);
        if (other.length) next = other[Math.min(index, other.length - 1)];
      }
    } else if (event.key === " ") {
      var box = link.parentElement.querySelector("input.pick");
      if (box) { box.checked = !box.checked; event.preventDefault(); }
      return;
    }
    if (next) { next.focus(); event.preventDefault(); }
  });

  // A failed htmx request says so where the person acted: inside the form
  // that sent it, or at the top of the region it would have changed. The
  // server answers a failed htmx request with one sentence of plain text.
  function actionPlace(detail) {
    var elt = detail.elt;
    if (!elt) return null;
    return elt.closest("form") || detail.target || elt.parentElement;
  }
  function showActionError(detail, text) {
    var place = actionPlace(detail);
    if (!place) return;
    var note = place.querySelector(":scope > .action-error");
    if (!note) {
      note = document.createElement("p");
      note.className = "notice error action-error";
      note.setAttribute("role", "alert");
      place.insertBefore(note, place.firstChild);
    }
    note.textContent = text;
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var place = actionPlace(event.detail);
    var old = place && place.querySelector(":scope > .action-error");
    if (old) old.remove();
  });
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var type = (xhr.getResponseHeader("content-type") || "").toLowerCase();
    var text = type.indexOf("text/plain") === 0 && xhr.responseText ? xhr.responseText.slice(0, 500)
      : "Not done: the server answered " + xhr.status + ". Reload the page and try again.";
    showActionError(event.detail, text);
  });
  document.addEventListener("htmx:sendError", function (event) {
    showActionError(event.detail, "Not saved: the server could not be reached. Check the connection and try again.");
  });
  document.addEventListener("htmx:timeout", function (event) {
    showActionError(event.detail, "Not saved: the server did not answer in time. Try again.");
  });

  // Upload progress for a large file (a form naming its <progress> in data-progress).
  document.addEventListener("htmx:xhr:progress", function (event) {
    var form = event.target.closest ? event.target.closest("form[data-progress]") : null;
    var bar = form && document.getElementById(form.getAttribute("data-progress"));
    if (!bar || !event.detail.lengthComputable) return;
    var percent = Math.round(event.detail.loaded * 100 / event.detail.total);
    bar.hidden = false;
    bar.value = percent;
    bar.textContent = percent + "%";
  });

  // Keep the keyboard focus where it was when the panel is re-rendered after
  // a save, and move it into the panel when a technique is opened.
  var focusedId = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "panel") {
      var active = document.activeElement;
      focusedId = active && event.detail.target.contains(active) ? active.id : null;
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "panel") {
      var again = focusedId && document.getElementById(focusedId);
      var title = target.querySelector("#panel-title");
      if (again) {
        var folded = again.closest("details");
        if (folded) folded.open = true;
        again.focus();
      }
      else if (event.detail.requestConfig && event.detail.requestConfig.elt &&
               event.detail.requestConfig.elt.classList.contains("wlink") && title) {
        title.setAttribute("tabindex", "-1");
        title.focus();
      }
      var current = target.querySelector(".panel-body");
      document.querySelectorAll(".wcell.selected").forEach(function (cell) { cell.classList.remove("selected"); });
      if (current) {
        var opened = document.querySelector('a.wlink[data-technique="' + current.getAttribute("data-technique") + '"]');
        if (opened) opened.parentElement.classList.add("selected");
      }
    }
    // After a bulk action, untick everything.
    if (target && target.id === "flash") {
      document.querySelectorAll("input.pick:checked").forEach(function (box) { box.checked = false; });
    }
  });
})();
