// The report page: its pickers, and its charts drawn by Apache ECharts (served from the npm
// install at /vendor/echarts.min.js; see webui/vendor.py) from the JSON the server wrote
// into #rp-chart-data (webui/report_view.py chart_data). A click on a bar or point with
// calls behind it opens them (/reports/calls). Without ECharts every chart says so.
(function () {
  "use strict";

  // -- pickers: the end date only for a custom range; the "which" list follows the scope
  var kind = document.getElementById("rp-kind");
  var scope = document.getElementById("rp-scope");
  var key = document.getElementById("rp-key");
  var report = document.getElementById("rp-report");
  function showTo() {
    var to = document.querySelector(".rp-to");
    if (to && kind) to.hidden = kind.value !== "custom";
  }
  // the scopes the picked report accepts (catalog.ReportKind.scopes)
  function filterScopes() {
    var picked = report && report.options[report.selectedIndex];
    if (!picked || !scope) return;
    var allowed = (picked.getAttribute("data-scopes") || "").split(" ");
    for (var i = 0; i < scope.options.length; i++) {
      scope.options[i].disabled = allowed.indexOf(scope.options[i].value) < 0;
    }
    if (scope.options[scope.selectedIndex].disabled) scope.value = allowed[0];
    filterKeys();
  }
  function filterKeys() {
    if (!scope || !key) return;
    var current = scope.value;
    var groups = key.querySelectorAll("optgroup");
    for (var i = 0; i < groups.length; i++) {
      groups[i].hidden = groups[i].getAttribute("data-scope") !== current;
      groups[i].disabled = groups[i].hidden;
    }
    var picked = key.options[key.selectedIndex];
    if (picked && picked.value && picked.getAttribute("data-scope") !== current) key.value = "";
    if (current !== "center" && !key.value) {
      var first = key.querySelector('option[data-scope="' + current + '"]');
      if (first) key.value = first.value;
    }
    var label = document.querySelector(".rp-key");
    if (label) label.hidden = current === "center";
  }
  if (kind) kind.addEventListener("change", showTo);
  if (scope) scope.addEventListener("change", filterKeys);
  if (report) report.addEventListener("change", filterScopes);
  showTo();
  filterScopes();
  filterKeys();

  // -- charts
  var island = document.getElementById("rp-chart-data");
  if (!island) return;
  var charts = JSON.parse(island.textContent);
  var figures = document.querySelectorAll(".rp-chart");
  var lang = document.documentElement.lang || "en";
  var locale = lang.toLowerCase().indexOf("zh") === 0 ? "ZH" : "EN";
  var drawn = 0;

  function failed(figure, why) {
    figure.setAttribute("data-state", "failed");
    var p = figure.querySelector(".rp-chart-error");
    if (p) p.hidden = false;
    if (window.console) console.error("report chart not drawn: " + why);
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function duration(v, hours) {
    var s = Math.round(Math.max(0, v));
    // from 100 hours on, whole hours (as the page's tiles: webui/report_view.py duration)
    if (s >= 360000) return hours.replace("{hours}", Math.round(s / 3600).toLocaleString(lang));
    var h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
    return h ? h + ":" + pad(m) + ":" + pad(sec) : m + ":" + pad(sec);
  }
  function formatter(unit, hours) {
    return function (v) {
      if (v === null || v === undefined || v === "-") return "\u2013";
      if (unit === "pct") return Number(v).toFixed(Number(v) % 1 ? 1 : 0) + "%";
      if (unit === "s") return duration(Number(v), hours);
      if (unit === "count") return Math.round(Number(v)).toLocaleString(lang);
      return Number(v).toFixed(1);
    };
  }

  function heatmapOption(c, fmt) {
    var data = [], max = 0;
    c.series.forEach(function (s, y) {
      s.values.forEach(function (v, x) {
        data.push([x, y, v === null ? "-" : v]);
        if (v !== null && v > max) max = v;
      });
    });
    return {
      tooltip: { renderMode: "richText", valueFormatter: fmt },
      grid: { left: 80, right: 20, top: 10, bottom: 84 },
      xAxis: { type: "category", data: c.categories, splitArea: { show: true } },
      yAxis: {
        type: "category",
        data: c.series.map(function (s) { return s.label; }),
        splitArea: { show: true },
      },
      visualMap: {
        min: 0, max: max || 1, calculable: true, orient: "horizontal", left: "center",
        bottom: 0, itemHeight: 120, formatter: fmt,
        inRange: { color: ["#e3f2fd", "#90caf9", "#1565c0", "#c62828"] },
      },
      series: [{ type: "heatmap", name: c.label, data: data }],
    };
  }

  function axisOption(c, fmt) {
    var stacked = c.kind === "stacked_bar";
    var type = c.kind === "line" ? "line" : "bar";
    return {
      tooltip: { trigger: "axis", renderMode: "richText", valueFormatter: fmt },
      legend: c.series.length > 1 ? { top: 0, type: "scroll" } : undefined,
      grid: { left: 70, right: 20, top: c.series.length > 1 ? 36 : 14, bottom: 30 },
      xAxis: { type: "category", data: c.categories },
      yAxis: { type: "value", axisLabel: { formatter: fmt }, min: 0 },
      series: c.series.map(function (s) {
        return {
          name: s.label,
          type: type,
          stack: stacked ? "total" : undefined,
          barCategoryGap: c.kind === "histogram" ? "4%" : undefined,
          connectNulls: false,
          showSymbol: c.categories.length <= 48,
          data: s.values,
        };
      }),
    };
  }

  Array.prototype.forEach.call(figures, function (figure, i) {
    var c = charts[i];
    var box = figure.querySelector(".rp-canvas");
    if (typeof window.echarts === "undefined") {
      failed(figure, "ECharts is not loaded (/vendor/echarts.min.js)");
      return;
    }
    try {
      var chart = window.echarts.init(box, null, { locale: locale, renderer: "canvas" });
      var fmt = formatter(c.unit, c.hours || "{hours} h");
      var option = c.kind === "heatmap" ? heatmapOption(c, fmt) : axisOption(c, fmt);
      option.animation = false;
      chart.on("finished", function () {
        if (figure.getAttribute("data-state") === "drawn") return;
        figure.setAttribute("data-state", "drawn");
        drawn += 1;
        document.body.setAttribute("data-charts-drawn", String(drawn));
      });
      if (c.drills && c.drills.length === c.categories.length) {
        chart.on("click", function (p) {
          var x = c.kind === "heatmap" ? p.data[0] : p.dataIndex;
          var url = c.drills[x];
          if (url) window.location.href = url;
        });
        box.classList.add("rp-clickable");
      }
      chart.setOption(option);
      window.addEventListener("resize", function () { chart.resize(); });
    } catch (e) {
      failed(figure, String(e));
    }
  });
})();
