// GridWatch map wall: draws the layers of the registry (layers/) that the page declares,
// fetching their GeoJSON (or vector tiles) from the app itself. Colours and shapes come from
// feature properties through the layer's style spec, never from per-feature generated code
// (PERF-NOTES: a per-feature switch made a 100k-point page take minutes).
(function () {
  "use strict";

  var PHONE = "(max-width: 700px)";

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
      GW.small = window.matchMedia(PHONE).matches;
      GW.recordUrl = config.recordUrl;
    },

    register: function (group, spec, map) {
      GW.map = map;
      if (!GW.canvas) {
        // For benches and dev tools: when the page's map script began registering layers.
        if (window.performance && performance.mark) { performance.mark("gridwatch:register"); }
        GW.shapes();
        GW.batchLabels();
        // One canvas renderer for all vector layers: thousands of DOM nodes are what make
        // maps slow, not the points. Leaflet's padding (a tenth of the view on each side):
        // half the view made the canvas four times the map's area, and handing that to the
        // screen took 0.4 s at 100,000 enterprises, before the tiles counted as drawn.
        GW.canvas = L.canvas({padding: 0.1});
        map.on("zoomend moveend overlayadd overlayremove resize", GW.placeLabels);
        map.on("overlayadd", GW.loadStale);
        map.on("overlayadd overlayremove", GW.syncLegends);
      }
      var entry = {group: group, spec: spec};
      GW.entries.push(entry);
      if (spec.inline && map.hasLayer(group) &&
          (document.readyState === "loading" || document.getElementById(spec.inline))) {
        // The page carries this layer's data (after its script): drawn once the page is
        // parsed and every layer has registered, with the layers that are fetched still
        // counted as pending, so "drawn" means all of them.
        entry.stale = false;
        GW.pending += 1;
        document.body.dataset.drawn = "false";
        GW.carried.push(entry);
        if (GW.carried.length === 1) {
          if (document.getElementById(spec.inline)) {
            Promise.resolve().then(GW.drawCarried);
          } else {
            document.addEventListener("DOMContentLoaded", GW.drawCarried);
          }
        }
      } else {
        GW.loadOrDefer(entry);
      }
    },

    carried: [],

    drawCarried: function () {
      var batch = GW.carried;
      GW.carried = [];
      GW.holdLabels = true;
      batch.forEach(function (entry) {
        var block = document.getElementById(entry.spec.inline);
        var data = null;
        try { data = JSON.parse(block.textContent); } catch (e) { data = null; }
        if (block) { block.remove(); }  // read once: a refresh fetches the layer
        if (data) {
          GW.show(entry, data, true);
        } else {
          GW.pending -= 1;
          GW.load(entry);
        }
      });
      GW.holdLabels = false;
      GW.flushLabels();
      GW.stack();
    },

    // A layer that is off (the professional grids at first) is fetched when it is turned on,
    // not before: a wall nobody switches them on for costs no requests for them.
    loadOrDefer: function (entry) {
      if (GW.map.hasLayer(entry.group)) {
        entry.stale = false;
        GW.load(entry);
      } else {
        entry.stale = true;
      }
    },

    // The legend shows the layers that are on.
    syncLegends: function () {
      GW.entries.forEach(function (entry) {
        var block = document.querySelector(".legend-block[data-layer='" + entry.spec.id + "']");
        if (block) { block.hidden = !GW.map.hasLayer(entry.group); }
      });
    },

    loadStale: function (e) {
      GW.entries.forEach(function (entry) {
        if (entry.group === e.layer && entry.stale) { GW.loadOrDefer(entry); }
      });
    },

    // Grades differ in shape as well as colour (layers/palette.py GRADE_SHAPES): a point
    // whose style names a shape is drawn as that shape on the canvas; clicks still hit-test
    // the point's circle, which the shape fills.
    shapes: function () {
      var proto = L.Canvas.prototype;
      if (proto._gridwatchShapes) { return; }
      proto._gridwatchShapes = true;
      var circle = proto._updateCircle;
      proto._updateCircle = function (layer) {
        var shape = layer.options.shape;
        if (shape !== "triangle" && shape !== "square") { return circle.call(this, layer); }
        if (!this._drawing || layer._empty()) { return; }
        var p = layer._point, ctx = this._ctx, r = Math.max(Math.round(layer._radius), 1);
        ctx.beginPath();
        if (shape === "triangle") {
          var h = r * 1.25;  // a little larger: a triangle of the circle's size looks smaller
          ctx.moveTo(p.x, p.y - h);
          ctx.lineTo(p.x + h, p.y + h * 0.8);
          ctx.lineTo(p.x - h, p.y + h * 0.8);
          ctx.closePath();
        } else {
          ctx.rect(p.x - r, p.y - r, 2 * r, 2 * r);
        }
        this._fillStroke(ctx, layer);
      };
    },

    // A label (a permanent tooltip) reads its own size to centre itself: the page is laid
    // out again for each of them as they are added one after the other (44 layouts of the
    // whole page on the demo city). While layers are being drawn, labels wait; then every
    // size is read in one layout and every label placed.
    labelQueue: [],
    holdLabels: false,

    batchLabels: function () {
      var proto = L.Tooltip.prototype;
      if (proto._gridwatchBatch) { return; }
      proto._gridwatchBatch = true;
      var place = proto._setPosition;
      proto._setPosition = function (pos) {
        if (!GW.holdLabels || this.options.direction !== "center") {
          return place.call(this, pos);
        }
        if (this._gwPos === undefined) { GW.labelQueue.push(this); }
        this._gwPos = pos;
      };
    },

    flushLabels: function () {
      var queue = GW.labelQueue.filter(function (t) { return t._map && t._container; });
      GW.labelQueue = [];
      var sizes = queue.map(function (t) {
        return [t._container.offsetWidth, t._container.offsetHeight];
      });
      queue.forEach(function (t, i) {
        // As Leaflet places a centred tooltip (L.Tooltip._setPosition), with the size read.
        var pos = t._gwPos.subtract(L.point(sizes[i][0] / 2, sizes[i][1] / 2, true))
          .add(L.point(t.options.offset)).add(t._getAnchor());
        delete t._gwPos;
        L.DomUtil.addClass(t._container, "leaflet-tooltip-center");
        L.DomUtil.setPosition(t._container, pos);
      });
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
        .then(function (data) { GW.show(entry, data); })
        .catch(function (error) {
          GW.done(spec.id, -1);
          var status = document.getElementById("map-status");
          if (status) { status.textContent = GW.i18n.loadFailed + " (" + error.message + ")"; }
        });
    },

    // ``batch``: one of several drawn together, restacked once after the last.
    show: function (entry, data, batch) {
      entry.group.clearLayers();
      var held = GW.holdLabels;
      GW.holdLabels = true;
      var n = GW.draw(entry, data, batch);
      GW.holdLabels = held;
      if (!held) { GW.flushLabels(); }
      if (entry.spec.id === "cells") { GW.showClasses(data.classes); }
      GW.done(entry.spec.id, n);
    },

    done: function (id, n) {
      GW.drawn[id] = n;
      GW.pending -= 1;
      if (GW.pending === 0) {
        GW.placeLabels();
        if (window.performance && performance.mark) { performance.mark("gridwatch:drawn"); }
        document.body.dataset.drawn = "true";
        window.dispatchEvent(new CustomEvent("gridwatch:drawn", {detail: GW.drawn}));
      }
    },

    draw: function (entry, data, batch) {
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
      var collection = L.geoJSON(data, options);
      GW.listen(spec, collection);
      collection.addTo(entry.group);
      if (!batch) { GW.stack(); }
      return features.length;
    },

    // A layer with a card opens it on a click; the others show a popup. One listener on the
    // layer for all its features (a click on a feature reaches its layer), not a popup and a
    // listener made for each of a thousand points.
    listen: function (spec, collection) {
      if (spec.style && spec.style.interactive === false) { return; }
      if (spec.card && document.getElementById("cell-card")) {
        collection.on("click", function (e) { GW.openCard(e.layer.feature.properties.code); });
      } else if (spec.popup && spec.popup.length) {
        collection.on("click", function (e) {
          L.DomEvent.stop(e);  // as a bound popup does: the map's own click is not this one
          L.popup({maxWidth: 320}).setLatLng(e.latlng)
            .setContent(GW.popup(spec, e.layer.feature.properties || {})).openOn(GW.map);
        });
      }
    },

    // Layers arrive in any order; on the one canvas the last drawn is on top and takes the
    // click. Restack in the registry's order (areas, then points), so a point and the cell
    // around it can both be clicked, and a professional grid turned on lies above the cells.
    stack: function () {
      ["polygons", "points"].forEach(function (render) {
        GW.entries.forEach(function (other) {
          if (other.spec.render === render && !other.spec.tileUrl) {
            other.group.eachLayer(function (l) { if (l.bringToFront) { l.bringToFront(); } });
          }
        });
      });
    },

    style: function (spec, feature, base) {
      var s = Object.assign({}, spec.style, base);
      var props = feature.properties || {};
      if (s.colorBy && s.colors) {
        var colour = s.colors[props[s.colorBy]];
        s.fillColor = colour;
        if (spec.render !== "points") { s.color = colour; }
      }
      if (s.shapeBy && s.shapes) { s.shape = s.shapes[props[s.shapeBy]]; }
      // On a phone a whole county is a few centimetres: smaller points, or rings hide it.
      if (spec.render === "points" && GW.small && s.radius) {
        s.radius = Math.max(2.5, s.radius * 0.6);
      }
      if (props.fill) {  // choropleth class colour, computed by the server
        s.fillColor = props.fill;
        s.fillOpacity = s.choroplethOpacity || 0.6;
      }
      delete s.colorBy; delete s.colors; delete s.choroplethOpacity;
      delete s.shapeBy; delete s.shapes;
      return s;
    },

    bind: function (spec, feature, layer) {
      if (spec.label && feature.properties && feature.properties[spec.label]) {
        // An element, not a string: Leaflet puts a string tooltip in as HTML.
        layer.bindTooltip(GW.el("span", {}, [feature.properties[spec.label]]),
                          {permanent: true, direction: "center", className: "cell-label"});
      }
    },

    // Labels that fit: a cell's name is shown only where it fits inside the cell's box and
    // touches no label already placed (larger cells first), so names never overlap; zooming
    // in shows more of them.
    placeLabels: function () {
      if (!GW.map) { return; }
      GW.flushLabels();
      var size = GW.map.getSize();
      var labels = [];
      GW.entries.forEach(function (entry) {
        if (!entry.spec.label || !GW.map.hasLayer(entry.group)) { return; }
        entry.group.eachLayer(function (collection) {
          if (!collection.eachLayer) { return; }
          collection.eachLayer(function (layer) {
            var tooltip = layer.getTooltip && layer.getTooltip();
            var el = tooltip && tooltip.getElement && tooltip.getElement();
            if (!el || !layer.getBounds) { return; }
            var b = layer.getBounds();
            var a = GW.map.latLngToContainerPoint(b.getNorthWest());
            var z = GW.map.latLngToContainerPoint(b.getSouthEast());
            labels.push({el: el, width: z.x - a.x, height: z.y - a.y});
          });
        });
      });
      labels.forEach(function (l) { l.el.classList.remove("label-hidden"); });
      var origin = GW.map.getContainer().getBoundingClientRect();
      labels.forEach(function (l) { l.box = l.el.getBoundingClientRect(); });
      labels.sort(function (p, q) { return q.width * q.height - p.width * p.height; });
      var placed = [];
      labels.forEach(function (l) {
        var box = l.box, pad = 3;
        var x = box.left - origin.left, y = box.top - origin.top;
        // Cells are rarely boxes: a label a little wider than the cell's box still reads as
        // the cell's, as long as it touches no other label.
        var fits = box.width <= l.width * 1.15 && box.height <= l.height * 0.8;
        var inView = x >= 0 && y >= 0 && x + box.width <= size.x && y + box.height <= size.y;
        var free = placed.every(function (o) {
          return box.right + pad < o.left || o.right + pad < box.left ||
                 box.bottom + pad < o.top || o.bottom + pad < box.top;
        });
        if (fits && inView && free) {
          placed.push(box);
        } else {
          l.el.classList.add("label-hidden");
        }
      });
      document.body.dataset.labels = String(placed.length);
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
        } else if (field.kind === "record" && GW.recordUrl) {
          shown = GW.el("a", {href: GW.recordUrl.replace("__CODE__", encodeURIComponent(
            String(value)))}, [String(value)]);
        } else if (field.kind === "number" && typeof value === "number") {
          shown = value.toLocaleString(document.documentElement.lang);
        }
        return GW.el("tr", {}, [GW.el("th", {}, [field.label]), GW.el("td", {}, [shown])]);
      });
      return GW.el("table", {className: "popup"}, [GW.el("tbody", {}, rows)]);
    },

    drawTiles: function (entry) {
      var spec = entry.spec;
      var styles = {}, made = {};
      // A feature's style depends on its grade alone: made once per grade, not per feature
      // (VectorGrid copies it for each).
      styles[spec.id] = function (props) {
        var key = String(props.grade);
        if (!made[key]) {
          var s = GW.style(spec, {properties: props}, {});
          s.fill = s.fill !== false;
          made[key] = s;
        }
        return made[key];
      };
      // Not a click target: the tiles lie under the cells' canvas, which takes every click
      // (and opens the cell's card, which lists its enterprises); making each of thousands of
      // features clickable cost a fifth of the time to draw them.
      var options = {
        vectorTileLayerStyles: styles,
        rendererFactory: L.canvas.tile,
        interactive: false,
        maxNativeZoom: 16
      };
      // No tile is asked for where the layer has no point.
      if (spec.tileBounds) { options.bounds = L.latLngBounds(spec.tileBounds).pad(0.02); }
      // Drawn 512 px wide: the tile of zoom z is the standard 256-px tile of zoom z - 1 with
      // the same x and y (a quarter of the requests for the same view).
      var shift = spec.tileSize > 256 ? Math.round(Math.log(spec.tileSize / 256) / Math.LN2) : 0;
      if (shift) {
        options.tileSize = spec.tileSize;
        options.minZoom = shift;
      }
      var grid = L.vectorGrid.protobuf(spec.tileUrl + "?" + GW.query(), options);
      if (shift) {
        var fetchTile = grid._getVectorTilePromise;
        grid._getVectorTilePromise = function (coords) {
          var standard = L.point(coords.x, coords.y);
          standard.z = coords.z - shift;
          return fetchTile.call(this, standard);
        };
      }
      return grid.addTo(entry.group);
    },

    refresh: function () {
      GW.entries.forEach(GW.loadOrDefer);
      GW.loadFigures();
    },

    loadFigures: function () {
      if (!GW.figuresUrl) { return; }
      fetch(GW.figuresUrl + "?" + GW.query(), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (figures) {
          if (!figures) { return; }
          var lang = document.documentElement.lang;
          document.querySelectorAll("[data-figure]").forEach(function (el) {
            var key = el.dataset.figure;
            var value = key.split(".").reduce(function (o, k) { return o ? o[k] : null; },
                                              figures.values);
            if (value === null || value === undefined) { el.textContent = "–"; return; }
            if (el.dataset.format === "percent" || el.dataset.format === "change") {
              var text = (value * 100).toLocaleString(lang, {minimumFractionDigits: 1,
                                                             maximumFractionDigits: 1}) + "%";
              el.textContent = (el.dataset.format === "change" && value > 0 ? "+" : "") + text;
            } else {
              el.textContent = value.toLocaleString(lang);
            }
          });
          var period = document.getElementById("period");
          if (period && figures.period) { period.textContent = figures.period; }
          var stamp = document.getElementById("refreshed-at");
          if (stamp) {
            stamp.textContent = new Date().toLocaleTimeString(lang, {hour: "2-digit",
                                                                     minute: "2-digit"});
          }
        });
    },

    // The figure tiles link to the rows behind them: the same period and place as the wall.
    drillLinks: function () {
      document.querySelectorAll("a[data-drill]").forEach(function (a) {
        var url = new URL(a.href, window.location.href);
        ["days", "from", "to"].forEach(function (k) {
          if (a.dataset.drill === "period" && GW.filters[k]) {
            url.searchParams.set(k, GW.filters[k]);
          } else {
            url.searchParams.delete(k);
          }
        });
        a.href = url.pathname + url.search;
      });
    },

    setFilters: function (filters) {
      GW.filters = filters;
      var url = new URL(window.location.href);
      url.search = GW.query();
      window.history.replaceState(null, "", url.toString());
      GW.drillLinks();
      GW.refresh();
    },

    viewKey: function () {
      // One remembered view per page and place: choosing another place fits that place
      // instead, and the lookup's view (zoomed on one spot) never becomes the wall's.
      return "gridwatch.view." + window.location.pathname + "." + (GW.filters.cell || "");
    },

    saveView: function () {
      var c = GW.map.getCenter();
      try {
        window.sessionStorage.setItem(GW.viewKey(), JSON.stringify(
          {lat: c.lat, lng: c.lng, zoom: GW.map.getZoom()}));
      } catch (e) { /* private mode: the view is simply not remembered */ }
    },

    restoreView: function () {
      // Runs after Folium's own script has fitted the city, so a remembered view wins.
      try {
        var view = JSON.parse(window.sessionStorage.getItem(GW.viewKey()) || "null");
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
      var lang = document.documentElement.lang;
      // Rates (overdue, pass rate) read as percentages; counts and ratios as numbers.
      var fmt = classes.format === "percent"
        ? function (v) {
          return (v * 100).toLocaleString(lang, {maximumFractionDigits: 1}) + "%";
        }
        : function (v) { return v.toLocaleString(lang, {maximumFractionDigits: 2}); };
      classes.breaks.forEach(function (upper, i) {
        var label = (lower === null ? "≤ " + fmt(upper) : fmt(lower) + " – " + fmt(upper));
        lower = upper;
        box.appendChild(GW.el("li", {}, [
          GW.el("span", {className: "swatch square", style: {background: classes.colors[i]}}),
          label]));
      });
    },

    openCard: function (code) {
      var card = document.getElementById("cell-card");
      var body = document.getElementById("cell-card-body") || card;
      if (!card || !GW.cardUrl) { return; }
      fetch(GW.cardUrl.replace("__CODE__", encodeURIComponent(code)) + "?" + GW.query(),
            {credentials: "same-origin", headers: {"Accept": "text/html"}})
        .then(function (r) { return r.text(); })
        .then(function (html) {
          // The card is our own template, rendered by the server with every value escaped.
          body.innerHTML = html;
          document.body.classList.remove("sheet-open");
          card.hidden = false;
          card.scrollTop = 0;
          // Over the map on a desk, a bottom sheet on a phone: in view either way.
          card.scrollIntoView({block: "nearest"});
          document.body.dataset.card = code;
        });
    },

    closeCard: function () {
      var card = document.getElementById("cell-card");
      if (card) { card.hidden = true; }
      delete document.body.dataset.card;
    },

    // On a phone the layer list starts folded to its button, which unfolds it; a tap on the
    // map folds it again.
    foldLayerControl: function () {
      if (!GW.map || !window.matchMedia(PHONE).matches) { return; }
      var control = document.querySelector(".leaflet-control-layers");
      if (!control) { return; }
      control.classList.remove("leaflet-control-layers-expanded");
      GW.map.on("click", function () {
        control.classList.remove("leaflet-control-layers-expanded");
      });
    }
  };

  document.addEventListener("DOMContentLoaded", function () {
    if (GW.map) {
      GW.restoreView();
      GW.foldLayerControl();
      GW.syncLegends();
    }
    var form = document.getElementById("time-filter");
    if (form) {
      form.addEventListener("change", function () {
        var data = new FormData(form);
        var filters = {};
        data.forEach(function (value, key) { if (value) { filters[key] = value; } });
        if (filters.days !== "custom") { delete filters.from; delete filters.to; }
        else { delete filters.days; }
        if (GW.filters.wall) { filters.wall = GW.filters.wall; }
        // "As of" redraws the cells as they were then, and another place has its own cells
        // and view: a page reload, so every layer and figure agrees.
        if ((filters.at || "") !== (GW.filters.at || "") ||
            (filters.cell || "") !== (GW.filters.cell || "")) {
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
    var close = document.getElementById("cell-card-close");
    if (close) { close.addEventListener("click", GW.closeCard); }
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { GW.closeCard(); }
    });
    var toggle = document.getElementById("sheet-toggle");
    if (toggle) {
      toggle.addEventListener("click", function () {
        var open = document.body.classList.toggle("sheet-open");
        toggle.setAttribute("aria-expanded", String(open));
        if (open) { GW.closeCard(); }
      });
    }
    var full = document.getElementById("full-screen");
    if (full && document.documentElement.requestFullscreen) {
      full.addEventListener("click", function () {
        document.documentElement.requestFullscreen().catch(function () {
          /* refused (an iframe, a policy): the wall still fills the window */
        });
      });
    } else if (full) {
      full.hidden = true;
    }
    if (GW.refreshSeconds > 0) {
      // Refresh data in place: the view, the open layers and the filters stay as they are.
      window.setInterval(GW.refresh, GW.refreshSeconds * 1000);
    }
  });
}());
