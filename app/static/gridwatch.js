// GridWatch page helpers. Forms marked data-json-action send their fields as JSON with the
// page's CSRF token in X-CSRFToken, and show the answer (or the error naming the field).
(function () {
  "use strict";
  var token = document.querySelector('meta[name="csrf-token"]');
  window.gridwatchFetch = function (url, options) {
    options = options || {};
    options.headers = Object.assign({"Accept": "application/json"}, options.headers || {});
    if (token && options.method && options.method !== "GET") {
      options.headers["X-CSRFToken"] = token.content;
    }
    options.credentials = "same-origin";
    return fetch(url, options);
  };
  document.querySelectorAll("form[data-json-action]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = {};
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!el.name || el.value === "") { return; }
        body[el.name] = el.dataset.kind === "int" ? Number(el.value) : el.value;
      });
      var out = form.querySelector("output.result");
      window.gridwatchFetch(form.dataset.jsonAction, {
        method: form.dataset.jsonMethod || "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify(body)
      }).then(function (response) {
        return response.json().then(function (data) {
          if (out) {
            out.textContent = response.ok ? "✓" : (data.error && data.error.message) || response.status;
            out.className = "result " + (response.ok ? "ok" : "failed");
          }
          if (response.ok && form.dataset.reload !== "false") {
            setTimeout(function () { window.location.reload(); }, 400);
          }
        });
      });
    });
  });
}());
