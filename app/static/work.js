// The inspector's phone pages (app/work.py): My work and the checklist form, both usable without
// signal. The work list is kept in IndexedDB; a finished inspection is put in the outbox
// (IndexedDB) with a client id made here, and sent to POST /api/v1/inspections when the network
// returns, its photos after it. Sending twice is harmless: the server answers a known client id
// with the inspection it already has.
(function () {
  "use strict";
  var root = document.querySelector(".work[data-page]");
  if (!root) { return; }
  var T = JSON.parse(document.getElementById("work-texts").textContent);
  var el = window.gridwatchElement;
  var PAGE = root.dataset.page;
  var DB_NAME = "gridwatch-field", DB_VERSION = 1;

  function fmt(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_m, k) {
      return values[k] === undefined ? "" : String(values[k]);
    });
  }
  function mark(name, value) { document.body.dataset[name] = value; }

  // ---- IndexedDB: "kept" (the work list, key "work") and "outbox" (inspections to send).
  var dbPromise = null;
  function db() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var req = indexedDB.open(DB_NAME, DB_VERSION);
        req.onupgradeneeded = function () {
          var d = req.result;
          if (!d.objectStoreNames.contains("kept")) { d.createObjectStore("kept"); }
          if (!d.objectStoreNames.contains("outbox")) {
            d.createObjectStore("outbox", {keyPath: "client_id"});
          }
        };
        req.onsuccess = function () { resolve(req.result); };
        req.onerror = function () { reject(req.error); };
      });
    }
    return dbPromise;
  }
  function store(name, mode, action) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var tx = d.transaction(name, mode);
        var result = action(tx.objectStore(name));
        tx.oncomplete = function () { resolve(result && result.result); };
        tx.onerror = function () { reject(tx.error); };
        tx.onabort = function () { reject(tx.error); };
      });
    });
  }
  function keep(key, value) { return store("kept", "readwrite", function (s) { return s.put(value, key); }); }
  function kept(key) { return store("kept", "readonly", function (s) { return s.get(key); }); }
  function outbox() { return store("outbox", "readonly", function (s) { return s.getAll(); }); }
  function putOut(item) { return store("outbox", "readwrite", function (s) { return s.put(item); }); }
  function dropOut(id) { return store("outbox", "readwrite", function (s) { return s.delete(id); }); }

  // A version-4 UUID. crypto.randomUUID exists only on HTTPS and localhost; an intranet
  // server reached over plain HTTP still has getRandomValues.
  function uuid() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // ---- The network, and what this phone keeps for when there is none.
  var net = document.getElementById("net");
  function showNet() {
    var online = navigator.onLine;
    net.textContent = online ? "" : T.offline;
    net.className = online ? "net" : "net offline";
    mark("online", online ? "yes" : "no");
  }
  window.addEventListener("online", function () { showNet(); refresh().then(flush); });
  window.addEventListener("offline", showNet);
  showNet();

  var work = null;  // the work list as last loaded
  var token = (document.querySelector('meta[name="csrf-token"]') || {}).content;

  function refresh() {
    // The server's list when it answers, else the one kept on the phone.
    return fetch(T.workUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (!r.ok || r.redirected) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (data) {
        data.saved_at = new Date().toISOString();
        token = data.csrf_token || token;
        work = data;
        return keep("work", data).then(function () { return data; });
      })
      .catch(function () {
        return kept("work").then(function (data) { work = data || work; return work; });
      });
  }

  function keepShell() {
    // The pages and their files, cached again on every visit with signal, so an update reaches
    // the phone and the form opens without signal (app/work.py's service worker serves them).
    if (!("caches" in window) || !navigator.onLine) { return Promise.resolve(); }
    return caches.open(T.cacheName).then(function (cache) {
      return Promise.all(T.assets.map(function (url) {
        return fetch(url, {credentials: "same-origin"}).then(function (r) {
          if (r.ok && !r.redirected) { return cache.put(url.split("?")[0], r); }
        }).catch(function () {});
      }));
    });
  }

  function registerWorker() {
    if (!("serviceWorker" in navigator)) { return Promise.resolve(); }
    return navigator.serviceWorker.register(T.swUrl, {scope: T.homeUrl})
      .then(function () { return navigator.serviceWorker.ready; })
      .then(function () { mark("offlineReady", "yes"); })
      .catch(function () { mark("offlineReady", "no"); });
  }

  // ---- Sending the outbox.
  var flushing = null;
  function flush() {
    if (flushing) { return flushing; }
    flushing = outbox().then(function (items) {
      items.sort(function (a, b) { return a.created < b.created ? -1 : 1; });
      return items.reduce(function (chain, item) {
        return chain.then(function (go) { return go === false ? false : sendOne(item); });
      }, Promise.resolve(true));
    }).catch(function () { return false; }).then(function (result) {
      flushing = null;
      showOutbox();
      if (sentSome) {
        // What was sent opened rectifications and moved due dates: show the server's list.
        sentSome = false;
        return refresh().then(function () { view.render(); return result; });
      }
      return result;
    });
    return flushing;
  }

  function post(url, options) {
    options.credentials = "same-origin";
    options.headers = Object.assign({"Accept": "application/json", "X-CSRFToken": token},
                                    options.headers || {});
    options.method = "POST";
    return fetch(url, options);
  }

  function errorText(response) {
    return response.json().then(function (body) {
      var e = body && body.error;
      return (e && (e.message || e.description)) || String(response.status);
    }).catch(function () { return String(response.status); });
  }

  // true: go on with the next; false: stop (no network, or the login has ended).
  function sendOne(item) {
    if (item.state === "refused") { return Promise.resolve(true); }
    var step = item.id ? Promise.resolve({ok: true, status: 200, known: true}) :
      post(T.inspectionsUrl, {headers: {"Content-Type": "application/json"},
                              body: JSON.stringify(item.body)});
    return step.then(function (response) {
      if (response.known) { return sendPhotos(item); }
      if (response.status === 201 || response.status === 200) {
        return response.json().then(function (answer) {
          item.id = answer.id;
          item.distance_m = answer.distance_m;
          item.far_from_site = answer.far_from_site;
          return putOut(item).then(function () { return sendPhotos(item); });
        });
      }
      if (response.status === 401 || (response.status === 400 && /csrf|CSRF/.test(response.statusText))) {
        item.note = T.loginAgain;
        return putOut(item).then(function () { return false; });
      }
      if (response.status >= 500 || response.status === 429) { return false; }
      return errorText(response).then(function (message) {
        // A refusal (400, 403, 404, 409) will not change by sending again: say it, keep it
        // until the inspector discards it.
        item.state = "refused";
        item.note = message;
        return putOut(item).then(function () { return true; });
      });
    }).catch(function () { return false; });
  }

  function sendPhotos(item) {
    var photos = item.photos || [];
    if (!photos.length) { return finish(item); }
    var photo = photos[0];
    var form = new FormData();
    form.append("file", photo.blob, photo.name || "photo.jpg");
    return post(T.photosUrl.replace("__ID__", item.id), {body: form}).then(function (response) {
      if (response.ok) {
        item.photos = photos.slice(1);
        return putOut(item).then(function () { return sendPhotos(item); });
      }
      if (response.status >= 500 || response.status === 401 || response.status === 429) {
        return false;
      }
      return errorText(response).then(function (message) {
        // The inspection is in; a photo the server refuses is dropped with a word.
        item.photoNotes = (item.photoNotes || []).concat([(photo.name || "") + ": " + message]);
        item.photos = photos.slice(1);
        return putOut(item).then(function () { return sendPhotos(item); });
      });
    }).catch(function () { return false; });
  }

  var sentSome = false;
  function finish(item) {
    sentSome = true;
    return dropOut(item.client_id).then(function () {
      var sent = document.getElementById("sent");
      if (sent) {
        var words = fmt(T.sentOne, {name: item.name, id: item.id});
        if (item.distance_m !== null && item.distance_m !== undefined) {
          words += " · " + fmt(T.distance, {m: Math.round(item.distance_m)});
        }
        var li = el("li", {className: item.far_from_site ? "far" : null, "data-id": item.id},
                    [words, item.far_from_site ? " (" + T.far + ")" : null]);
        (item.photoNotes || []).forEach(function (n) { li.appendChild(el("div", {className: "note"}, [n])); });
        sent.appendChild(li);
        mark("sent", String(sent.children.length));
      }
      return true;
    });
  }

  function showOutbox() {
    var box = document.getElementById("outbox");
    if (!box) { return Promise.resolve(); }
    return outbox().then(function (items) {
      mark("outbox", String(items.length));
      box.hidden = !items.length;
      document.getElementById("outbox-count").textContent = fmt(T.waiting, {n: items.length});
      document.getElementById("outbox-state").textContent = navigator.onLine ? "" : T.willSend;
      var list = document.getElementById("outbox-list");
      list.textContent = "";
      items.forEach(function (item) {
        var li = el("li", {className: item.state === "refused" ? "refused" : null}, [
          el("strong", {}, [item.name]), " · " + localDay(item.body.inspected_at || item.created),
          item.photos && item.photos.length ? " · " + fmt(T.photosLeft, {n: item.photos.length}) : null,
          item.note ? el("div", {className: item.state === "refused" ? "error-message" : "note"},
                         [item.state === "refused" ? T.refused + "：" + item.note : item.note]) : null]);
        if (item.state === "refused") {
          var drop = el("button", {type: "button", className: "link"}, [T.discard]);
          drop.addEventListener("click", function () {
            if (window.confirm(T.discardConfirm)) { dropOut(item.client_id).then(showOutbox); }
          });
          li.appendChild(drop);
        }
        list.appendChild(li);
      });
    });
  }

  // ---- Where the phone is.
  var here = null;
  function locate(onDone) {
    if (!navigator.geolocation) { onDone(null); return; }
    navigator.geolocation.getCurrentPosition(function (pos) {
      here = {lon: pos.coords.longitude, lat: pos.coords.latitude, accuracy: pos.coords.accuracy};
      onDone(here);
    }, function () { onDone(null); }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
  }
  function metres(a, b) {
    var r = 6371008.8, rad = Math.PI / 180;
    var dLat = (b.lat - a.lat) * rad, dLon = (b.lon - a.lon) * rad;
    var h = Math.sin(dLat / 2) * Math.sin(dLat / 2) +
      Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) * Math.sin(dLon / 2);
    return 2 * r * Math.asin(Math.sqrt(h));
  }
  function distanceText(m) {
    return m >= 1000 ? fmt(T.km, {n: (m / 1000).toFixed(1)}) : fmt(T.m, {n: Math.round(m)});
  }
  function localDay(iso) {
    return iso ? new Date(iso).toLocaleString(document.documentElement.lang || "zh-CN",
                                              {timeZone: T.zone}) : "";
  }

  // ---- My work.
  function workPage() {
    var sortBy = "due";
    var map = null;
    // At a desk the map stands beside the lists (work.css), always drawn.
    var wide = window.matchMedia("(min-width: 1100px)");

    function dueItem(e) {
      var when = e.overdue ? fmt(T.overdueBy, {n: daysBetween(e.due_on, work.today)})
        : fmt(T.dueOn, {day: e.due_on});
      var link = el("a", {className: "start", href: T.inspectUrl + "?e=" + encodeURIComponent(e.code),
                          "data-code": e.code}, [T.start]);
      return el("li", {className: e.overdue ? "overdue" : null, "data-code": e.code}, [
        el("div", {className: "what"}, [
          el("strong", {}, [e.name]),
          el("span", {className: "grade grade-" + e.grade}, [e.grade]),
          el("div", {className: "note"}, [e.code + " · " + e.cell + (e.address ? " · " + e.address : "")]),
          el("div", {className: e.overdue ? "when late" : "when"}, [
            when, " · ", e.last_inspected ? fmt(T.lastInspected, {day: e.last_inspected}) : T.never,
            here ? " · " + distanceText(metres(here, e)) : null])]),
        link]);
    }
    // Quality warnings of the inspector's cells (gis/quality_warnings.py), above the list.
    function showWarnings(warnings) {
      var box = document.getElementById("work-warnings");
      var list = document.getElementById("work-warning-list");
      if (!box || !list) { return; }
      list.textContent = "";
      warnings.forEach(function (w) {
        var words = w.url ? el("a", {href: w.url}, [w.text]) : el("span", {}, [w.text]);
        list.appendChild(el("li", {className: "quality-warning rule-" + w.rule, "data-rule": w.rule},
                            [el("strong", {className: "rule"}, [w.name]), words]));
      });
      box.hidden = !warnings.length;
      mark("warnings", String(warnings.length));
    }
    function daysBetween(a, b) {
      return Math.round((Date.parse(b) - Date.parse(a)) / 86400000);
    }
    function render() {
      if (!work) {
        document.getElementById("due-list").textContent = "";
        document.getElementById("due-list").appendChild(el("li", {className: "note"}, [T.noData]));
        mark("work", "none");
        return;
      }
      showWarnings(work.warnings || []);
      var due = work.enterprises.filter(function (e) { return e.due_on <= work.month_end; });
      if (sortBy === "distance" && here) {
        due.sort(function (a, b) { return metres(here, a) - metres(here, b); });
      }
      var list = document.getElementById("due-list");
      list.textContent = "";
      due.forEach(function (e) { list.appendChild(dueItem(e)); });
      if (!due.length) { list.appendChild(el("li", {className: "note"}, [T.nothingDue])); }
      document.getElementById("due-summary").textContent = fmt(T.dueSummary, {
        n: due.length, day: work.month_end,
        overdue: due.filter(function (e) { return e.overdue; }).length});
      var rects = document.getElementById("rect-list");
      rects.textContent = "";
      work.rectifications.forEach(function (r) {
        rects.appendChild(el("li", {className: r.late ? "overdue" : null, "data-id": r.id}, [
          el("div", {className: "what"}, [
            el("strong", {}, [r.name]),
            el("div", {}, [r.problem]),
            el("div", {className: r.late ? "when late" : "when"}, [
              fmt(T.deadline, {day: r.deadline}),
              r.late ? " · " + fmt(T.lateBy, {n: r.days_late}) : null,
              " · " + (T["status_" + r.status] || r.status)])]),
          el("a", {className: "start", href: T.rectificationUrl.replace("__ID__", r.id)}, [T.record])]));
      });
      if (!work.rectifications.length) { rects.appendChild(el("li", {className: "note"}, [T.nothingOpen])); }
      var complaints = document.getElementById("complaint-list");
      complaints.textContent = "";
      work.complaints.forEach(function (k) {
        complaints.appendChild(el("li", {className: k.overdue ? "overdue" : null,
                                         "data-number": k.number}, [
          el("div", {className: "what"}, [
            el("strong", {}, [k.number + (k.category ? " · " + k.category : "")]),
            el("div", {}, [k.text]),
            el("div", {className: k.overdue ? "when late" : "when"}, [
              fmt(T.received, {day: k.received_at}), " · ",
              T["status_" + k.status] || k.status,
              k.due_at ? " · " + fmt(k.overdue ? T.complaintOverdue : T.complaintDue,
                                     {day: k.due_at}) : null])]),
          el("a", {className: "start", href: T.complaintUrl.replace("__NUMBER__",
                                                                   encodeURIComponent(k.number))},
             [T.open])]));
      });
      if (!work.complaints.length) { complaints.appendChild(el("li", {className: "note"}, [T.nothingOpen])); }
      [["due", due.length], ["rectifications", work.rectifications.length],
       ["complaints", work.complaints.length]].forEach(function (p) {
        document.querySelector('[data-count="' + p[0] + '"]').textContent = p[1];
      });
      document.getElementById("data-age").textContent = fmt(T.savedAt, {when: localDay(work.saved_at)});
      if (map || wide.matches) { drawMap(); }
      mark("work", "shown");
    }

    function drawMap() {
      if (!window.L || !work) { return; }
      if (!map) {
        map = L.map("work-map", {preferCanvas: true});
        if (T.basemap === "xyz" && T.basemapUrl) { L.tileLayer(T.basemapUrl, {maxZoom: 19}).addTo(map); }
      }
      map.eachLayer(function (layer) { if (!(layer instanceof L.TileLayer)) { map.removeLayer(layer); } });
      var cells = L.geoJSON(work.cells, {style: {color: "#0b3d66", weight: 2, fillOpacity: 0.04}});
      // The view first: markers on a canvas need one to be placed.
      var bounds = cells.getBounds();
      if (bounds.isValid()) { map.fitBounds(bounds, {padding: [10, 10]}); }
      else if (work.enterprises.length) { map.setView([work.enterprises[0].lat, work.enterprises[0].lon], 13); }
      else { map.setView([38.44, 116.09], 10); }
      cells.addTo(map);
      work.enterprises.forEach(function (e) {
        if (e.due_on > work.month_end) { return; }
        var marker = L.circleMarker([e.lat, e.lon], {radius: 8, weight: e.overdue ? 3 : 1,
          color: e.overdue ? "#000" : "#555", fillColor: {A: "#2e7d32", B: "#1565c0", C: "#ef6c00", D: "#c62828"}[e.grade] || "#777",
          fillOpacity: 0.9}).addTo(map);
        var box = el("div", {}, [el("strong", {}, [e.name]), el("div", {}, [e.due_on]),
          el("a", {href: T.inspectUrl + "?e=" + encodeURIComponent(e.code)}, [T.start])]);
        marker.bindPopup(box);
      });
      if (here) { L.circleMarker([here.lat, here.lon], {radius: 7, color: "#d81b60", fillOpacity: 1}).addTo(map); }
      setTimeout(function () { map.invalidateSize(); }, 0);
    }

    document.querySelectorAll(".tabs [data-tab]").forEach(function (tab) {
      tab.addEventListener("click", function () {
        document.querySelectorAll(".tabs [data-tab]").forEach(function (t) {
          t.setAttribute("aria-selected", t === tab ? "true" : "false");
        });
        document.querySelectorAll(".tab").forEach(function (s) { s.hidden = s.id !== "tab-" + tab.dataset.tab; });
        if (tab.dataset.tab === "map") { drawMap(); }
      });
    });
    document.querySelectorAll('input[name="sort"]').forEach(function (radio) {
      radio.addEventListener("change", function () {
        sortBy = radio.value;
        if (sortBy === "distance" && !here) { locate(render); } else { render(); }
      });
    });
    document.getElementById("send-now").addEventListener("click", function () {
      refresh().then(flush);
    });
    return {render: render};
  }

  // ---- The checklist form.
  function inspectPage() {
    var code = new URLSearchParams(location.search).get("e") || "";
    var photos = [];
    var where = document.getElementById("where");
    var started = new Date();
    var shown = false;

    function show() {
      if (shown) { return; }
      var e = work && work.enterprises.filter(function (x) { return x.code === code; })[0];
      if (!e) {
        document.getElementById("not-found").hidden = false;
        mark("form", "missing");
        return;
      }
      document.getElementById("e-name").textContent = e.name;
      document.getElementById("e-code").textContent = e.code;
      document.getElementById("e-grade").textContent = e.grade;
      document.getElementById("e-cell").textContent = e.cell;
      document.getElementById("e-address").textContent = e.address || "";
      var items = document.getElementById("items");
      items.textContent = "";
      var groups = [];
      work.checklist.forEach(function (item) {
        var name = item.category || T.other;
        var group = groups.filter(function (g) { return g.name === name; })[0];
        if (!group) { group = {name: name, items: []}; groups.push(group); }
        group.items.push(item);
      });
      groups.forEach(function (group) {
        var set = el("fieldset", {className: "card group"}, [el("legend", {}, [group.name])]);
        group.items.forEach(function (item) {
          var row = el("div", {className: "item", "data-item": item.code}, [
            el("div", {className: "title"}, [item.code + " " + item.title])]);
          var choices = el("div", {className: "choices", role: "radiogroup"});
          ["pass", "fail", "na"].forEach(function (value) {
            var id = "r-" + item.code + "-" + value;
            choices.appendChild(el("input", {type: "radio", name: "r-" + item.code, value: value, id: id}));
            choices.appendChild(el("label", {"for": id, className: "choice " + value}, [T[value]]));
          });
          row.appendChild(choices);
          var note = el("textarea", {name: "n-" + item.code, rows: "2", maxlength: "500",
                                     placeholder: T.notePlaceholder, "aria-label": T.note, hidden: "hidden"});
          row.appendChild(note);
          choices.addEventListener("change", function () {
            var failed = choices.querySelector("input:checked").value === "fail";
            note.hidden = !failed && !note.value;
            row.classList.toggle("failed", failed);
            count();
          });
          set.appendChild(row);
        });
        items.appendChild(set);
      });
      shown = true;
      document.getElementById("checklist").hidden = false;
      var deadline = document.getElementById("deadline");
      var d = new Date(Date.parse(work.today) + 15 * 86400000);
      deadline.value = d.toISOString().slice(0, 10);
      deadline.min = work.today;
      count();
      showWhere();
      mark("form", "ready");
    }

    function answers() {
      var results = {}, notes = {};
      work.checklist.forEach(function (item) {
        var checked = document.querySelector('input[name="r-' + item.code + '"]:checked');
        if (checked) { results[item.code] = checked.value; }
        var note = document.querySelector('textarea[name="n-' + item.code + '"]');
        if (note && note.value.trim()) { notes[item.code] = note.value.trim(); }
      });
      return {results: results, notes: notes};
    }
    function count() {
      var n = Object.keys(answers().results).length;
      document.getElementById("answered").textContent = fmt(T.answered, {n: n, total: work.checklist.length});
    }

    document.getElementById("all-pass").addEventListener("click", function () {
      work.checklist.forEach(function (item) {
        if (!document.querySelector('input[name="r-' + item.code + '"]:checked')) {
          document.getElementById("r-" + item.code + "-pass").checked = true;
        }
      });
      count();
    });

    document.getElementById("photos").addEventListener("change", function (event) {
      Array.prototype.forEach.call(event.target.files, function (file) { photos.push(file); });
      event.target.value = "";
      drawThumbs();
    });
    function drawThumbs() {
      var box = document.getElementById("thumbs");
      box.textContent = "";
      photos.forEach(function (file, i) {
        var img = el("img", {src: URL.createObjectURL(file), alt: file.name});
        var remove = el("button", {type: "button", className: "link"}, [T.removePhoto]);
        remove.addEventListener("click", function () { photos.splice(i, 1); drawThumbs(); });
        box.appendChild(el("figure", {}, [img, remove]));
      });
      mark("photos", String(photos.length));
    }

    where.textContent = T.locating;
    var located = null;
    function showWhere() {
      if (located === null) { return; }
      if (!here) { where.textContent = T.noLocation; mark("located", "no"); return; }
      var e = work && work.enterprises.filter(function (x) { return x.code === code; })[0];
      var d = e ? metres(here, e) : null;
      where.textContent = fmt(T.located, {m: Math.round(here.accuracy || 0),
                                          d: d === null ? "—" : fmt(T.distance, {m: Math.round(d)})});
      var far = d !== null && d >= (work.far_metres || 300);
      where.classList.toggle("far", far);
      if (far) { where.textContent += " · " + fmt(T.farWarning, {m: work.far_metres || 300}); }
      mark("located", "yes");
    }
    locate(function (pos) { located = Boolean(pos); showWhere(); });

    document.getElementById("checklist").addEventListener("submit", function (event) {
      event.preventDefault();
      var error = document.getElementById("form-error");
      var a = answers();
      var missing = work.checklist.filter(function (item) { return !a.results[item.code]; })
        .map(function (item) { return item.code; });
      var failed = Object.keys(a.results).filter(function (k) { return a.results[k] === "fail"; });
      var deadline = document.getElementById("deadline").value;
      if (missing.length) {
        error.textContent = fmt(T.missing, {items: missing.join("、")});
      } else if (failed.length && !deadline) {
        error.textContent = T.needDeadline;
      } else {
        error.textContent = "";
      }
      error.hidden = !error.textContent;
      if (error.textContent) {
        var first = missing.length ? document.querySelector('[data-item="' + missing[0] + '"]') : null;
        if (first) { first.scrollIntoView({block: "center"}); }
        return;
      }
      var e = work.enterprises.filter(function (x) { return x.code === code; })[0];
      var body = {enterprise: code, inspected_on: work.today, results: a.results, notes: a.notes,
                  client_id: uuid(),
                  problems: document.getElementById("problems").value.trim() || null,
                  rectification_deadline: failed.length ? deadline : null};
      // The day it was done, in the bureau's zone, even if it is sent days later.
      body.inspected_at = started.toISOString();
      delete body.inspected_on;
      var second = document.getElementById("second").value.trim();
      if (second) { body.second_inspector = second; }
      if (here) { body.location = {lon: here.lon, lat: here.lat, crs: "wgs84"}; }
      var item = {client_id: body.client_id, body: body, name: e ? e.name : code,
                  created: new Date().toISOString(), state: "waiting",
                  photos: photos.map(function (f) { return {blob: f, name: f.name}; })};
      document.getElementById("finish").disabled = true;
      putOut(item).then(function () {
        location.href = T.homeUrl;
      }).catch(function (err) {
        document.getElementById("finish").disabled = false;
        error.textContent = String(err);
        error.hidden = false;
      });
    });
    return {render: show};
  }

  var view = PAGE === "work" ? workPage() : inspectPage();
  kept("work").then(function (data) { work = data || null; })
    .catch(function () {})
    .then(function () { if (work) { view.render(); } return refresh(); })
    .then(function () { view.render(); return showOutbox(); })
    .then(function () {
      if (PAGE === "work") { return flush(); }
    })
    .then(function () { return registerWorker(); })
    .then(function () { return keepShell(); })
    .then(function () { mark("ready", "yes"); });
  // While something waits, try again now and then (the "online" event is not always fired
  // when a weak signal comes back).
  if (PAGE === "work") {
    setInterval(function () {
      outbox().then(function (items) {
        if (items.some(function (i) { return i.state !== "refused"; }) && navigator.onLine) {
          refresh().then(flush);
        }
      });
    }, 30000);
  }
})();
