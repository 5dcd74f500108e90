// GridWatch page helpers. Forms marked data-json-action send their fields as JSON with the
// page's CSRF token in X-CSRFToken, and show the answer (or the error naming the field).
(function () {
  "use strict";
  var token = document.querySelector('meta[name="csrf-token"]');
  // Every string a user typed or a file carried reaches the page as text, never as HTML: build
  // elements with this instead of concatenating markup. ``children``: strings (become text
  // nodes), numbers, elements, or null (skipped).
  window.gridwatchElement = function (tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      var value = attributes[name];
      if (value === null || value === undefined) { return; }
      if (name === "style") {
        Object.keys(value).forEach(function (p) { node.style.setProperty(p, value[p]); });
      } else if (name === "className") {
        node.className = value;
      } else {
        node.setAttribute(name, value);
      }
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) { return; }
      node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
    });
    return node;
  };
  // "<label>: <text>" as the page's language writes it: Chinese takes a full-width colon and
  // no space ("未提交：原因：必填"), English ": ".
  window.gridwatchLabelled = function (label, text) {
    var chinese = /^zh/i.test(document.documentElement.lang || "");
    return label + (chinese ? "：" : ": ") + text;
  };
  window.gridwatchFetch = function (url, options) {
    options = options || {};
    options.headers = Object.assign({"Accept": "application/json"}, options.headers || {});
    if (token && options.method && options.method !== "GET") {
      options.headers["X-CSRFToken"] = token.content;
    }
    options.credentials = "same-origin";
    return fetch(url, options);
  };
  // A form whose address holds a typed value (the user of "add a role"): built on submit,
  // here rather than in an inline handler, which the Content-Security-Policy forbids.
  document.querySelectorAll("form[data-action-base]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var value = document.getElementById(form.dataset.actionField).value;
      form.action = form.dataset.actionBase + encodeURIComponent(value) +
        (form.dataset.actionSuffix || "");
    });
  });
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
