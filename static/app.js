// atlascope progressive enhancement. Everything works without this file;
// it only saves clicks and keystrokes. No inline script anywhere (strict CSP).
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function typingIn(element) {
    return element instanceof HTMLElement &&
      (element.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(element.tagName));
  }

  // Release switcher: switch as soon as a release is chosen.
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
      target.form.requestSubmit();
    }
  });

  // ---------------------------------------------------------------- saving
  // Forms marked data-autosave save a choice (select, radio) at once, and a
  // typed value (text, date) only when the person leaves the field with a
  // complete, valid value: never per keystroke, so a date typed digit by
  // digit is saved once, whole.
  function autosaveForm(element) {
    var form = element.form;
    return form && form.hasAttribute("data-autosave") ? form : null;
  }
  function typed(element) {
    return element instanceof HTMLTextAreaElement ||
      (element instanceof HTMLInputElement && /^(text|search|url|email|date|number|)$/.test(element.type));
  }
  function fieldNote(field, text) {
    var holder = field.closest(".field") || field.parentElement;
    var note = holder.querySelector(".field-error");
    if (!text) { if (note) note.remove(); field.removeAttribute("aria-invalid"); return; }
    if (!note) {
      note = document.createElement("p");
      note.className = "field-error";
      note.id = field.id + "-error";
      note.setAttribute("role", "alert");
      holder.appendChild(note);
      field.setAttribute("aria-describedby", note.id);
    }
    note.textContent = text;
    field.setAttribute("aria-invalid", "true");
  }
  document.addEventListener("change", function (event) {
    var field = event.target;
    var form = autosaveForm(field);
    if (form && !typed(field)) htmx.trigger(form, "autosave");
  });
  document.addEventListener("focusout", function (event) {
    var field = event.target;
    var form = autosaveForm(field);
    if (!form || !typed(field) || field.value === field.defaultValue) return;
    if (field.type === "date" && (field.validity.badInput || !field.checkValidity())) {
      fieldNote(field, "Not saved: enter a whole date from " + (field.min || "2000-01-01") +
        " to " + (field.max || "2100-12-31") + ".");
      return;
    }
    fieldNote(field, null);
    htmx.trigger(form, "autosave");
  });

  // ---------------------------------------------------------------- live status
  function pill(text) {
    var element = document.getElementById("live-status");
    if (element) element.textContent = text;
  }
  function setLive(element, state) {
    var root = element.closest("[sse-connect]") || element;
    root.setAttribute("data-live", state);
  }
  var sessionEnded = false;
  document.addEventListener("htmx:sseOpen", function (event) {
    if (sessionEnded) return;
    setLive(event.target, "connected");
    pill("● Live: changes by others appear here");
  });
  document.addEventListener("htmx:sseError", function (event) {
    setLive(event.target, sessionEnded ? "ended" : "offline");
    pill(sessionEnded ? "✕ Disconnected: your session ended" : "○ Offline: reconnecting…");
  });
  // The server ended the stream for good (access ended): stop and say so.
  document.addEventListener("htmx:sseClose", function (event) {
    setLive(event.target, "ended");
    pill("✕ Disconnected: live updates stopped");
  });

  // ---------------------------------------------------------------- errors
  // A failed htmx request says so where the person acted: inside the form
  // that sent it, or at the top of the region it would have changed. The
  // server answers a failed htmx request with one sentence of plain text.
  function actionPlace(detail) {
    var elt = detail.elt;
    if (!elt) return null;
    if (elt.id === "panel" || elt.classList.contains("wlink")) return document.getElementById("flash");
    return elt.closest("form") || detail.target || elt.parentElement;
  }
  function showActionError(detail, text, signIn) {
    var place = actionPlace(detail);
    if (!place) return;
    var note = place.querySelector(":scope > .action-error");
    if (!note) {
      note = document.createElement("p");
      note.className = "notice error action-error";
      note.setAttribute("role", "alert");
      place.insertBefore(note, place.firstChild);
    }
    note.textContent = text + " ";
    if (signIn) {
      var link = document.createElement("a");
      link.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      link.textContent = "Sign in again";
      note.appendChild(link);
    }
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
    if (xhr.status === 401) {
      sessionEnded = true;
      var live = document.querySelector("[sse-connect]");
      if (live) live.setAttribute("data-live", "ended");
      pill("✕ Disconnected: your session ended");
    }
    showActionError(event.detail, text, xhr.status === 401);
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

  // ---------------------------------------------------------------- the panel drawer
  // The panel opens as a drawer on the side away from the technique being
  // discussed, so the matrix never moves; Escape closes it and gives the
  // focus back to the technique.
  function panel() { return document.querySelector(".workshop #panel"); }
  function cellOf(technique) {
    return technique ? document.querySelector('.wmatrix a.wlink[data-technique="' + technique + '"]') : null;
  }
  function openPanel(technique) {
    var drawer = panel();
    if (!drawer) return;
    var cell = cellOf(technique);
    if (cell) {
      var box = cell.getBoundingClientRect();
      drawer.setAttribute("data-side", box.left + box.width / 2 > window.innerWidth / 2 ? "left" : "right");
    }
    drawer.setAttribute("data-open", "");
  }
  function closePanel() {
    var drawer = panel();
    if (!drawer || !drawer.hasAttribute("data-open")) return false;
    drawer.removeAttribute("data-open");
    var body = drawer.querySelector(".panel-body");
    var cell = cellOf(body && body.getAttribute("data-technique"));
    document.querySelectorAll(".wcell.selected").forEach(function (c) { c.classList.remove("selected"); });
    if (cell) cell.focus();
    return true;
  }
  document.addEventListener("click", function (event) {
    var close = event.target.closest && event.target.closest("[data-close-panel]");
    if (close && panel()) { event.preventDefault(); closePanel(); }
  });

  // Keep the keyboard focus where it was when the panel is re-rendered after
  // a save, keep text typed elsewhere in the panel meanwhile, and move the
  // focus into the panel when a technique is opened.
  var focusedId = null;
  var unsaved = {};
  var unsavedTechnique = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "panel") return;
    var active = document.activeElement;
    focusedId = active && target.contains(active) ? active.id : null;
    unsaved = {};
    var sender = event.detail.requestConfig && event.detail.requestConfig.elt;
    var body = target.querySelector(".panel-body");
    unsavedTechnique = body && body.getAttribute("data-technique");
    target.querySelectorAll("input[id], textarea[id]").forEach(function (field) {
      if (typed(field) && field.value !== field.defaultValue && !(sender && sender.contains(field))) {
        unsaved[field.id] = field.value;
      }
    });
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "panel") {
      var title = target.querySelector("#panel-title");
      var body = target.querySelector(".panel-body");
      var technique = body && body.getAttribute("data-technique");
      if (technique === unsavedTechnique) {
        Object.keys(unsaved).forEach(function (id) {
          var field = document.getElementById(id);
          if (field && field.value === field.defaultValue) field.value = unsaved[id];
        });
      }
      unsaved = {};
      var again = focusedId && document.getElementById(focusedId);
      var opener = event.detail.requestConfig && event.detail.requestConfig.elt;
      if (opener && opener.classList && opener.classList.contains("wlink")) openPanel(technique);
      if (again) {
        var folded = again.closest("details");
        if (folded) folded.open = true;
        again.focus();
      } else if (opener && opener.classList && opener.classList.contains("wlink") && title) {
        title.setAttribute("tabindex", "-1");
        title.focus();
      }
      document.querySelectorAll(".wcell.selected").forEach(function (cell) { cell.classList.remove("selected"); });
      var opened = cellOf(technique);
      if (opened) opened.parentElement.classList.add("selected");
    }
    // After a bulk action, untick everything.
    if (target && target.id === "flash") {
      document.querySelectorAll("input.pick:checked").forEach(function (box) { box.checked = false; });
    }
  });

  // ---------------------------------------------------------------- the matrix as a grid
  // Arrow keys move between every visible technique and sub-technique: up
  // and down a tactic, sideways to the nearest row of the next tactic that
  // has any. Single keys decide applicability; `?` shows the list of keys.
  // Chromium lays out the content of a closed <details> (it is only skipped
  // from painting), so its links have boxes: they count as hidden here.
  function visible(element) {
    return element.getClientRects().length > 0 && !element.closest("details:not([open])");
  }
  function columnLinks(column) {
    return Array.prototype.filter.call(column.querySelectorAll("a.wlink"), visible);
  }
  function middle(element) { var box = element.getBoundingClientRect(); return box.top + box.height / 2; }
  function neighbour(link, key) {
    var column = link.closest(".column");
    var links = columnLinks(column);
    var index = links.indexOf(link);
    if (key === "ArrowDown") return links[index + 1];
    if (key === "ArrowUp") return links[index - 1];
    if (key === "Home") return links[0];
    if (key === "End") return links[links.length - 1];
    var columns = Array.prototype.slice.call(document.querySelectorAll(".wmatrix .column"));
    var step = key === "ArrowRight" ? 1 : -1;
    var y = middle(link);
    for (var c = columns.indexOf(column) + step; c >= 0 && c < columns.length; c += step) {
      var other = columnLinks(columns[c]);
      if (!other.length) continue;
      return other.reduce(function (best, candidate) {
        return Math.abs(middle(candidate) - y) < Math.abs(middle(best) - y) ? candidate : best;
      });
    }
    return null;
  }
  var APPLICABILITY = { a: "applies", n: "not_applicable", u: "unknown" };
  function decide(link, applicability) {
    var matrix = link.closest(".wmatrix");
    if (!matrix || !matrix.hasAttribute("data-can-edit")) return;
    htmx.ajax("POST", "/systems/" + matrix.getAttribute("data-system") + "/bulk", {
      target: "#flash", swap: "innerHTML", source: link,
      values: { techniques: link.getAttribute("data-technique"), applicability: applicability }
    });
  }
  function toggleShortcuts() {
    var list = document.getElementById("shortcuts");
    if (!list) return;
    list.open = !list.open;
    if (list.open) list.querySelector("summary").focus();
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    var target = event.target;
    if (event.key === "Escape" && closePanel()) { event.preventDefault(); return; }
    if (typingIn(target)) return;
    if (event.key === "?") { toggleShortcuts(); event.preventDefault(); return; }
    if (!(target instanceof HTMLAnchorElement) || !target.classList.contains("wlink")) return;
    if (/^(Arrow(Up|Down|Left|Right)|Home|End)$/.test(event.key)) {
      var next = neighbour(target, event.key);
      if (next) next.focus();
      event.preventDefault();
    } else if (event.key === " ") {
      var box = target.parentElement.querySelector("input.pick");
      if (box) box.checked = !box.checked;
      event.preventDefault();
    } else if (APPLICABILITY[event.key.toLowerCase()] && !event.shiftKey) {
      decide(target, APPLICABILITY[event.key.toLowerCase()]);
      event.preventDefault();
    }
  });

  // ---------------------------------------------------------------- small helpers
  // Times in words stay current while a page stays open.
  function inWords(at, now) {
    var seconds = Math.round((now - at) / 1000);
    var ahead = seconds < 0;
    var span = Math.abs(seconds);
    function said(n, unit) {
      var text = n + " " + unit + (n === 1 ? "" : "s");
      return ahead ? "in " + text : text + " ago";
    }
    if (span < 60) return "just now";
    if (span < 3600) return said(Math.floor(span / 60), "minute");
    if (span < 86400) return said(Math.floor(span / 3600), "hour");
    if (span < 172800 && !ahead) return "yesterday";
    if (span < 604800) return said(Math.floor(span / 86400), "day");
    return null;
  }
  setInterval(function () {
    var now = Date.now();
    document.querySelectorAll("time[datetime][title]").forEach(function (element) {
      var words = inWords(Date.parse(element.getAttribute("datetime")), now);
      if (words) element.textContent = words;
    });
  }, 60000);

  // A searchable list of techniques: typing narrows it.
  document.addEventListener("input", function (event) {
    var search = event.target;
    if (!(search instanceof HTMLInputElement) || !search.hasAttribute("data-filters")) return;
    var list = document.getElementById(search.getAttribute("data-filters"));
    var words = search.value.toLowerCase().trim();
    if (!list) return;
    list.querySelectorAll("li").forEach(function (item) {
      item.hidden = words !== "" && item.textContent.toLowerCase().indexOf(words) < 0;
    });
  });
})();
