// The inspector's lookup page: tap the map, type coordinates, find an enterprise or use the
// device's location; the answer card lists the people with tel: links and links each
// enterprise to its record.
(function () {
  "use strict";
  var T = JSON.parse(document.getElementById("texts").textContent);
  var message = document.getElementById("lookup-message");
  var card = document.getElementById("lookup-card");
  var searchBox = document.getElementById("search-box");
  var results = document.getElementById("search-results");
  var outside = document.getElementById("search-outside");
  var marker = null;
  // One column (a phone): the answer sits under the map and is brought into view.
  var narrow = window.matchMedia("(max-width: 899px)");

  function esc(v) {
    return String(v === null || v === undefined ? "" : v).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function fill(text, n) { return text.replace("%(n)s", Number(n).toLocaleString()); }
  function recordUrl(code) { return T.recordUrl.replace("__CODE__", encodeURIComponent(code)); }
  function recordLink(code, label) {
    return '<a class="record" href="' + esc(recordUrl(code)) + '">' + esc(label) + "</a>";
  }
  function tel(phone) {
    return phone ? ' <a href="tel:' + esc(phone) + '">' + esc(phone) + "</a>" : "";
  }
  function person(label, p) {
    if (!p) { return ""; }
    var extra = p.inherited ? " <small>(" + esc(T.inherited) + " " + esc(p.cell_code) + ")</small>" : "";
    return "<tr><th>" + esc(label) + "</th><td>" + esc(p.name) + tel(p.phone) + extra +
      (p.unit ? "<br><small>" + esc(p.unit) + "</small>" : "") + "</td></tr>";
  }
  // A moment as the bureau's local date (YYYY-MM-DD), as the history page shows it: the answer
  // carries UTC, whose date differs from the local one for eight hours a day.
  function day(iso) {
    return iso ? new Date(iso).toLocaleDateString("sv-SE", {timeZone: T.zone}) : "";
  }
  function byRole(list, role) {
    return (list || []).filter(function (p) { return p.role === role; })[0];
  }
  function reveal(el) {
    if (!narrow.matches) { return; }
    // The answer's top at half the screen: it is read, and the pin above stays well in view.
    var top = el.getBoundingClientRect().top - window.innerHeight * 0.5;
    if (top > 0) { window.scrollBy({top: top, behavior: "smooth"}); }
  }
  function show(answer) {
    var r = answer.responsibilities || {};
    var rows = [];
    if (answer.enterprise) {
      rows.push("<tr><th>" + recordLink(answer.enterprise.management_code, answer.enterprise.name) +
                "</th><td>" + esc(answer.enterprise.management_code) + " · " +
                esc(answer.enterprise.grade) + "</td></tr>");
      rows.push(person(T.principal, (r.enterprise || [])[0]));
      if (answer.enterprise.contact && answer.enterprise.contact.name) {
        rows.push("<tr><th>" + esc(T.contact) + "</th><td>" + esc(answer.enterprise.contact.name) +
                  tel(answer.enterprise.contact.phone) + "</td></tr>");
      }
    }
    if (answer.cell) {
      var v = answer.cell.version || {};
      rows.push("<tr><th>" + esc(T.cell) + "</th><td><strong>" + esc(answer.cell.name) +
                "</strong> <code>" + esc(answer.cell.code) + "</code><br><small>" + esc(T.version) +
                " " + esc(day(v.valid_from)) + " – " +
                esc(v.valid_to ? day(v.valid_to) : T.now) + "</small></td></tr>");
    }
    if (answer.on_edge) { rows.push('<tr><td colspan="2" class="warning">' + esc(T.edge) + "</td></tr>"); }
    rows.push(person(T.owner, byRole(r.department, "owner")));
    if (answer.station) {
      rows.push("<tr><th>" + esc(T.station) + "</th><td>" + esc(answer.station.name) + tel(answer.station.phone) + "</td></tr>");
    }
    rows.push(person(T.station_chief, byRole(r.department, "station_chief")));
    rows.push(person(T.township_leader, byRole(r.government, "township_leader")));
    if (answer.township) {
      rows.push("<tr><th>" + esc(T.township) + "</th><td>" + esc(answer.township.name) +
                (answer.village ? " · " + esc(answer.village.name) : "") + "</td></tr>");
    }
    var pro = (answer.professional || []).filter(function (g) { return g.level === 3 || !g.owner; })
      .map(function (g) {
        return "<li>" + esc(g.name) + (g.owner ? " · " + esc(g.owner.name) + tel(g.owner.phone) : "") + "</li>";
      });
    // Named by the lookup whatever the user's area (docs/security.md); the record itself is
    // checked against the area when opened.
    var near = (answer.nearest_enterprises || []).map(function (e) {
      return "<li>" + recordLink(e.management_code, e.name) + " · " + esc(e.grade) + " · " +
        Math.round(e.distance_m).toLocaleString() + " " + esc(T.m) + "</li>";
    });
    card.innerHTML = '<table class="popup">' + rows.join("") + "</table>" +
      (pro.length ? "<h3>" + esc(T.professional) + "</h3><ul>" + pro.join("") + "</ul>" : "") +
      (near.length ? "<h3>" + esc(T.nearby) + "</h3><ul>" + near.join("") + "</ul>" : "");
    card.hidden = false;
    message.textContent = "";
    reveal(card);
  }
  function failed(response, data) {
    card.hidden = true;
    if (response.status === 404 && data.error && data.error.nearest_cell !== undefined) {
      // The answer says it in the user's language, with the nearest cell and its distance.
      message.textContent = data.error.message;
    } else {
      message.textContent = window.gridwatchLabelled(
        T.failed, (data.error && data.error.message) || response.status);
    }
    reveal(message);
  }
  function get(url) {
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        return response.json().then(function (data) { return {response: response, data: data}; });
      });
  }
  function map() { return window.GridWatchMap && window.GridWatchMap.map; }
  function place(lat, lon) {
    var m = map();
    if (!m) { return; }
    if (marker) { marker.setLatLng([lat, lon]); } else { marker = L.marker([lat, lon]).addTo(m); }
    m.setView([lat, lon], Math.max(m.getZoom(), 13));
  }
  function unplace() {
    if (marker) { marker.remove(); marker = null; }
  }
  function settle(ok) { document.body.dataset.lookup = ok ? "found" : "failed"; }
  function lookupAt(lon, lat, crs, at) {
    var params = new URLSearchParams({lon: lon, lat: lat, crs: crs || "wgs84"});
    if (at) { params.set("at", at); }
    return get("/api/v1/lookup?" + params.toString()).then(function (r) {
      if (r.data.query && r.data.query.wgs84) {
        place(r.data.query.wgs84[1], r.data.query.wgs84[0]);
      } else {
        // The input was refused: no pin may stay where the last answer was.
        unplace();
      }
      if (r.response.ok) { show(r.data); } else { failed(r.response, r.data); }
      settle(r.response.ok);
    });
  }
  function openEnterprise(code, lat, lon) {
    delete document.body.dataset.lookup;
    return get("/api/v1/enterprises/" + encodeURIComponent(code) + "/responsible")
      .then(function (res) {
        var e = res.data.enterprise;
        if (res.response.ok && e) { place(e.lat, e.lon); } else if (lat !== undefined) { place(lat, lon); } else { unplace(); }
        if (res.response.ok) { show(res.data); } else { failed(res.response, res.data); }
        settle(res.response.ok);
      });
  }
  function showOutside(out) {
    outside.replaceChildren();
    outside.hidden = !(out && out.count);
    if (outside.hidden) { return; }
    outside.appendChild(document.createTextNode(fill(T.outsideCount, out.count)));
    var list = document.createElement("ul");
    list.className = "outside-stations";
    out.by_station.forEach(function (s) {
      var li = document.createElement("li");
      li.innerHTML = (s.station ? esc(s.station) + tel(s.station_phone) +
                      (s.chief ? " · " + esc(T.chief) + " " + esc(s.chief) + tel(s.chief_phone) : "")
                      : esc(T.outsideCity)) + " (" + esc(Number(s.n).toLocaleString()) + ")";
      list.appendChild(li);
    });
    outside.appendChild(list);
  }
  function search(q) {
    delete document.body.dataset.search;
    message.textContent = T.searching;
    return get("/api/v1/enterprises?" + new URLSearchParams({q: q})).then(function (r) {
      var found = r.data.enterprises || [];
      results.replaceChildren();
      searchBox.hidden = false;
      if (!r.response.ok) {
        message.textContent = window.gridwatchLabelled(
          T.failed, (r.data.error && r.data.error.message) || r.response.status);
      } else if (!found.length && !(r.data.outside && r.data.outside.count)) {
        message.textContent = T.noResults;
      } else {
        // The search answers 20 at most: a full page means there may be more.
        message.textContent = fill(found.length >= 20 ? T.first : T.found, found.length);
      }
      found.forEach(function (e) {
        var li = document.createElement("li");
        var name = document.createElement("span");
        name.className = "name";
        name.textContent = e.name + " (" + e.management_code + ") · " + e.grade +
          (e.cell_name ? " · " + e.cell_name : "");
        var showButton = document.createElement("button");
        showButton.type = "button";
        showButton.className = "show";
        showButton.textContent = T.show;
        showButton.addEventListener("click", function () { openEnterprise(e.management_code, e.lat, e.lon); });
        var link = document.createElement("a");
        link.className = "record";
        link.href = recordUrl(e.management_code);
        link.textContent = T.record;
        li.append(name, showButton, link);
        results.appendChild(li);
      });
      showOutside(r.response.ok ? r.data.outside : null);
      reveal(searchBox);
      document.body.dataset.search = r.response.ok ? "done" : "failed";
    });
  }

  document.getElementById("coords").addEventListener("submit", function (event) {
    event.preventDefault();
    var f = event.target.elements;
    lookupAt(f.lon.value.trim(), f.lat.value.trim(), f.crs.value, f.at.value);
  });
  document.getElementById("locate").addEventListener("click", function () {
    if (!navigator.geolocation) { message.textContent = T.denied; return; }
    message.textContent = T.locating;
    navigator.geolocation.getCurrentPosition(function (pos) {
      lookupAt(pos.coords.longitude.toFixed(7), pos.coords.latitude.toFixed(7), "wgs84");
    }, function () { message.textContent = T.denied; document.body.dataset.lookup = "denied"; },
    {enableHighAccuracy: true, timeout: 10000});
  });
  document.getElementById("enterprise-search").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = event.target.elements.q;
    input.blur();  // closes a phone's keyboard, which would hide the results
    search(input.value.trim());
  });
  document.addEventListener("DOMContentLoaded", function () {
    var m = map();
    if (!m) { return; }
    // The first view is the user's own area (after map.js's remembered view: this page
    // always opens where the inspector works).
    if (T.home) { m.fitBounds(T.home, {animate: false}); }
    m.on("click", function (e) {
      lookupAt(e.latlng.lng.toFixed(7), e.latlng.lat.toFixed(7), "wgs84");
    });
    if (T.enterprise) { openEnterprise(T.enterprise); }
  });
}());
