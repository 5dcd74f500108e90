// The city's grid editor: redraw the second-level grids (station boundaries) by moving whole
// villages or townships to a level-3 cell the manager picks, by reshaping a grid's outline
// (Leaflet-Geoman) or by uploading boundaries. Every edit is previewed by the server
// (validation at both levels + the effect on stations and owners) before it can be committed.
(function () {
  "use strict";
  var C = JSON.parse(document.getElementById("editor-config").textContent);
  var T = C.texts;
  var el = window.gridwatchElement;
  var token = document.querySelector('meta[name="csrf-token"]').content;
  // Ten stations, ten colours told apart (Okabe-Ito, then two more); the same colour marks a
  // grid's outline and its villages.
  var palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
                 "#F0E442", "#882255", "#44AA99", "#332288"];
  var gridColour = {}, gridOf = {}, cellName = {};
  C.grids.forEach(function (g, i) {
    gridColour[g.code] = palette[i % palette.length];
    g.cells.forEach(function (c) { gridOf[c.code] = g.code; cellName[c.code] = c.name; });
  });
  var state = {moves: {}, townships: {}, geometries: {}, outlines: {}, selected: {},
               expected: {}};
  var map, gridLayer, cellLayer, villageLayer, proposalLayer, findingLayer;
  var villages = {}, editing = null, previewTimer = null;

  // A translated text with its __KEY__ placeholders filled (the page's language decides the
  // punctuation, e.g. full-width in Chinese).
  function fill(text, values) {
    return Object.keys(values).reduce(function (out, key) {
      return out.split("__" + key + "__").join(String(values[key]));
    }, text);
  }
  function labelled(label, text) { return fill(T.labelled, {LABEL: label, TEXT: text}); }
  function layerUrl(name) { return C.layersUrl.replace("__LAYER__", name); }
  function send(url, body) {
    return fetch(url, {method: "POST", credentials: "same-origin",
                       headers: {"Content-Type": "application/json", "X-CSRFToken": token,
                                 "Accept": "application/json"},
                       body: JSON.stringify(body)})
      .then(function (r) { return r.json().then(function (d) { return {ok: r.ok, status: r.status, data: d}; }); });
  }
  function body() {
    return {moves: state.moves, townships: state.townships, geometries: state.geometries,
            outlines: state.outlines, expected_versions: state.expected};
  }
  function changed() {
    return [state.moves, state.townships, state.geometries, state.outlines].some(
      function (o) { return Object.keys(o).length > 0; });
  }
  // Where a village goes: its own move, else its township's, else where it is.
  function targetOf(p) {
    return state.moves[p.code] || state.townships[p.township] || null;
  }
  function villageStyle(feature) {
    var p = feature.properties, target = targetOf(p);
    var grid = target ? gridOf[target] : p.grid;
    var picked = state.selected[p.code];
    return {color: picked ? "#000" : "#fff", weight: picked ? 3 : 0.6,
            fillColor: gridColour[grid] || "#ccc", fillOpacity: target ? 0.8 : 0.35,
            dashArray: target && gridOf[target] !== p.grid ? "4 3" : null};
  }
  function tooltip(p) {
    var target = targetOf(p);
    return el("span", {}, [fill(T.villageTip, {NAME: p.name, TOWNSHIP: p.township_name}) +
                           " · " + p.cell + (target ? " → " + target : "")]);
  }

  function showSelection() {
    var list = document.getElementById("selected");
    var codes = Object.keys(state.selected);
    document.getElementById("selected-count").textContent = String(codes.length);
    list.replaceChildren.apply(list, codes.slice(0, 30).map(function (code) {
      var p = villages[code].feature.properties;
      return el("li", {}, [p.name + " · " + p.township_name + " · " + p.cell]);
    }));
    villageLayer.setStyle(villageStyle);
  }

  function mode() {
    return document.querySelector("input[name='select-mode']:checked").value;
  }

  function loadLayers() {
    return Promise.all(["grids", "cells", "villages"].map(function (name) {
      return fetch(layerUrl(name), {credentials: "same-origin"}).then(function (r) { return r.json(); });
    })).then(function (data) {
      [gridLayer, cellLayer, villageLayer].forEach(function (l) { if (l) { l.remove(); } });
      villages = {};
      data[0].features.forEach(function (f) { state.expected[f.properties.code] = f.properties.version; });
      data[1].features.forEach(function (f) { state.expected[f.properties.code] = f.properties.version; });
      villageLayer = L.geoJSON(data[2], {
        style: villageStyle,
        onEachFeature: function (feature, layer) {
          villages[feature.properties.code] = layer;
          // Elements, not strings: Leaflet puts a string tooltip in as HTML.
          layer.bindTooltip(function () { return tooltip(feature.properties); });
          layer.on("click", function () {
            var p = feature.properties;
            var codes = mode() === "township"
              ? Object.keys(villages).filter(function (c) {
                  return villages[c].feature.properties.township === p.township; })
              : [p.code];
            var on = !state.selected[p.code];
            codes.forEach(function (c) {
              if (on) { state.selected[c] = true; } else { delete state.selected[c]; }
            });
            showSelection();
          });
        }
      }).addTo(map);
      cellLayer = L.geoJSON(data[1], {
        style: function () { return {color: "#333", weight: 1, dashArray: "3 3", fill: false}; },
        interactive: false, pmIgnore: true
      }).addTo(map);
      gridLayer = L.geoJSON(data[0], {
        style: function (f) { return {color: gridColour[f.properties.code], weight: 4, fill: false}; },
        interactive: false, pmIgnore: false
      }).addTo(map);
      // Names on the grids where they fit (a desk); on a phone's small map they would cover
      // each other, so there they show when a grid is touched.
      var roomy = map.getSize().x > 700;
      gridLayer.eachLayer(function (layer) {
        var p = layer.feature.properties;
        layer.bindTooltip(el("span", {}, [p.code + " " + (p.station || p.name)]),
                          {permanent: roomy, direction: "center", className: "cell-label"});
      });
      map.fitBounds(gridLayer.getBounds());
      document.body.dataset.editor = "ready";
    });
  }

  function preview() {
    if (!changed()) { return; }
    document.body.dataset.preview = "pending";
    send(C.previewUrl, body()).then(function (r) {
      if (!r.ok) {
        showFindings([{level: "error",
                       message: (r.data.error && r.data.error.message) || String(r.status)}]);
        document.body.dataset.preview = "failed";
        return;
      }
      showFindings(r.data.validation.errors.concat(r.data.validation.warnings));
      showEffect(r.data.effect);
      showProposal(r.data.geometries, r.data.levels);
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
        labelled((f.level === "error" ? T.error : T.warning) + (f.cell ? " · " + f.cell : ""),
                 f.message)]);
    }));
  }

  // Before→after, without spaces: the tables are narrow (and may break after the arrow).
  function tight(a, b) { return a + "→\u200b" + b; }
  function fixed(x, digits) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }
  function percent(x) {
    return x === null || x === undefined ? "–" : (x > 0 ? "+" : "") + Math.round(x * 100) + "%";
  }
  function fillTable(id, rows, cellsOf) {
    var table = document.getElementById(id);
    while (table.rows.length > 1) { table.deleteRow(1); }
    rows.forEach(function (r) {
      var row = table.insertRow();
      row.className = r.workload_change > 0 ? "rises" : (r.workload_change < 0 ? "falls" : "");
      if (r.code) { row.dataset.grid = r.code; row.title = r.code + " " + r.name; }
      cellsOf(r).forEach(function (v) { row.insertCell().textContent = v; });
    });
  }

  function showEffect(effect) {
    var grids = effect.grids.filter(function (g) { return g.changed || g.workload_change; });
    fillTable("station-effect", grids, function (g) {
      return [g.station || g.name,
              tight(g.villages_before, g.villages_after),
              tight(g.enterprises_before, g.enterprises_after),
              tight(fixed(g.workload_before, 0), fixed(g.workload_after, 0)),
              percent(g.deviation), tight(fixed(g.area_before_km2, 1), fixed(g.area_after_km2, 1))];
    });
    fillTable("owner-effect", effect.owners, function (o) {
      return [o.name, o.cells.join("、"), tight(o.enterprises_before, o.enterprises_after),
              tight(fixed(o.workload_before, 1), fixed(o.workload_after, 1))];
    });
    document.getElementById("village-count").textContent = String(effect.villages.length);
    var vl = document.getElementById("village-moves");
    vl.replaceChildren.apply(vl, effect.villages.map(function (v) {
      return el("li", {}, [fill(T.villageLine, {NAME: v.name, TOWNSHIP: v.township,
                                                COUNT: v.enterprises, FROM: v.from_cell,
                                                TO: v.to_cell || "–"}) +
                           (v.from_grid !== v.to_grid ? " · " + T.newStation : "")]);
    }));
    var between = effect.moves.filter(function (m) { return m.from_grid !== m.to_grid; });
    document.getElementById("between-count").textContent = String(between.length);
    var ml = document.getElementById("moves");
    ml.replaceChildren.apply(ml, between.map(function (m) {
      return el("li", {}, [fill(T.enterpriseLine, {NAME: m.name, GRADE: m.grade,
                                                   FROM: m.from_cell || "–",
                                                   TO: m.to_cell || "–"})]);
    }));
  }

  // The changed second-level grids as proposed, dashed over the current ones.
  function showProposal(geometries, levels) {
    proposalLayer.clearLayers();
    Object.keys(geometries || {}).forEach(function (code) {
      if (levels[code] !== 2) { return; }
      L.geoJSON(geometries[code], {interactive: false,
        style: {color: gridColour[code] || "#000", weight: 3, dashArray: "8 6", fill: false}})
        .addTo(proposalLayer);
    });
  }

  function startReshape(code) {
    if (editing) { editing.pm.disable(); }
    gridLayer.eachLayer(function (layer) {
      if (layer.feature.properties.code !== code) { return; }
      editing = layer;
      layer.options.interactive = true;
      layer.pm.enable({snappable: true, snapDistance: 15, allowSelfIntersection: true});
      layer.on("pm:edit", function () {
        state.outlines[code] = layer.toGeoJSON().geometry;
        schedule();
      });
    });
  }

  function upload(file) {
    var out = document.getElementById("upload-result");
    var form = new FormData();
    form.append("file", file);
    fetch(C.uploadUrl, {method: "POST", credentials: "same-origin", body: form,
                        headers: {"X-CSRFToken": token, "Accept": "application/json"}})
      .then(function (r) { return r.json().then(function (d) { return {ok: r.ok, data: d}; }); })
      .then(function (r) {
        if (!r.ok) {
          out.textContent = (r.data.error && r.data.error.message) || "";
          out.className = "error-message";
          return;
        }
        var codes = Object.keys(r.data.geometries);
        codes.forEach(function (code) { state.geometries[code] = r.data.geometries[code]; });
        out.textContent = fill(T.uploaded, {CODES: codes.join("、")});
        out.className = "ok";
        schedule();
      });
  }

  function commit() {
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
      var links = document.getElementById("history-links");
      if (r.ok) {
        out.textContent = T.committed + " #" + r.data.change;
        out.className = "ok";
        links.replaceChildren.apply(links, r.data.cells.map(function (c) {
          return el("li", {}, [el("a", {href: c.history}, [fill(T.history, {CODE: c.code})])]);
        }));
        document.body.dataset.committed = String(r.data.change);
        state.moves = {}; state.townships = {}; state.geometries = {}; state.outlines = {};
        state.selected = {};
        proposalLayer.clearLayers();
        loadLayers().then(showSelection);
        // The wall's grid outlines under ours show the new boundaries too.
        window.GridWatchMap.entries.forEach(window.GridWatchMap.load);
      } else {
        out.textContent = labelled(T.failed, (r.data.error && r.data.error.message) || r.status);
        out.className = "error-message";
        document.body.dataset.committed = "failed-" + r.status;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    map = window.GridWatchMap.map;
    findingLayer = L.layerGroup().addTo(map);
    proposalLayer = L.layerGroup().addTo(map);
    loadLayers();
    document.getElementById("move-villages").addEventListener("click", function () {
      var target = document.getElementById("target-cell").value;
      var codes = Object.keys(state.selected);
      if (mode() === "township") {
        // Whole townships: the township moves, and its villages' own moves give way to it.
        codes.forEach(function (code) {
          state.townships[villages[code].feature.properties.township] = target;
          delete state.moves[code];
        });
      } else {
        codes.forEach(function (code) { state.moves[code] = target; });
      }
      state.selected = {};
      showSelection();
      schedule();
    });
    document.getElementById("reshape").addEventListener("click", function () {
      startReshape(document.getElementById("reshape-grid").value);
    });
    document.getElementById("upload").addEventListener("change", function (event) {
      if (event.target.files[0]) { upload(event.target.files[0]); }
    });
    document.getElementById("reset").addEventListener("click", function () {
      state.moves = {}; state.townships = {}; state.geometries = {}; state.outlines = {};
      state.selected = {};
      if (editing) { editing.pm.disable(); editing = null; }
      proposalLayer.clearLayers();
      findingLayer.clearLayers();
      loadLayers().then(showSelection);
      document.getElementById("findings").replaceChildren(el("li", {}, [T.noChanges]));
    });
    document.getElementById("commit").addEventListener("click", commit);
  });
}());
