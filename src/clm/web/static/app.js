// Draws every chart of the page: a [data-figure] element holds a Plotly figure as JSON.
// Plotly's bundle (served by clm, not a CDN) loads only on pages that have a chart.
(function () {
  "use strict";
  function draw() {
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      var figure = JSON.parse(el.getAttribute("data-figure"));
      Plotly.newPlot(el, figure.data, figure.layout,
        { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] });
    });
  }
  function start() {
    if (!document.querySelector("[data-figure]")) { return; }
    var script = document.createElement("script");
    script.src = document.body.getAttribute("data-plotly");
    script.onload = draw;
    document.head.appendChild(script);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
