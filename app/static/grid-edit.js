// The grid editor: move whole villages between cells, reshape a cell's outline with
// Leaflet-Geoman, or upload boundaries; every edit is previewed by the server (validation +
// effect, on the map and in the panel) before anything can be committed.
//
// Outlines go to the server at full precision and as drawn ("outlines"): the server snaps them
// to the stored boundaries and moves the neighbours along (gis/outline.py). Rounding them here
// (Leaflet's toGeoJSON rounds to 6 decimals unless told not to) would invent slivers along
// every edge.
(function () {
  "use strict";
  var C = JSON.parse(document.getElementById("editor-config").textContent);
  var T = C.texts;
  var state = {moves: {}, geometries: {}, outlines: {}, selected: {}, expected: {}};
  var token = document.querySelector('meta[name="csrf-token"]').content;
  var map, cellLayer, villageLayer, enterpriseLayer, proposedLayer, findingLayer;
  var editing = null, previewTimer = null, previewSeq = 0;
  var enterpriseMarkers = {};
  var palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"];
  var cellColour = {}, cellName = {};
  C.cells.forEach(function (c, i) {
    cellColour[c.code] = palette[i % palette.length];
    cellName[c.code] = c.name;
  });
  var el = window.gridwatchElement;
  var number = {
    int: new Intl.NumberFormat(C.locale, {maximumFractionDigits: 0}),
    one: new Intl.NumberFormat(C.locale, {minimumFractionDigits: 1, maximumFractionDigits: 1}),
    two: new Intl.NumberFormat(C.locale, {minimumFractionDigits: 2, maximumFractionDigits: 2})
  };

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (all, key) {
      return values[key] === undefined ? all : String(values[key]);
    });
  }
  function signed(value, format) {
    if (!value) { return format.format(0); }
    return (value > 0 ? "+" : "−") + format.format(Math.abs(value));
  }
  // Areas as people read them: km² for a cell, m² for what a few vertices move.
  function area(km2, unit) {
    unit = unit || (Math.abs(km2) >= 0.1 ? "km2" : "m2");
    return unit === "km2" ? number.two.format(km2) + " km²" : number.int.format(km2 * 1e6) + " m²";
  }
  function areaChange(km2) {
    if (!km2) { return ""; }
    var unit = Math.abs(km2) >= 0.1 ? "km2" : "m2";
    return (km2 > 0 ? "+" : "−") + area(Math.abs(km2), unit);
  }
  function labelOf(code) {
    return cellName[code] ? cellName[code] + " (" + code + ")" : (code || "–");
  }

  function send(url, body) {
    return fetch(url, {method: "POST", credentials: "same-origin",
                       headers: {"Content-Type": "application/json", "X-CSRFToken": token,
                                 "Accept": "application/json"},
                       body: JSON.stringify(body)})
      .then(function (r) { return r.json().then(function (d) { return {ok: r.ok, status: r.status, data: d}; }); });
  }
  function body() {
    return {moves: state.moves, geometries: state.geometries, outlines: state.outlines,
            expected_versions: state.expected};
  }
  function changed() {
    return Object.keys(state.moves).length + Object.keys(state.geometries).length +
      Object.keys(state.outlines).length > 0;
  }

  function villageStyle(feature) {
    var code = feature.properties.code;
    var target = state.moves[code] || feature.properties.cell;
    return {color: state.selected[code] ? "#000" : "#777", weight: state.selected[code] ? 3 : 0.6,
            fillColor: cellColour[target] || "#ccc", fillOpacity: state.moves[code] ? 0.75 : 0.35};
  }
  function toggleVillage(code) {
    if (!code) { return; }
    if (state.selected[code]) { delete state.selected[code]; } else { state.selected[code] = true; }
    villageLayer.setStyle(villageStyle);
    document.getElementById("selected-count").textContent = Object.keys(state.selected).length;
  }

  function enterpriseStyle(feature, move) {
    return {radius: move ? 7 : 4.5, color: move ? "#000" : "#fff", weight: move ? 3 : 1,
            fillColor: C.gradeColors[feature.properties.grade] || "#999", fillOpacity: 0.95};
  }
  function enterpriseTip(feature, move) {
    var p = feature.properties;
    var lines = [p.name + " · " + fill(T.grade, {grade: p.grade}), labelOf(p.cell)];
    if (move) { lines.push(fill(T.moves, {from: labelOf(move.from_cell), to: labelOf(move.to_cell)})); }
    return el("span", {}, lines.map(function (line, i) {
      return el(i === 2 ? "strong" : "span", {className: "tip-line"}, [line]);
    }));
  }

  function loadLayers() {
    return Promise.all([C.cellsUrl, C.villagesUrl, C.enterprisesUrl].map(function (url) {
      return fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); });
    })).then(function (data) {
      if (cellLayer) { cellLayer.remove(); villageLayer.remove(); enterpriseLayer.remove(); }
      editing = null;
      C.cells.forEach(function (c) { state.expected[c.code] = c.version; });
      data[0].features.forEach(function (f) { state.expected[f.properties.code] = f.properties.version; });
      villageLayer = L.geoJSON(data[1], {
        style: villageStyle,
        onEachFeature: function (feature, layer) {
          // Elements, not strings: Leaflet puts a string tooltip in as HTML.
          layer.bindTooltip(el("span", {}, [feature.properties.name + " → " +
            labelOf(state.moves[feature.properties.code] || feature.properties.cell)]));
          layer.on("click", function () { toggleVillage(feature.properties.code); });
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
      enterpriseMarkers = {};
      enterpriseLayer = L.geoJSON(data[2], {
        pmIgnore: true,
        pointToLayer: function (feature, latlng) {
          var marker = L.circleMarker(latlng, enterpriseStyle(feature, null));
          marker.bindTooltip(enterpriseTip(feature, null));
          // A click on an enterprise selects its village, as a click beside it would.
          marker.on("click", function () { toggleVillage(feature.properties.village); });
          enterpriseMarkers[feature.properties.code] = {marker: marker, feature: feature};
          return marker;
        }
      }).addTo(map);
      map.fitBounds(cellLayer.getBounds(), {padding: [12, 12]});
      document.body.dataset.editor = "ready";
    });
  }

  function preview() {
    if (!changed()) { clearPreview(); return; }
    var seq = ++previewSeq;
    document.body.dataset.preview = "pending";
    var started = performance.now();
    send(C.previewUrl, body()).then(function (r) {
      if (seq !== previewSeq) { return; }  // a later edit's preview is on its way
      document.body.dataset.previewMs = Math.round(performance.now() - started);
      if (!r.ok) {
        showFindings([{level: "error", message: (r.data.error && r.data.error.message) || r.status}]);
        document.body.dataset.preview = "failed";
        return;
      }
      var findings = r.data.validation.errors.concat(r.data.validation.warnings);
      // An outline that crosses itself covers nothing for the checks: the gaps and the
      // enterprises without a cell they then list, and the effect, would only be its echo.
      var invalid = findings.filter(function (f) { return f.kind === "invalid"; });
      showFindings(invalid.length ? invalid : findings, invalid.length > 0);
      showEffect(invalid.length ? null : r.data.effect, invalid.length ? T.effectInvalid : null);
      showProposed(r.data.geometries, r.data.changed_area);
      document.body.dataset.preview = r.data.validation.ok ? "valid" : "invalid";
    });
  }
  function schedule() {
    window.clearTimeout(previewTimer);
    previewTimer = window.setTimeout(preview, 150);
  }

  function clearPreview() {
    findingLayer.clearLayers();
    proposedLayer.clearLayers();
    document.getElementById("findings").replaceChildren(el("li", {}, [T.noChanges]));
    showEffect(null);
    delete document.body.dataset.preview;
  }

  function focusButton(f) {
    var button = el("button", {type: "button", className: "link", title: T.showOnMap}, ["⌖"]);
    button.addEventListener("click", function () { map.setView([f.lat, f.lon], Math.max(map.getZoom(), 15)); });
    return button;
  }

  function showFindings(list, invalidOnly) {
    var ul = document.getElementById("findings");
    findingLayer.clearLayers();
    if (!list.length) { ul.replaceChildren(el("li", {className: "ok"}, [T.none])); return; }
    list.forEach(function (f) {
      if (f.lat !== null && f.lat !== undefined) {
        L.circleMarker([f.lat, f.lon], {radius: 10, color: f.level === "error" ? "#c00" : "#d80",
                                        weight: 3, fill: false, pmIgnore: true})
          .bindPopup(el("span", {}, [f.message])).addTo(findingLayer);
      }
    });
    // Enterprises left in no cell: one line, however many there are (each is ringed on the map).
    var uncovered = list.filter(function (f) { return f.kind === "uncovered"; });
    var rest = list.filter(function (f) { return f.kind !== "uncovered"; });
    var items = rest.map(function (f) {
      var where = f.lat !== null && f.lat !== undefined ? [" ", focusButton(f)] : [];
      return el("li", {className: f.level === "error" ? "error" : "warning"}, [
        window.gridwatchLabelled((f.level === "error" ? T.error : T.warning) +
                                 (f.cell ? " · " + f.cell : ""), f.message)].concat(where));
    });
    if (uncovered.length) {
      var codes = uncovered.slice(0, 5).map(function (f) { return f.enterprise; }).join(", ") +
        (uncovered.length > 5 ? " …" : "");
      items.push(el("li", {className: "error"}, [window.gridwatchLabelled(
        T.error, fill(T.uncovered, {n: uncovered.length, codes: codes})), " ",
        focusButton(uncovered[0])]));
    }
    if (invalidOnly) { items.push(el("li", {className: "note"}, [T.invalidFirst])); }
    ul.replaceChildren.apply(ul, items);
  }

  // "before → after", the change below it; a figure the change leaves alone is shown once.
  function beforeAfter(before, after, format, change) {
    if (format(before) === format(after)) { return [format(after)]; }
    return [format(before) + " → " + format(after),
            change ? el("span", {className: "delta"}, [change]) : null];
  }
  function cellText(content) { return el("td", {}, [].concat(content)); }

  function showEffect(effect, why) {
    var tbody = document.querySelector("#effect tbody");
    markMoves(effect ? effect.moves : []);
    if (!effect) {
      tbody.replaceChildren(el("tr", {className: "empty"}, [el("td", {colSpan: 7},
                                                               [why || T.noEffect])]));
      document.getElementById("move-count").textContent = "0";
      document.getElementById("moves").replaceChildren();
      return;
    }
    tbody.replaceChildren.apply(tbody, effect.cells.map(function (c) {
      var areaDelta = (c.area_after_km2 || 0) - (c.area_before_km2 || 0);
      var entDelta = c.enterprises_after - c.enterprises_before;
      var unit = Math.max(c.area_before_km2 || 0, c.area_after_km2 || 0) >= 0.1 ? "km2" : "m2";
      var row = el("tr", {className: c.workload_change > 0 ? "rises" :
                                      (c.workload_change < 0 ? "falls" :
                                       (Math.abs(areaDelta) > 1e-7 ? "reshaped" : "same"))}, [
        el("td", {}, [cellName[c.code] || c.code, cellName[c.code] ?
                      el("code", {className: "code"}, [c.code]) : null]),
        cellText(beforeAfter(c.enterprises_before, c.enterprises_after, number.int.format,
                             entDelta ? signed(entDelta, number.int) : "")),
        cellText(beforeAfter(c.workload_before, c.workload_after, number.one.format,
                             c.workload_change ? signed(c.workload_change, number.one) : "")),
        cellText(c.deviation === null ? "–" : signed(Math.round(c.deviation * 100), number.int) + "%"),
        cellText(beforeAfter(c.overdue_before, c.overdue_after, number.int.format, "")),
        cellText(beforeAfter(c.complaints_before, c.complaints_after, number.int.format, "")),
        cellText(c.area_after_km2 === null ? "–" :
                 beforeAfter(c.area_before_km2 || 0, c.area_after_km2,
                             function (v) { return area(v, unit); }, areaChange(areaDelta)))
      ]);
      row.dataset.cell = c.code;
      return row;
    }));
    document.getElementById("move-count").textContent = number.int.format(effect.moves.length);
    var moves = document.getElementById("moves");
    moves.replaceChildren.apply(moves, effect.moves.map(function (m) {
      var marker = enterpriseMarkers[m.management_code];
      var at = marker ? marker.marker.getLatLng() : null;
      var item = el("li", {}, [m.name + " (" + fill(T.grade, {grade: m.grade}) + "): " +
                               labelOf(m.from_cell) + " → " + labelOf(m.to_cell),
                               at ? " " : null, at ? focusButton({lat: at.lat, lon: at.lng}) : null]);
      item.dataset.enterprise = m.management_code;
      return item;
    }));
  }

  // The enterprises a preview moves: ringed in black on the map, with where they go.
  function markMoves(moves) {
    var moving = {};
    moves.forEach(function (m) { moving[m.management_code] = m; });
    Object.keys(enterpriseMarkers).forEach(function (code) {
      var e = enterpriseMarkers[code];
      e.marker.setStyle(enterpriseStyle(e.feature, moving[code]));
      e.marker.setTooltipContent(enterpriseTip(e.feature, moving[code]));
      if (moving[code]) { e.marker.bringToFront(); }
    });
    document.body.dataset.movingEnterprises = String(moves.length);
  }

  function showProposed(geometries, changedArea) {
    proposedLayer.clearLayers();
    if (changedArea) {
      L.geoJSON(changedArea, {interactive: false, pmIgnore: true,
                              style: {color: "#111", weight: 0, fillColor: "#111", fillOpacity: 0.35}})
        .addTo(proposedLayer);
    }
    Object.keys(geometries || {}).forEach(function (code) {
      L.geoJSON(geometries[code], {interactive: false, pmIgnore: true,
                                   style: {color: "#111", weight: 2.5, dashArray: "7 5", fill: false}})
        .addTo(proposedLayer);
    });
  }

  function startReshape(code) {
    if (editing) { editing.pm.disable(); }
    cellLayer.eachLayer(function (layer) {
      if (layer.feature.properties.code !== code) { return; }
      editing = layer;
      layer.pm.enable({snappable: true, snapDistance: 15, allowSelfIntersection: true});
      layer.off("pm:edit");
      layer.on("pm:edit", function () {
        // Full precision: the outline as the person left it (see the top of this file).
        state.outlines[code] = layer.toGeoJSON(false).geometry;
        schedule();
      });
    });
    document.getElementById("reshape-status").textContent = fill(T.reshaping, {cell: labelOf(code)});
    document.getElementById("reshape-done").hidden = false;
    document.body.dataset.reshaping = code;
  }
  function stopReshape() {
    if (editing) { editing.pm.disable(); editing = null; }
    document.getElementById("reshape-status").textContent = "";
    document.getElementById("reshape-done").hidden = true;
    delete document.body.dataset.reshaping;
  }

  function uploadFile(file) {
    var out = document.getElementById("upload-result");
    out.className = "";
    out.textContent = fill(T.reading, {name: file.name});
    document.body.dataset.upload = "pending";
    var form = new FormData();
    form.append("file", file);
    var crs = document.getElementById("upload-crs").value;
    if (crs) { form.append("crs", crs); }
    fetch(C.uploadUrl, {method: "POST", credentials: "same-origin", body: form,
                        headers: {"X-CSRFToken": token, "Accept": "application/json"}})
      .then(function (r) { return r.json().then(function (d) { return {ok: r.ok, data: d}; }); })
      .then(function (r) {
        if (!r.ok) {
          out.textContent = (r.data.error && r.data.error.message) || "?";
          out.className = "error-message";
          document.body.dataset.upload = "refused";
          return;
        }
        var codes = Object.keys(r.data.geometries);
        codes.forEach(function (code) { state.geometries[code] = r.data.geometries[code]; });
        out.textContent = fill(T.uploaded, {name: file.name, n: codes.length, codes: codes.join(", ")});
        out.className = "ok";
        document.body.dataset.upload = "read";
        schedule();
      })
      .catch(function () {
        out.textContent = T.failed;
        out.className = "error-message";
        document.body.dataset.upload = "refused";
      });
  }

  // "Suggest balance": the server's fewest village moves (gis/rebalance.py) become the
  // editor's moves, previewed and committed like moves made by hand.
  function percent(value) {
    return number.one.format(value * 100) + "%";
  }
  function clearBalance() {
    document.getElementById("balance-result").replaceChildren();
    delete document.body.dataset.balance;
  }
  function suggestBalance() {
    var out = document.getElementById("balance-result");
    out.className = "note";
    out.replaceChildren(T.balancing);
    document.body.dataset.balance = "pending";
    var tolerance = parseFloat(document.getElementById("balance-tolerance").value);
    var maxMoves = document.getElementById("balance-max-moves").value;
    var keep = [];
    if (document.getElementById("balance-keep-selected").checked) {
      keep = keep.concat(Object.keys(state.selected));
    }
    document.querySelectorAll("input[name='balance-keep-cell']:checked").forEach(function (box) {
      keep.push(box.value);
    });
    var ask = {tolerance: (isNaN(tolerance) ? 10 : tolerance) / 100, keep: keep};
    if (maxMoves !== "") { ask.max_moves = parseInt(maxMoves, 10); }
    send(C.rebalanceUrl, ask).then(function (r) {
      if (!r.ok) {
        out.className = "error-message";
        out.replaceChildren(window.gridwatchLabelled(
          T.balanceFailed, (r.data.error && r.data.error.message) || r.status));
        document.body.dataset.balance = "failed";
        return;
      }
      var s = r.data;
      var items = [];
      if (!s.moves.length && !s.warnings.length) {
        items.push(el("p", {className: "ok"}, [T.balanceNone]));
      } else {
        var enterprises = s.moves.reduce(function (n, m) { return n + m.enterprises; }, 0);
        items.push(el("p", {}, [fill(T.balanceSummary, {
          n: number.int.format(s.moves.length), e: number.int.format(enterprises),
          before: percent(s.before.max_deviation), after: percent(s.after.max_deviation)})]));
      }
      if (s.moves.length) {
        items.push(el("ul", {className: "results", id: "balance-moves"}, s.moves.map(function (m) {
          var li = el("li", {}, [fill(T.balanceMove, {
            village: m.name, from: labelOf(m.from), to: labelOf(m.to),
            n: number.int.format(m.enterprises)})]);
          li.dataset.village = m.village;
          return li;
        })));
      }
      s.warnings.forEach(function (w) {
        items.push(el("p", {className: "warning"}, [window.gridwatchLabelled(T.warning, w.message)]));
      });
      // Every cell's workload before → after and its deviation from the grid's average.
      var rows = Object.keys(s.before.workloads).map(function (code) {
        var before = s.before.workloads[code], after = s.after.workloads[code];
        var dev = s.after.average ? (after - s.after.average) / s.after.average : 0;
        return el("tr", {}, [el("td", {}, [labelOf(code)]),
                             cellText(beforeAfter(before, after, number.one.format, "")),
                             cellText(signed(Math.round(dev * 100), number.int) + "%")]);
      });
      items.push(el("div", {className: "table-scroll"}, [el("table", {className: "list"}, [
        el("thead", {}, [el("tr", {}, [el("th", {}, [T.balanceCell]),
                                       el("th", {}, [T.balanceWorkload]),
                                       el("th", {}, [T.balanceDeviation])])]),
        el("tbody", {}, rows)])]));
      out.className = "";
      out.replaceChildren.apply(out, items);
      // The suggestion replaces whatever was being edited: it is computed on the grid as it is.
      state.moves = {}; state.geometries = {}; state.outlines = {}; state.selected = {};
      stopReshape();
      s.moves.forEach(function (m) { state.moves[m.village] = m.to; });
      document.getElementById("selected-count").textContent = "0";
      villageLayer.setStyle(villageStyle);
      document.body.dataset.balance = String(s.moves.length);
      if (s.moves.length) { schedule(); } else { clearPreview(); }
    }).catch(function () {
      out.className = "error-message";
      out.replaceChildren(T.balanceFailed);
      document.body.dataset.balance = "failed";
    });
  }

  function showTakesEffect() {
    var day = document.getElementById("valid-from").value;
    document.getElementById("valid-from-note").textContent = day ?
      fill(T.takesEffect, {day: day, zone: C.zone}) :
      document.getElementById("valid-from-note").dataset.empty;
  }

  function legend() {
    var control = L.control({position: "bottomleft"});
    control.onAdd = function () {
      var items = Object.keys(C.gradeColors).map(function (grade) {
        var dot = el("span", {className: "dot"});
        dot.style.background = C.gradeColors[grade];
        return el("li", {}, [dot, fill(T.grade, {grade: grade})]);
      });
      items.push(el("li", {}, [el("span", {className: "dot moving"}), T.legendMoves]));
      items.push(el("li", {}, [el("span", {className: "dash"}), T.legendProposed]));
      items.push(el("li", {}, [el("span", {className: "shade"}), T.legendChanged]));
      items.push(el("li", {}, [el("span", {className: "ring"}), T.legendProblem]));
      // Folded on a phone, where it would cover a third of the map.
      var box = el("details", {className: "editor-legend"}, [
        el("summary", {}, [T.legendEnterprises]), el("ul", {}, items)]);
      box.open = window.matchMedia("(min-width: 701px)").matches;
      L.DomEvent.disableClickPropagation(box);
      return box;
    };
    control.addTo(map);
  }

  document.addEventListener("DOMContentLoaded", function () {
    map = window.GridWatchMap.map;
    // The grid fills the map: whole zoom levels leave it a third of the screen wide.
    map.options.zoomSnap = 0.25;
    proposedLayer = L.layerGroup().addTo(map);
    findingLayer = L.layerGroup().addTo(map);
    legend();
    var note = document.getElementById("valid-from-note");
    note.dataset.empty = note.textContent;
    loadLayers();
    document.getElementById("move-villages").addEventListener("click", function () {
      var target = document.getElementById("target-cell").value;
      Object.keys(state.selected).forEach(function (code) { state.moves[code] = target; });
      state.selected = {};
      document.getElementById("selected-count").textContent = "0";
      villageLayer.setStyle(villageStyle);
      schedule();
    });
    document.getElementById("suggest-balance").addEventListener("click", suggestBalance);
    document.getElementById("reshape").addEventListener("click", function () {
      startReshape(document.getElementById("reshape-cell").value);
    });
    document.getElementById("reshape-done").addEventListener("click", stopReshape);
    document.getElementById("upload").addEventListener("change", function (event) {
      var file = event.target.files[0];
      if (file) { uploadFile(file); }
      event.target.value = "";  // the same file can be chosen again after fixing it
    });
    document.getElementById("valid-from").addEventListener("change", showTakesEffect);
    document.getElementById("reset").addEventListener("click", function () {
      state.moves = {}; state.geometries = {}; state.outlines = {}; state.selected = {};
      stopReshape();
      document.getElementById("selected-count").textContent = "0";
      document.getElementById("upload-result").textContent = "";
      clearPreview();
      clearBalance();
      loadLayers();
    });
    document.getElementById("commit").addEventListener("click", function () {
      var b = body();
      b.comment = document.getElementById("comment").value;
      var when = document.getElementById("valid-from").value;
      // A bare date: the server reads it as 00:00 in the bureau's zone (gis/dates.py).
      if (when) { b.valid_from = when; }
      var reason = document.getElementById("backdate-reason").value.trim();
      if (reason) { b.backdate_reason = reason; }
      b.confirm_warnings = document.getElementById("confirm").checked;
      send(C.commitUrl, b).then(function (r) {
        var out = document.getElementById("commit-result");
        if (r.ok) {
          out.replaceChildren(el("a", {href: r.data.url}, [r.data.message]));
          out.className = "ok";
          document.body.dataset.committed = String(r.data.change);
          state.moves = {}; state.geometries = {}; state.outlines = {};
          stopReshape();
          clearPreview();
          clearBalance();  // a suggestion is for the grid as it was
          loadLayers();
        } else {
          out.textContent = window.gridwatchLabelled(
            T.failed, (r.data.error && r.data.error.message) || r.status);
          out.className = "error-message";
          document.body.dataset.committed = "failed-" + r.status;
        }
      });
    });
  });
  window.GridWatchEditor = {state: state, preview: preview, schedule: schedule};
}());
