// The /urgent pages (app/urgent.py): the raise form's map (tap to place the event, or the
// device's location) and an event's map; "I'm on site" sends the phone's location with it.
(function () {
  "use strict";
  var textsNode = document.getElementById("urgent-page-texts");
  var T = textsNode ? JSON.parse(textsNode.textContent) : {};
  var mapNode = document.getElementById("urgent-map");
  var map = null, pin = null;

  function setPin(lat, lon) {
    if (!map) { return; }
    if (pin) { pin.setLatLng([lat, lon]); } else {
      pin = L.circleMarker([lat, lon], {radius: 10, color: "#fff", weight: 3, fillColor: "#c62828",
                                        fillOpacity: 1}).addTo(map);
    }
  }
  if (mapNode && window.L) {
    map = L.map(mapNode, {preferCanvas: true});
    if (mapNode.dataset.basemap === "xyz" && mapNode.dataset.basemapUrl) {
      L.tileLayer(mapNode.dataset.basemapUrl, {maxZoom: 19}).addTo(map);
    }
    if (mapNode.dataset.lat) {
      var lat = Number(mapNode.dataset.lat), lon = Number(mapNode.dataset.lon);
      map.setView([lat, lon], 15);
      setPin(lat, lon);
    } else {
      map.setView([38.44, 116.09], 10);
    }
    if (mapNode.dataset.cellsUrl) {
      fetch(mapNode.dataset.cellsUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (cells) {
          if (!cells) { return; }
          var layer = L.geoJSON(cells, {style: {color: "#0b3d66", weight: 1, fillOpacity: 0.03},
                                        interactive: false}).addTo(map);
          if (!pin && layer.getBounds().isValid()) { map.fitBounds(layer.getBounds()); }
          document.body.dataset.urgentCells = "drawn";
        }).catch(function () {});
    }
  }

  // The raise form: the pin and the coordinates follow each other.
  var lonInput = document.getElementById("raise-lon"), latInput = document.getElementById("raise-lat");
  function fill(lat, lon) {
    lonInput.value = lon.toFixed(6);
    latInput.value = lat.toFixed(6);
    setPin(lat, lon);
  }
  if (lonInput && latInput) {
    if (map && mapNode.dataset.pick) {
      map.on("click", function (e) { fill(e.latlng.lat, e.latlng.lng); });
    }
    var typed = function () {
      var lat = Number(latInput.value), lon = Number(lonInput.value);
      if (latInput.value && lonInput.value && isFinite(lat) && isFinite(lon)) { setPin(lat, lon); }
    };
    lonInput.addEventListener("change", typed);
    latInput.addEventListener("change", typed);
    typed();
    var button = document.getElementById("use-location"), state = document.getElementById("location-state");
    if (button) {
      button.addEventListener("click", function () {
        if (!navigator.geolocation) { state.textContent = T.noLocation; return; }
        state.textContent = T.locating;
        navigator.geolocation.getCurrentPosition(function (pos) {
          state.textContent = "";
          fill(pos.coords.latitude, pos.coords.longitude);
          if (map) { map.setView([pos.coords.latitude, pos.coords.longitude], 15); }
        }, function () { state.textContent = T.noLocation; },
        {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
      });
    }
  }

  // "I'm on site": the phone's location, when it gives one, goes with the form.
  document.querySelectorAll("form[data-urgent-geo]").forEach(function (form) {
    var sent = false;
    form.addEventListener("submit", function (event) {
      if (sent || !navigator.geolocation) { return; }
      event.preventDefault();
      var go = function () { sent = true; form.submit(); };
      navigator.geolocation.getCurrentPosition(function (pos) {
        form.elements.lon.value = pos.coords.longitude;
        form.elements.lat.value = pos.coords.latitude;
        go();
      }, go, {enableHighAccuracy: true, timeout: 10000, maximumAge: 60000});
    });
  });
}());
