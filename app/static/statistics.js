// The statistics pages (app/statistics.py): filters that apply themselves, a table sorted by
// clicking its headings, charts drawn with the vendored Apache ECharts from the data the page
// carries (a JSON block, never evaluated), and a background job's progress bar.
(function () {
  "use strict";
  var body = document.body;

  // Filters: choosing a level, a period or a place shows it at once.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      var form = select.form;
      if (select.name === "period") {
        // Another kind of period: keep its start (the new kind holds it), drop a range's end.
        var to = form.querySelector("input[name=to]");
        if (to) { to.disabled = true; }
      }
      form.submit();
    });
  });

  // Sorting: numbers as numbers (empty last), the unit column by its code.
  var table = document.getElementById("stats-table");
  if (table) {
    var tbody = table.tBodies[0];
    table.querySelectorAll("thead button.sort").forEach(function (button) {
      button.addEventListener("click", function () {
        var key = button.dataset.key;
        var th = button.closest("th");
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        var rows = Array.prototype.slice.call(tbody.querySelectorAll("tr.unit"));
        var read = function (row) {
          var cell = row.querySelector("[data-key='" + key + "']");
          var raw = cell ? cell.dataset.value : "";
          if (key === "name") { return raw; }
          return raw === "" ? null : Number(raw);
        };
        rows.sort(function (a, b) {
          var x = read(a), y = read(b);
          if (x === y) { return 0; }
          if (x === null) { return 1; }
          if (y === null) { return -1; }
          var order = x < y ? -1 : 1;
          return ascending ? order : -order;
        });
        rows.forEach(function (row) { tbody.appendChild(row); });
        table.querySelectorAll("thead th[aria-sort]").forEach(function (other) {
          other.setAttribute("aria-sort", "none");
        });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        table.dataset.sortedBy = key;
        table.dataset.sortedDir = ascending ? "ascending" : "descending";
      });
    });
  }

  // Charts.
  function percent(value) { return value === null ? "–" : (value * 100).toFixed(1) + "%"; }

  function drawn(chart, name) {
    chart.on("finished", function () { body.dataset[name] = "drawn"; });
  }

  // Unit names under the bars: slanted more, and smaller, when there are many.
  function unitAxis(units) {
    var many = units.length > 12;
    return {type: "category", data: units,
            axisLabel: {rotate: many ? 60 : 30, interval: 0, fontSize: many ? 10 : 12}};
  }

  function barOption(data, key) {
    var figure = data.figures[key];
    var isRate = figure.kind === "rate";
    return {
      animation: false,
      grid: {left: 56, right: 16, top: 40, bottom: data.units.length > 12 ? 130 : 80},
      tooltip: {trigger: "axis", valueFormatter: isRate ? percent : null},
      legend: {data: [figure.label], top: 4},
      xAxis: unitAxis(data.units),
      yAxis: {type: "value", max: isRate ? 1 : null,
              axisLabel: isRate ? {formatter: function (v) { return Math.round(v * 100) + "%"; }} : {}},
      series: [{name: figure.label, type: "bar", data: figure.values,
                itemStyle: {color: "#0b3d66"}}]
    };
  }

  var dataBlock = document.getElementById("stats-chart-data");
  var data = dataBlock ? JSON.parse(dataBlock.textContent) : null;
  var holder = document.getElementById("stats-chart");
  if (holder && data && window.echarts) {
    var chart = window.echarts.init(holder, null, {renderer: holder.dataset.renderer || "canvas"});
    drawn(chart, "chart");
    var picker = document.getElementById("chart-figure");
    chart.setOption(barOption(data, picker ? picker.value : "inspection_rate"));
    if (picker) {
      picker.addEventListener("change", function () {
        body.dataset.chart = "drawing";
        chart.setOption(barOption(data, picker.value), true);
      });
    }
    window.addEventListener("resize", function () { chart.resize(); });
  }

  // The report's second chart: the two programmes' pass rates side by side, never pooled.
  var testing = document.getElementById("stats-testing-chart");
  if (testing && data && window.echarts) {
    var second = window.echarts.init(testing, null, {renderer: testing.dataset.renderer || "canvas"});
    drawn(second, "testingChart");
    second.setOption({
      animation: false,
      grid: {left: 56, right: 16, top: 40, bottom: data.units.length > 12 ? 130 : 80},
      legend: {data: [data.labels.spot, data.labels.periodic], top: 4},
      tooltip: {trigger: "axis", valueFormatter: percent},
      xAxis: unitAxis(data.units),
      yAxis: {type: "value", max: 1,
              axisLabel: {formatter: function (v) { return Math.round(v * 100) + "%"; }}},
      series: [{name: data.labels.spot, type: "bar", data: data.spot, itemStyle: {color: "#0b3d66"}},
               {name: data.labels.periodic, type: "bar", data: data.periodic,
                itemStyle: {color: "#e69f00"}}]
    });
  }

  var print = document.getElementById("print-report");
  if (print) { print.addEventListener("click", function () { window.print(); }); }

  // A background job: its bar moves until the file is ready.
  var job = document.getElementById("stats-job");
  if (job && (job.dataset.status === "queued" || job.dataset.status === "running")) {
    var bar = job.querySelector("progress");
    var poll = function () {
      window.gridwatchFetch(job.dataset.statusUrl).then(function (response) {
        return response.json();
      }).then(function (state) {
        bar.value = state.progress;
        job.querySelector(".percent").textContent = state.progress + "%";
        if (state.status === "done" || state.status === "failed") {
          window.location.reload();
          return;
        }
        setTimeout(poll, 1000);
      }).catch(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 500);
  }
}());
