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

// Evidence upload (files page, and the "Evidence files" section of sample, batch and workflow-run
// pages): the chosen file's bytes go to the API as the request body, with the session's CSRF
// token in the header and a progress bar; `data-attach` (e.g. `sample_id=…`) attaches the new
// file to the page's record in the same request. The page reloads when it is stored.
(function () {
  "use strict";
  function wire(form) {
    var input = form.querySelector("input[type=file]");
    var bar = form.querySelector("progress");
    var status = form.querySelector("[role=status]");
    var button = form.querySelector("button[type=submit]");
    if (!input || !bar || !status || !button) return;
    function done(message, ok) {
      status.textContent = message;
      status.className = ok ? "" : "field-error";
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      event.stopPropagation();
      var file = input.files && input.files[0];
      if (!file) {
        done("Choose a file first.", false);
        return;
      }
      var max = Number(form.dataset.maxBytes || "0");
      if (max && file.size > max) {
        done("This file is larger than the server accepts.", false);
        return;
      }
      var url = form.dataset.uploadUrl + "?name=" + encodeURIComponent(file.name);
      if (form.dataset.attach) url += "&" + form.dataset.attach;
      var xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      bar.hidden = false;
      bar.value = 0;
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      status.textContent = "Uploading " + file.name + "…";
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
      });
      xhr.addEventListener("load", function () {
        if (xhr.status === 201) {
          bar.value = 100;
          var v = JSON.parse(xhr.responseText);
          done("Stored " + v.name + " (version " + v.version + ", SHA-256 " + v.sha256 + ").", true);
          window.location.reload();
        } else {
          var detail = "The upload failed (" + xhr.status + ").";
          try {
            var p = JSON.parse(xhr.responseText);
            detail = p.title + ": " + (p.detail || "") +
              (p.errors ? " " + p.errors.map(function (e) { return e.field + " " + e.message; }).join("; ") : "");
          } catch (ignored) { /* not problem+json */ }
          done(detail, false);
        }
      });
      xhr.addEventListener("error", function () {
        done("The upload was interrupted.", false);
      });
      xhr.send(file);
    });
  }
  var forms = document.querySelectorAll("form#upload-file, form.js-upload");
  for (var i = 0; i < forms.length; i++) wire(forms[i]);
})();

// Registering an analysis: an output file chosen in the form is first uploaded through the files
// API (category `analysis`, with the CSRF header and a progress bar); the new file is then
// selected as the output and the form is sent. Without this script the form still works with
// a file uploaded on the files page.
(function () {
  "use strict";
  var form = document.getElementById("analysis-form");
  if (!form) return;
  var input = document.getElementById("analysis-output-upload");
  var select = document.getElementById("output_file_id");
  var bar = document.getElementById("analysis-upload-progress");
  var status = document.getElementById("analysis-upload-status");
  var button = form.querySelector("button[type=submit]");
  form.addEventListener("submit", function (event) {
    var file = input && input.files && input.files[0];
    if (!file) return;
    event.preventDefault();
    event.stopPropagation();
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.uploadUrl + "?category=analysis&name=" + encodeURIComponent(file.name));
    xhr.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    bar.hidden = false;
    bar.value = 0;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    status.className = "";
    status.textContent = "Uploading " + file.name + "…";
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
    });
    function failed(message) {
      status.textContent = message;
      status.className = "field-error";
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
    xhr.addEventListener("load", function () {
      if (xhr.status !== 201) {
        var detail = "The upload failed (" + xhr.status + ").";
        try {
          var p = JSON.parse(xhr.responseText);
          detail = p.title + ": " + (p.detail || "");
        } catch (ignored) { /* not problem+json */ }
        failed(detail);
        return;
      }
      var v = JSON.parse(xhr.responseText);
      bar.value = 100;
      var option = document.createElement("option");
      option.value = v.id;
      option.textContent = v.name + " v" + v.version;
      select.appendChild(option);
      select.value = v.id;
      input.value = "";
      status.textContent = "Stored " + v.name + " (SHA-256 " + v.sha256 + ").";
      form.submit();
    });
    xhr.addEventListener("error", function () { failed("The upload was interrupted."); });
    xhr.send(file);
  });
})();
