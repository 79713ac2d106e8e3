// Small page behaviours every page shares (no framework; docs/accessibility.md):
//  1. the navigation's disclosure button on narrow screens;
//  2. wide tables: each cell gets its column's name (data-label) so CSS can show rows as cards below
//     600 px; a table wrapper that still scrolls sideways becomes a focusable, labelled region;
//  3. focus after an HTMX swap: to the element marked data-focus-after-swap in the new markup, else
//     to the swapped element (same id), and its text is announced in the #messages live region.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // 1. Navigation disclosure ------------------------------------------------------------------
  function setUpMenu() {
    var button = document.getElementById("menu-toggle");
    if (!button || button.dataset.ready) return;
    button.dataset.ready = "1";
    var panel = document.getElementById(button.getAttribute("aria-controls"));
    button.hidden = false;
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", open ? "true" : "false");
      if (panel) panel.classList.toggle("open", open);
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
        button.setAttribute("aria-expanded", "false");
        if (panel) panel.classList.remove("open");
        button.focus();
      }
    });
  }

  // 2. Tables ------------------------------------------------------------------------------------
  function labelTables(root) {
    (root || document).querySelectorAll("table").forEach(function (table) {
      var headers = [];
      var head = table.tHead && table.tHead.rows[0];
      if (head) {
        var column = 0;
        Array.prototype.forEach.call(head.cells, function (cell) {
          var span = cell.colSpan || 1;
          for (var i = 0; i < span; i++) headers[column + i] = cell.textContent.trim();
          column += span;
        });
      }
      Array.prototype.forEach.call(table.tBodies, function (body) {
        Array.prototype.forEach.call(body.rows, function (row) {
          var column = 0;
          Array.prototype.forEach.call(row.cells, function (cell) {
            if (!cell.hasAttribute("data-label") && headers[column] && cell.colSpan < 2) {
              cell.setAttribute("data-label", headers[column]);
            }
            column += cell.colSpan || 1;
          });
        });
      });
    });
    (root || document).querySelectorAll(".table-wrap").forEach(function (wrap) {
      if (wrap.hasAttribute("tabindex")) return;
      var table = wrap.querySelector("table");
      var name = wrap.getAttribute("aria-label");
      if (!name && table) {
        var caption = table.caption;
        var labelledby = table.getAttribute("aria-labelledby");
        var labelElement = labelledby && document.getElementById(labelledby);
        name = (caption && caption.textContent.trim()) || (labelElement && labelElement.textContent.trim()) ||
          table.getAttribute("aria-label") || (document.querySelector("h1") || {}).textContent || "";
      }
      wrap.setAttribute("tabindex", "0");
      wrap.setAttribute("role", "region");
      if (name) wrap.setAttribute("aria-label", name.trim());
    });
  }

  // 3. Focus after a swap ------------------------------------------------------------------------
  var swappedId = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    swappedId = target && target.id ? target.id : null;
  });

  function announce(text) {
    var box = document.getElementById("messages");
    if (!box || !text) return;
    box.textContent = "";
    window.setTimeout(function () { box.textContent = text.replace(/\s+/g, " ").trim().slice(0, 300); }, 50);
  }

  function focusOn(element) {
    if (!element) return false;
    if (!element.matches("a[href], button, input, select, textarea, [tabindex]")) {
      element.setAttribute("tabindex", "-1");
    }
    element.focus({ preventScroll: false });
    return document.activeElement === element;
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    labelTables(document);
    var detail = event.detail || {};
    // A boosted navigation or a plain filter keeps focus where the user is typing.
    var active = document.activeElement;
    var marked = document.querySelector("[data-focus-after-swap]");
    var element = marked;
    if (!element) {
      var stillThere = active && active !== document.body && document.contains(active);
      if (stillThere) { swappedId = null; return; }
      element = (swappedId && document.getElementById(swappedId)) || (detail.target && document.contains(detail.target) ? detail.target : null) ||
        document.getElementById("main");
    }
    if (marked) marked.removeAttribute("data-focus-after-swap");
    if (focusOn(element) && element.id !== "messages" && element.id !== "main") {
      var status = element.querySelector("[role=status], [role=alert]") || element;
      if (element.getAttribute("role") !== "status" && element.getAttribute("role") !== "alert") {
        announce(status.getAttribute("data-announce") || status.textContent || "");
      }
    }
    swappedId = null;
  });

  // A route may name the element explicitly (web/htmx_hooks.py hx_focus): it wins over the above.
  document.addEventListener("alliance:focus", function (event) {
    var selector = event.detail && (event.detail.value || event.detail);
    var element = typeof selector === "string" ? document.querySelector(selector) : null;
    if (element && focusOn(element)) announce(element.getAttribute("data-announce") || element.textContent || "");
  });

  function ready() { setUpMenu(); labelTables(document); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
