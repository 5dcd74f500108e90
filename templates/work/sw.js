// GridWatch field pages' service worker (app/work.py). Keeps My work, the checklist form and
// their scripts and styles on the phone, so both open without signal. The work list itself and
// the inspections waiting to be sent live in IndexedDB (app/static/work.js), not here.
"use strict";
var CACHE = "gridwatch-{{ version }}";
var ASSETS = {{ assets }};

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    // One asset missing must not stop the others (the page caches them again on each visit).
    return Promise.all(ASSETS.map(function (url) {
      return cache.add(new Request(url, {credentials: "same-origin"})).catch(function () {});
    }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) {
      return k.indexOf("gridwatch-") === 0 && k !== CACHE;
    }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

function fromNetwork(request, cache) {
  return fetch(request).then(function (response) {
    // A login page reached by a redirect is not the page asked for: never keep it.
    if (response.ok && !response.redirected && response.type === "basic") {
      cache.put(request.url.split("?")[0], response.clone());
    }
    return response;
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  var page = request.mode === "navigate" && url.pathname.indexOf("/work/") === 0;
  var asset = url.pathname.indexOf("/static/") === 0;
  if (!page && !asset) { return; }
  event.respondWith(caches.open(CACHE).then(function (cache) {
    if (page) {
      // The network first (fresh pages and a fresh CSRF token), the saved page without it.
      return fromNetwork(request, cache).catch(function () {
        return cache.match(url.pathname, {ignoreSearch: true}).then(function (hit) {
          return hit || Response.error();
        });
      });
    }
    return cache.match(request, {ignoreSearch: false}).then(function (hit) {
      return hit || cache.match(url.pathname, {ignoreSearch: true}).then(function (loose) {
        return loose || fromNetwork(request, cache);
      });
    });
  }));
});
