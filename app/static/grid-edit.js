// The grid editor: move whole villages between cells, or reshape a cell's outline with
// Leaflet-Geoman (snapping to neighbours), or upload GeoJSON; every edit is previewed by the
// server (validation + effect) before anything can be committed.
(function () {
  "use strict";
  var C = JSON.parse(document.getElementById("editor-config").textContent);
  var T = C.texts;
  var state = {moves: {}, geometries: {}, selected: {}, expected: {}};
  var token = document.querySelector('meta[name="csrf-token"]').content;
  var map, cellLayer, villageLayer, findingLayer, editing = null, previewTimer = null;
  var palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"];
  var cellColour = {};
  C.cells.forEach(function (c, i) { cellColour[c.code] = palette[i % palette.length]; });

  var el = window.gridwatchElement;
  function send(url, body) {
    return fetch(url, {method: "POST", credentials: "same-origin",
                       headers: {"Content-Type": "application/json", "X-CSRFToken": token,
                                 "Accept": "application/json"},
                       body: JSON.stringify(body)})
      .then(function (r) { return r.json().then(function (d) { return {ok: r.ok, status: r.status, data: d}; }); });
  }
  function body() {
    var geometries = Object.assign({}, state.geometries);
    return {moves: state.moves, geometries: geometries, expected_versions: state.expected};
  }
  function changed() {
    return Object.keys(state.moves).length + Object.keys(state.geometries).length > 0;
  }

  function villageStyle(feature) {
    var code = feature.properties.code;
    var target = state.moves[code] || feature.properties.cell;
    return {color: state.selected[code] ? "#000" : "#777", weight: state.selected[code] ? 3 : 0.6,
            fillColor: cellColour[target] || "#ccc", fillOpacity: state.moves[code] ? 0.75 : 0.35};
  }

  function loadLayers() {
    return Promise.all([
      fetch(C.cellsUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); }),
      fetch(C.villagesUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); })
    ]).then(function (data) {
      if (cellLayer) { cellLayer.remove(); villageLayer.remove(); }
      C.cells.forEach(function (c) { state.expected[c.code] = c.version; });
      data[0].features.forEach(function (f) { state.expected[f.properties.code] = f.properties.version; });
      villageLayer = L.geoJSON(data[1], {
        style: villageStyle,
        onEachFeature: function (feature, layer) {
          // Elements, not strings: Leaflet puts a string tooltip in as HTML.
          layer.bindTooltip(el("span", {}, [feature.properties.name + " → " +
            (state.moves[feature.properties.code] || feature.properties.cell)]));
          layer.on("click", function () {
            var code = feature.properties.code;
            if (state.selected[code]) { delete state.selected[code]; } else { state.selected[code] = true; }
            villageLayer.setStyle(villageStyle);
            document.getElementById("selected-count").textContent = Object.keys(state.selected).length;
          });
        }
      }).addTo(map);
      cellLayer = L.geoJSON(data[0], {
        style: function (f) { return {color: cellColour[f.properties.code], weight: 3, fill: false}; },
        interactive: false,
        pmIgnore: false
      }).addTo(map);
      cellLayer.eachLayer(function (layer) {
        layer.bindTooltip(el("span", {}, [layer.feature.properties.code]),
                          {permanent: true, direction: "center", className: "cell-label"});
      });
      map.fitBounds(cellLayer.getBounds());
      document.body.dataset.editor = "ready";
    });
  }

  function preview() {
    if (!changed()) { return; }
    document.body.dataset.preview = "pending";
    var started = performance.now();
    send(C.previewUrl, body()).then(function (r) {
      document.body.dataset.previewMs = Math.round(performance.now() - started);
      if (!r.ok) {
        showFindings([{level: "error", message: (r.data.error && r.data.error.message) || r.status}]);
        document.body.dataset.preview = "failed";
        return;
      }
      showFindings(r.data.validation.errors.concat(r.data.validation.warnings));
      showEffect(r.data.effect);
      document.body.dataset.preview = r.data.validation.ok ? "valid" : "invalid";
    });
  }
  function schedule() {
    window.clearTimeout(previewTimer);
    previewTimer = window.setTimeout(preview, 150);
  }

  function showFindings(list) {
    var ul = document.getElementById("findings");
    findingLayer.clearLayers();
    if (!list.length) { ul.replaceChildren(el("li", {className: "ok"}, [T.none])); return; }
    ul.replaceChildren.apply(ul, list.map(function (f) {
      if (f.lat !== null && f.lat !== undefined) {
        L.circleMarker([f.lat, f.lon], {radius: 10, color: f.level === "error" ? "#c00" : "#d80",
                                        weight: 3, fill: false})
          .bindPopup(el("span", {}, [f.message])).addTo(findingLayer);
      }
      return el("li", {className: f.level === "error" ? "error" : "warning"}, [
        (f.level === "error" ? T.error : T.warning) + (f.cell ? " · " + f.cell : "") + ": " +
        f.message]);
    }));
  }

  function showEffect(effect) {
    var table = document.getElementById("effect");
    while (table.rows.length > 1) { table.deleteRow(1); }
    effect.cells.forEach(function (c) {
      var row = table.insertRow();
      row.className = c.workload_change > 0 ? "rises" : (c.workload_change < 0 ? "falls" : "");
      row.dataset.cell = c.code;
      var pct = c.deviation === null ? "–" : (c.deviation > 0 ? "+" : "") + Math.round(c.deviation * 100) + "%";
      [c.code, c.enterprises_before + " → " + c.enterprises_after,
       c.workload_before + " → " + c.workload_after, pct,
       c.overdue_before + " → " + c.overdue_after, c.complaints_before + " → " + c.complaints_after,
       (c.area_before_km2 || 0).toFixed(2) + " → " + (c.area_after_km2 || 0).toFixed(2)]
        .forEach(function (v) { row.insertCell().textContent = v; });
    });
    document.getElementById("move-count").textContent = effect.moves.length;
    var moves = document.getElementById("moves");
    moves.replaceChildren.apply(moves, effect.moves.map(function (m) {
      return el("li", {}, [m.name + " (" + m.grade + "): " + m.from_cell + " → " + m.to_cell]);
    }));
  }

  function startReshape(code) {
    if (editing) { editing.pm.disable(); }
    cellLayer.eachLayer(function (layer) {
      if (layer.feature.properties.code !== code) { return; }
      editing = layer;
      layer.options.interactive = true;
      layer.pm.enable({snappable: true, snapDistance: 15, allowSelfIntersection: true});
      layer.on("pm:edit", function () {
        state.geometries[code] = layer.toGeoJSON().geometry;
        schedule();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    map = window.GridWatchMap.map;
    findingLayer = L.layerGroup().addTo(map);
    loadLayers();
    document.getElementById("move-villages").addEventListener("click", function () {
      var target = document.getElementById("target-cell").value;
      Object.keys(state.selected).forEach(function (code) { state.moves[code] = target; });
      state.selected = {};
      document.getElementById("selected-count").textContent = "0";
      villageLayer.setStyle(villageStyle);
      schedule();
    });
    document.getElementById("reshape").addEventListener("click", function () {
      startReshape(document.getElementById("reshape-cell").value);
    });
    document.getElementById("upload").addEventListener("change", function (event) {
      var file = event.target.files[0];
      if (!file) { return; }
      file.text().then(function (content) {
        var data = JSON.parse(content);
        (data.features || []).forEach(function (f) {
          if (f.properties && f.properties.code) { state.geometries[f.properties.code] = f.geometry; }
        });
        schedule();
      });
    });
    document.getElementById("reset").addEventListener("click", function () {
      state.moves = {}; state.geometries = {}; state.selected = {};
      loadLayers();
      document.getElementById("findings").replaceChildren(el("li", {}, [T.noChanges]));
    });
    document.getElementById("commit").addEventListener("click", function () {
      var b = body();
      b.comment = document.getElementById("comment").value;
      var when = document.getElementById("valid-from").value;
      // A bare date: the server reads it as midnight in the bureau's zone (gis/dates.py).
      if (when) { b.valid_from = when; }
      var reason = document.getElementById("backdate-reason").value.trim();
      if (reason) { b.backdate_reason = reason; }
      b.confirm_warnings = document.getElementById("confirm").checked;
      send(C.commitUrl, b).then(function (r) {
        var out = document.getElementById("commit-result");
        if (r.ok) {
          out.textContent = T.committed + " #" + r.data.change;
          out.className = "ok";
          document.body.dataset.committed = String(r.data.change);
          state.moves = {}; state.geometries = {};
          loadLayers();
        } else {
          out.textContent = T.failed + ": " + ((r.data.error && r.data.error.message) || r.status);
          out.className = "error-message";
          document.body.dataset.committed = "failed-" + r.status;
        }
      });
    });
  });
  window.GridWatchEditor = {state: state, preview: preview, schedule: schedule};
}());
