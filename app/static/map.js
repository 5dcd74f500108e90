// GridWatch map wall: draws the layers of the registry (layers/) that the page declares,
// fetching their GeoJSON (or vector tiles) from the app itself. Colours come from feature
// properties through the layer's style spec, never from per-feature generated code
// (PERF-NOTES: a per-feature switch made a 100k-point page take minutes).
(function () {
  "use strict";

  var GW = window.GridWatchMap = {
    map: null,
    entries: [],
    filters: {},
    pending: 0,
    drawn: {},
    canvas: null,
    i18n: {},

    configure: function (config) {
      GW.filters = config.filters || {};
      GW.i18n = config.i18n || {};
      GW.refreshSeconds = config.refreshSeconds || 0;
      GW.figuresUrl = config.figuresUrl;
      GW.cardUrl = config.cardUrl;
    },

    register: function (group, spec, map) {
      GW.map = map;
      if (!GW.canvas) {
        // One canvas renderer for all point layers: thousands of DOM nodes are what make
        // maps slow, not the points.
        GW.canvas = L.canvas({padding: 0.5});
      }
      var entry = {group: group, spec: spec};
      GW.entries.push(entry);
      GW.load(entry);
    },

    query: function (extra) {
      var params = new URLSearchParams(GW.filters);
      Object.keys(extra || {}).forEach(function (k) { params.set(k, extra[k]); });
      return params.toString();
    },

    load: function (entry) {
      var spec = entry.spec;
      GW.pending += 1;
      document.body.dataset.drawn = "false";
      if (spec.tileUrl) {
        entry.group.clearLayers();
        // Drawn when the tiles in view have arrived, not when the layer was created; a
        // hidden layer loads no tiles, so it counts as drawn at once.
        var tiles = GW.drawTiles(entry);
        if (GW.map.hasLayer(entry.group)) {
          tiles.once("load", function () { GW.done(spec.id, spec.count); });
        } else {
          GW.done(spec.id, spec.count);
        }
        return Promise.resolve();
      }
      return fetch(spec.url + "?" + GW.query(), {credentials: "same-origin",
                                                 headers: {"Accept": "application/json"}})
        .then(function (response) {
          if (!response.ok) { throw new Error(spec.id + ": HTTP " + response.status); }
          return response.json();
        })
        .then(function (data) {
          entry.group.clearLayers();
          var n = GW.draw(entry, data);
          if (spec.id === "cells") { GW.showClasses(data.classes); }
          GW.done(spec.id, n);
        })
        .catch(function (error) {
          GW.done(spec.id, -1);
          var status = document.getElementById("map-status");
          if (status) { status.textContent = GW.i18n.loadFailed + " (" + error.message + ")"; }
        });
    },

    done: function (id, n) {
      GW.drawn[id] = n;
      GW.pending -= 1;
      if (GW.pending === 0) {
        document.body.dataset.drawn = "true";
        window.dispatchEvent(new CustomEvent("gridwatch:drawn", {detail: GW.drawn}));
      }
    },

    draw: function (entry, data) {
      var spec = entry.spec;
      var features = data.features || [];
      if (spec.render === "heat") {
        var points = features.map(function (f) {
          return [f.geometry.coordinates[1], f.geometry.coordinates[0], 1];
        });
        L.heatLayer(points, spec.style).addTo(entry.group);
        return features.length;
      }
      var options = {onEachFeature: function (feature, layer) { GW.bind(spec, feature, layer); }};
      // A non-interactive layer lets clicks through to the map (the lookup page needs that).
      if (spec.style && spec.style.interactive === false) { options.interactive = false; }
      if (spec.render === "points") {
        options.pointToLayer = function (feature, latlng) {
          return L.circleMarker(latlng, GW.style(spec, feature, {renderer: GW.canvas}));
        };
      } else {
        options.style = function (feature) { return GW.style(spec, feature, {}); };
        // On a canvas map every vector layer shares one canvas: a canvas takes every click at
        // its pixels and hit-tests only its own layers, so a second canvas on top (the points')
        // swallowed all clicks on cells.
        if (GW.map.options.preferCanvas) { options.renderer = GW.canvas; }
      }
      L.geoJSON(data, options).addTo(entry.group);
      // Layers arrive in any order; points stay above the areas they lie in, so both a point
      // and the cell around it can be clicked.
      GW.entries.forEach(function (other) {
        if (other.spec.render === "points" && !other.spec.tileUrl) {
          other.group.eachLayer(function (l) { if (l.bringToFront) { l.bringToFront(); } });
        }
      });
      return features.length;
    },

    style: function (spec, feature, base) {
      var s = Object.assign({}, spec.style, base);
      var props = feature.properties || {};
      if (s.colorBy && s.colors) {
        var colour = s.colors[props[s.colorBy]];
        s.fillColor = colour;
        if (spec.render !== "points") { s.color = colour; }
      }
      if (props.fill) {  // choropleth class colour, computed by the server
        s.fillColor = props.fill;
        s.fillOpacity = s.choroplethOpacity || 0.6;
      }
      delete s.colorBy; delete s.colors; delete s.choroplethOpacity;
      return s;
    },

    bind: function (spec, feature, layer) {
      var interactive = !(spec.style && spec.style.interactive === false);
      if (interactive && spec.popup && spec.popup.length) {
        layer.bindPopup(function () { return GW.popup(spec, feature.properties || {}); },
                        {maxWidth: 320});
      }
      if (spec.label && feature.properties && feature.properties[spec.label]) {
        // An element, not a string: Leaflet puts a string tooltip in as HTML.
        layer.bindTooltip(GW.el("span", {}, [feature.properties[spec.label]]),
                          {permanent: true, direction: "center", className: "cell-label"});
      }
      if (interactive && spec.id === "cells") {
        layer.on("click", function () { GW.openCard(feature.properties.code); });
      }
    },

    el: function (tag, attributes, children) {
      return window.gridwatchElement(tag, attributes, children);
    },

    popup: function (spec, props) {
      var rows = spec.popup.map(function (field) {
        var value = props[field.prop];
        if (value === null || value === undefined || value === "") { return null; }
        var shown = String(value);
        if (field.kind === "tel") {
          shown = GW.el("a", {href: "tel:" + String(value)}, [String(value)]);
        } else if (field.kind === "number" && typeof value === "number") {
          shown = value.toLocaleString(document.documentElement.lang);
        }
        return GW.el("tr", {}, [GW.el("th", {}, [field.label]), GW.el("td", {}, [shown])]);
      });
      return GW.el("table", {className: "popup"}, [GW.el("tbody", {}, rows)]);
    },

    drawTiles: function (entry) {
      var spec = entry.spec;
      var styles = {};
      styles[spec.id] = function (props) {
        var f = {properties: props};
        var s = GW.style(spec, f, {});
        s.fill = s.fill !== false;
        return s;
      };
      return L.vectorGrid.protobuf(spec.tileUrl + "?" + GW.query(), {
        vectorTileLayerStyles: styles,
        rendererFactory: L.canvas.tile,
        interactive: true,
        maxNativeZoom: 16
      }).on("click", function (e) {
        L.popup().setLatLng(e.latlng).setContent(GW.popup(spec, e.layer.properties || {}))
          .openOn(GW.map);
      }).addTo(entry.group);
    },

    refresh: function () {
      GW.entries.forEach(GW.load);
      GW.loadFigures();
    },

    loadFigures: function () {
      if (!GW.figuresUrl) { return; }
      fetch(GW.figuresUrl + "?" + GW.query(), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (figures) {
          if (!figures) { return; }
          document.querySelectorAll("[data-figure]").forEach(function (el) {
            var key = el.dataset.figure;
            var value = key.split(".").reduce(function (o, k) { return o ? o[k] : null; },
                                              figures.values);
            if (value === null || value === undefined) { el.textContent = "–"; return; }
            el.textContent = el.dataset.format === "percent"
              ? (value * 100).toLocaleString(document.documentElement.lang,
                                             {maximumFractionDigits: 1}) + "%"
              : value.toLocaleString(document.documentElement.lang);
          });
          var period = document.getElementById("period");
          if (period && figures.period) { period.textContent = figures.period; }
          var stamp = document.getElementById("refreshed-at");
          if (stamp) { stamp.textContent = new Date().toLocaleTimeString(); }
        });
    },

    setFilters: function (filters) {
      GW.filters = filters;
      var url = new URL(window.location.href);
      url.search = GW.query();
      window.history.replaceState(null, "", url.toString());
      GW.refresh();
    },

    saveView: function () {
      var c = GW.map.getCenter();
      try {
        window.sessionStorage.setItem("gridwatch.view", JSON.stringify(
          {lat: c.lat, lng: c.lng, zoom: GW.map.getZoom()}));
      } catch (e) { /* private mode: the view is simply not remembered */ }
    },

    restoreView: function () {
      // Runs after Folium's own script has fitted the city, so a remembered view wins.
      try {
        var view = JSON.parse(window.sessionStorage.getItem("gridwatch.view") || "null");
        if (view) { GW.map.setView([view.lat, view.lng], view.zoom, {animate: false}); }
      } catch (e) { /* ignore a corrupt entry */ }
      GW.map.on("moveend", GW.saveView);
    },

    showClasses: function (classes) {
      var box = document.getElementById("choropleth-legend");
      if (!box) { return; }
      box.replaceChildren();
      if (!classes || !classes.figure || !classes.breaks.length) { return; }
      var lower = null;
      var fmt = function (v) {
        return v.toLocaleString(document.documentElement.lang, {maximumFractionDigits: 2});
      };
      classes.breaks.forEach(function (upper, i) {
        var label = (lower === null ? "≤ " + fmt(upper) : fmt(lower) + " – " + fmt(upper));
        lower = upper;
        box.appendChild(GW.el("li", {}, [
          GW.el("span", {className: "swatch square", style: {background: classes.colors[i]}}),
          label]));
      });
    },

    openCard: function (code) {
      var panel = document.getElementById("cell-card");
      if (!panel || !GW.cardUrl) { return; }
      fetch(GW.cardUrl.replace("__CODE__", encodeURIComponent(code)) + "?" + GW.query(),
            {credentials: "same-origin", headers: {"Accept": "text/html"}})
        .then(function (r) { return r.text(); })
        .then(function (html) { panel.innerHTML = html; panel.hidden = false; });
    }
  };

  document.addEventListener("DOMContentLoaded", function () {
    if (GW.map) { GW.restoreView(); }
    var form = document.getElementById("time-filter");
    if (form) {
      form.addEventListener("change", function () {
        var data = new FormData(form);
        var filters = {};
        data.forEach(function (value, key) { if (value) { filters[key] = value; } });
        if (filters.days !== "custom") { delete filters.from; delete filters.to; }
        else { delete filters.days; }
        // "As of" redraws the cells as they were then: a page reload, so every layer agrees.
        if ((filters.at || "") !== (GW.filters.at || "")) {
          var url = new URL(window.location.href);
          url.search = new URLSearchParams(filters).toString();
          window.location.assign(url.toString());
          return;
        }
        form.querySelectorAll(".custom-range").forEach(function (el) {
          el.hidden = data.get("days") !== "custom";
        });
        GW.setFilters(filters);
      });
    }
    if (GW.refreshSeconds > 0) {
      // Refresh data in place: the view, the open layers and the filters stay as they are.
      window.setInterval(GW.refresh, GW.refreshSeconds * 1000);
    }
  });
}());
