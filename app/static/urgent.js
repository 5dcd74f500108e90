// Urgent events (应急处置) pushed to every page of a logged-in user (app/urgent.py): one
// EventSource on /urgent/stream; an event alerting the user's person shows a banner with sound
// and the buttons to acknowledge it and to say "I'm on site" (with the phone's location); the
// map wall (and the /urgent list) also get the open events of the user's area, drawn as
// markers without a reload. Every text from the server is set with textContent.
(function () {
  "use strict";
  var node = document.getElementById("urgent-texts");
  if (!node || !window.EventSource) { return; }
  var C = JSON.parse(node.textContent);
  var T = C.t, W = C.words;
  var el = function (tag, attributes, children) {
    return window.gridwatchElement(tag, attributes, children);
  };
  var box = document.getElementById("urgent-alerts");
  var events = {};      // number -> the latest state of each event this page knows
  var skew = 0;         // the server's clock minus this one's, in ms
  var markers = {}, layer = null;
  var area = document.body.classList.contains("wall") ||
    !!document.querySelector("[data-urgent-area]");

  function fmt(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_m, k) { return values[k]; });
  }
  function remembered(key) {
    try { return JSON.parse(window.sessionStorage.getItem(key) || "{}"); } catch (e) { return {}; }
  }
  function remember(key, number, value) {
    var all = remembered(key);
    all[number] = value;
    try { window.sessionStorage.setItem(key, JSON.stringify(all)); } catch (e) { /* private */ }
  }
  function minutesSince(iso) {
    if (!iso) { return null; }
    return Math.max(0, Math.floor((Date.now() + skew - new Date(iso).getTime()) / 60000));
  }
  function ago(iso) {
    var n = minutesSince(iso);
    return n === null ? "" : (n < 1 ? T.justNow : fmt(T.minutesAgo, {n: n}));
  }

  // --- sound ----------------------------------------------------------------------------
  var audio = null;
  function ring() {
    try {
      audio = audio || new Audio(C.sound);
      audio.currentTime = 0;
      var played = audio.play();
      document.body.dataset.urgentSound = "playing";
      if (played && played.catch) {
        played.catch(function () {
          // The browser wants a tap first: the next one anywhere plays it.
          document.body.dataset.urgentSound = "blocked";
          document.addEventListener("click", function () {
            audio.play().then(function () { document.body.dataset.urgentSound = "playing"; },
                              function () {});
          }, {once: true});
        });
      }
    } catch (e) { document.body.dataset.urgentSound = "none"; }
  }

  // --- the banner ----------------------------------------------------------------------------
  function statusLine(e) {
    var parts = [fmt(T.raised, {when: ago(e.raised_at)}), fmt(T.level, {n: e.level}),
                 W.statuses[e.status] || e.status];
    if (e.acknowledged_by) { parts.push(fmt(T.acknowledgedBy, {who: e.acknowledged_by})); }
    if (e.on_site_by) { parts.push(fmt(T.onSiteBy, {who: e.on_site_by})); }
    return parts.join(" · ");
  }
  function post(e, step, body, out) {
    out.textContent = T.sending;
    window.gridwatchFetch(C.api.replace("__N__", encodeURIComponent(e.number)) + step, {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().then(function (data) {
        if (response.ok) {
          out.textContent = T.done;
          out.className = "result ok";
          update(Object.assign({}, events[e.number], data, {mine: true, may_handle: true}));
        } else {
          out.textContent = T.failed + ((data.error && data.error.message) || response.status);
          out.className = "result failed";
        }
      });
    }).catch(function () { out.textContent = T.failed + T.offline; out.className = "result failed"; });
  }
  function onSite(e, out) {
    out.textContent = T.locating;
    if (!navigator.geolocation) { post(e, "on-site", {}, out); return; }
    navigator.geolocation.getCurrentPosition(function (pos) {
      post(e, "on-site", {lon: pos.coords.longitude, lat: pos.coords.latitude}, out);
    }, function () { post(e, "on-site", {}, out); },
    {enableHighAccuracy: true, timeout: 10000, maximumAge: 60000});
  }
  function banner(e) {
    var card = box.querySelector(".urgent-banner[data-number='" + e.number + "']");
    var closed = e.status === "closed";
    var dismissed = remembered("gridwatch-urgent-dismissed")[e.number];
    if (closed || !e.mine || (dismissed && dismissed >= e.level)) {
      if (card) { card.remove(); }
      return;
    }
    var out = card ? card.querySelector("output") : el("output", {className: "result"}, []);
    var actions = el("p", {className: "actions"}, []);
    if (e.may_handle && e.status === "raised") {
      var ack = el("button", {type: "button", className: "urgent-ack"}, [T.acknowledge]);
      ack.addEventListener("click", function () { post(e, "acknowledge", {}, out); });
      actions.appendChild(ack);
    }
    if (e.may_handle && e.status !== "on_site") {
      var here = el("button", {type: "button", className: "urgent-on-site"}, [T.onSite]);
      here.addEventListener("click", function () { onSite(e, out); });
      actions.appendChild(here);
    }
    actions.appendChild(el("a", {href: e.url, className: "button secondary urgent-open"},
                           [T.details]));
    var hide = el("button", {type: "button", className: "link urgent-dismiss"}, [T.dismiss]);
    hide.addEventListener("click", function () {
      remember("gridwatch-urgent-dismissed", e.number, e.level);
      fresh.remove();
    });
    actions.appendChild(hide);
    var where = [e.cell ? e.cell.name : null, e.address].filter(Boolean).join(" · ");
    var fresh = el("section", {className: "urgent-banner", "data-number": e.number,
                               "data-status": e.status, "data-level": String(e.level),
                               role: "alertdialog", "aria-label": T.title}, [
      el("h2", {}, [T.title + " ", el("span", {translate: "no"}, [e.number]), " · ",
                    W.kinds[e.kind] || e.kind]),
      el("p", {className: "what", translate: "no"}, [e.description]),
      where ? el("p", {className: "where", translate: "no"}, [where]) : null,
      el("p", {className: "when urgent-status", "data-since": e.raised_at}, [statusLine(e)]),
      actions, out]);
    if (card) { card.replaceWith(fresh); } else { box.appendChild(fresh); }
    var heard = remembered("gridwatch-urgent-heard")[e.number];
    if (e.status === "raised" && !(heard >= e.level)) {
      remember("gridwatch-urgent-heard", e.number, e.level);
      ring();
    }
  }

  // --- the map wall ---------------------------------------------------------------------------
  function drawMarker(e) {
    var GW = window.GridWatchMap;
    if (!GW || !GW.map || !window.L) { return; }
    if (!layer) { layer = L.layerGroup().addTo(GW.map); }
    if (markers[e.number]) { layer.removeLayer(markers[e.number]); delete markers[e.number]; }
    if (e.status !== "closed") {
      var dot = el("span", {className: "urgent-dot", "data-number": e.number,
                            "data-status": e.status}, [T.mark]);
      var marker = L.marker([e.lat, e.lon], {
        icon: L.divIcon({html: dot, className: "urgent-marker", iconSize: [30, 30]}),
        zIndexOffset: 1000, title: e.number, keyboard: true});
      marker.bindPopup(function () {
        return el("div", {className: "urgent-popup"}, [
          el("strong", {}, [(W.kinds[e.kind] || e.kind) + " "]),
          el("a", {href: e.url, translate: "no"}, [e.number]),
          el("p", {translate: "no"}, [e.description]),
          el("p", {}, [statusLine(e)])]);
      });
      marker.addTo(layer);
      markers[e.number] = marker;
    }
    document.body.dataset.urgentMarkers = String(Object.keys(markers).length);
  }
  function drawAll() {
    Object.keys(events).forEach(function (n) { drawMarker(events[n]); });
  }
  window.addEventListener("gridwatch:drawn", drawAll);

  // --- the /urgent list -------------------------------------------------------------------------
  function listRow(e) {
    var table = document.getElementById("urgent-events");
    if (!table) { return; }
    var row = table.querySelector("tr[data-number='" + e.number + "']");
    if (row) {
      row.dataset.status = e.status;
      var status = row.querySelector(".status");
      if (status) { status.textContent = W.statuses[e.status] || e.status; }
      var level = row.querySelector(".level");
      if (level) { level.textContent = String(e.level); }
      return;
    }
    if (e.status === "closed") { return; }
    var empty = table.querySelector("tr.empty");
    if (empty) { empty.remove(); }
    var fresh = el("tr", {className: "urgent-row new", "data-number": e.number,
                          "data-status": e.status}, [
      el("td", {}, [el("a", {href: e.url, translate: "no"}, [e.number])]),
      el("td", {}, [W.kinds[e.kind] || e.kind]),
      el("td", {translate: "no"}, [[e.cell ? e.cell.name : null, e.address].filter(Boolean)
                                    .join(" · ")]),
      el("td", {translate: "no"}, [e.description]),
      el("td", {}, [el("span", {className: "urgent-timer", "data-since": e.raised_at},
                       [ago(e.raised_at)])]),
      el("td", {className: "level"}, [String(e.level)]),
      el("td", {className: "status"}, [W.statuses[e.status] || e.status])]);
    var head = table.querySelector("tr.head");
    head.parentNode.insertBefore(fresh, head.nextSibling);
  }

  // --- the stream ------------------------------------------------------------------------------
  function update(e) {
    events[e.number] = e;
    banner(e);
    if (area || e.mine) { drawMarker(e); }
    listRow(e);
    if (e.status === "closed") { delete events[e.number]; }
  }
  function tick() {
    document.querySelectorAll(".urgent-timer[data-since]").forEach(function (t) {
      t.textContent = ago(t.dataset.since);
    });
    Object.keys(events).forEach(function (n) {
      var line = box.querySelector(".urgent-banner[data-number='" + n + "'] .urgent-status");
      if (line) { line.textContent = statusLine(events[n]); }
    });
  }

  function start() {
    var source = new EventSource(C.stream + (area ? "?area=1" : ""));
    source.addEventListener("snapshot", function (m) {
      var data = JSON.parse(m.data);
      skew = new Date(data.now).getTime() - Date.now();
      var open = {};
      data.events.forEach(function (e) { open[e.number] = true; update(e); });
      // What closed while this page was not listening.
      Object.keys(events).forEach(function (n) {
        if (!open[n]) { update(Object.assign({}, events[n], {status: "closed"})); }
      });
      document.body.dataset.urgentStream = "ready";
    });
    source.addEventListener("urgent", function (m) { update(JSON.parse(m.data)); });
    source.addEventListener("error", function () {
      document.body.dataset.urgentStream = "reconnecting";
    });
    window.setInterval(tick, 30000);
    tick();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
