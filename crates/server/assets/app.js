// LabLedger UI: small progressive enhancements. Every page works without this script;
// the Content-Security-Policy allows only this file (no inline scripts or handlers).
(function () {
  "use strict";

  document.documentElement.dataset.js = "on";

  // Forms with data-confirm ask before submitting (remove a member, delete a role).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    // Keep a slow POST from being sent twice.
    if (form.method.toLowerCase() === "post") {
      window.setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) {
          b.disabled = true;
          b.setAttribute("aria-busy", "true");
        });
      }, 0);
    }
  });

  // The org switcher goes on as soon as an org is chosen.
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el instanceof HTMLSelectElement && el.hasAttribute("data-autosubmit") && el.value && el.form) {
      el.form.submit();
    }
  });

  document.addEventListener("click", function (event) {
    var el = event.target instanceof Element ? event.target.closest("button") : null;
    if (!el) return;

    // Dismiss a flash message.
    if (el.getAttribute("data-dismiss") === "flash") {
      var flash = el.closest(".flash");
      if (flash) flash.remove();
      return;
    }

    // Copy a secret (the initial password) to the clipboard.
    var selector = el.getAttribute("data-copy");
    if (selector) {
      var source = document.querySelector(selector);
      if (!source || !navigator.clipboard) return;
      navigator.clipboard.writeText(source.textContent || "").then(function () {
        var label = el.textContent;
        el.textContent = "Copied";
        window.setTimeout(function () { el.textContent = label; }, 1500);
      });
    }
  });
  // Print buttons (the printable label page).
  document.addEventListener("click", function (event) {
    var el = event.target;
    if (el instanceof Element && el.closest(".js-print")) window.print();
  });
})();
