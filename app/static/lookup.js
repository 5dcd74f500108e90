// The inspector's lookup page: tap the map, type coordinates, find an enterprise or use the
// device's location; the answer card lists the people with tel: links.
(function () {
  "use strict";
  var T = JSON.parse(document.getElementById("texts").textContent);
  var message = document.getElementById("lookup-message");
  var card = document.getElementById("lookup-card");
  var marker = null;

  function esc(v) {
    return String(v === null || v === undefined ? "" : v).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
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
  function show(answer) {
    var r = answer.responsibilities || {};
    var rows = [];
    if (answer.enterprise) {
      rows.push("<tr><th>" + esc(answer.enterprise.name) + "</th><td>" +
                esc(answer.enterprise.management_code) + " · " + esc(answer.enterprise.grade) + "</td></tr>");
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
    var near = (answer.nearest_enterprises || []).map(function (e) {
      return "<li>" + esc(e.name) + " · " + esc(e.grade) + " · " + Math.round(e.distance_m).toLocaleString() + " " + esc(T.m) + "</li>";
    });
    card.innerHTML = '<table class="popup">' + rows.join("") + "</table>" +
      (pro.length ? "<h3>" + esc(T.professional) + "</h3><ul>" + pro.join("") + "</ul>" : "") +
      (near.length ? "<h3>" + esc(T.nearby) + "</h3><ul>" + near.join("") + "</ul>" : "");
    card.hidden = false;
    message.textContent = "";
  }
  function failed(response, data) {
    card.hidden = true;
    if (response.status === 404 && data.error && data.error.nearest_cell !== undefined) {
      var n = data.error.nearest_cell;
      message.textContent = T.outside + (n ? " " + T.nearest + ": " + n.name + " (" + n.code + "), " +
        Math.round(n.distance_m).toLocaleString() + " " + T.m : "");
    } else {
      message.textContent = T.failed + ": " + ((data.error && data.error.message) || response.status);
    }
  }
  function get(url) {
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        return response.json().then(function (data) { return {response: response, data: data}; });
      });
  }
  function place(lat, lon) {
    var map = window.GridWatchMap && window.GridWatchMap.map;
    if (!map) { return; }
    if (marker) { marker.setLatLng([lat, lon]); } else { marker = L.marker([lat, lon]).addTo(map); }
    map.setView([lat, lon], Math.max(map.getZoom(), 13));
  }
  function lookupAt(lon, lat, crs, at) {
    var params = new URLSearchParams({lon: lon, lat: lat, crs: crs || "wgs84"});
    if (at) { params.set("at", at); }
    return get("/api/v1/lookup?" + params.toString()).then(function (r) {
      if (r.data.query && r.data.query.wgs84) {
        place(r.data.query.wgs84[1], r.data.query.wgs84[0]);
      } else if (marker) {
        // The input was refused: no pin may stay where the last answer was.
        marker.remove();
        marker = null;
      }
      if (r.response.ok) { show(r.data); } else { failed(r.response, r.data); }
      document.body.dataset.lookup = r.response.ok ? "found" : "failed";
    });
  }
  window.GridWatchLookup = {lookup: lookupAt};

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
    var list = document.getElementById("search-results");
    get("/api/v1/enterprises?" + new URLSearchParams({q: event.target.elements.q.value.trim()}))
      .then(function (r) {
        var found = (r.data.enterprises || []);
        list.innerHTML = found.length ? "" : "<li>" + esc(T.noResults) + "</li>";
        found.forEach(function (e) {
          var li = document.createElement("li");
          var a = document.createElement("a");
          a.href = "#"; a.textContent = e.name + " (" + e.management_code + ")";
          a.addEventListener("click", function (ev) {
            ev.preventDefault();
            get("/api/v1/enterprises/" + encodeURIComponent(e.management_code) + "/responsible")
              .then(function (res) {
                place(e.lat, e.lon);
                if (res.response.ok) { show(res.data); } else { failed(res.response, res.data); }
                document.body.dataset.lookup = res.response.ok ? "found" : "failed";
              });
          });
          li.appendChild(a);
          list.appendChild(li);
        });
      });
  });
  document.addEventListener("DOMContentLoaded", function () {
    var map = window.GridWatchMap && window.GridWatchMap.map;
    if (map) {
      map.on("click", function (e) {
        lookupAt(e.latlng.lng.toFixed(7), e.latlng.lat.toFixed(7), "wgs84");
      });
    }
  });
}());
