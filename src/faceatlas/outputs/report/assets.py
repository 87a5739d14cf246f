"""Static files of the report folder: the style sheet and the few lines that start the plots.

The plots themselves are plotly figures built in Python; the script below only hands them to
``Plotly.newPlot`` and shows the hovered face's thumbnail next to the map (plotly's hover labels
cannot hold images).
"""

CSS = """\
:root { --fg: #1d1d1f; --muted: #6e6e73; --line: #e3e3e8; --accent: #2a62c9; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0 auto; max-width: 1400px; padding: 0 24px 48px; }
header { border-bottom: 1px solid var(--line); padding: 16px 0 8px; }
header h1 { margin: 0 0 4px; font-size: 24px; }
nav a { margin-right: 16px; color: var(--accent); text-decoration: none; }
section { padding-top: 16px; border-bottom: 1px solid var(--line); padding-bottom: 16px; }
h2 { font-size: 20px; margin: 8px 0 12px; }
h3 { font-size: 16px; margin: 16px 0 6px; }
h3 small, .muted { color: var(--muted); font-weight: normal; }
.numbers { display: flex; flex-wrap: wrap; gap: 12px; margin: 0; }
.numbers div { border: 1px solid var(--line); border-radius: 8px; padding: 8px 16px;
               min-width: 120px; }
.numbers dt { color: var(--muted); font-size: 13px; }
.numbers dd { margin: 0; font-size: 22px; font-weight: 600; }
table { border-collapse: collapse; margin: 8px 0; }
td, th { border-bottom: 1px solid var(--line); padding: 4px 12px 4px 0; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.sheet { display: flex; flex-wrap: wrap; gap: 4px; align-items: flex-start; }
.face { display: inline-flex; flex-direction: column; align-items: center; text-decoration: none;
        color: var(--muted); font-size: 11px; }
.face img, .face .missing { width: var(--thumb); height: var(--thumb); border-radius: 4px;
        background: #eee; object-fit: cover; }
.face .missing { display: flex; align-items: center; justify-content: center; }
.gap { align-self: center; padding: 0 12px; color: var(--muted); }
.group { display: inline-block; vertical-align: top; margin: 0 16px 8px 0; }
.group h4 { margin: 4px 0; font-size: 13px; font-weight: 600; }
.map-wrap { display: flex; gap: 12px; align-items: flex-start; }
#map { flex: 1; min-width: 0; height: 640px; }
#hover { width: 180px; position: sticky; top: 8px; font-size: 13px; color: var(--muted);
         word-break: break-all; }
#hover img { width: 160px; height: 160px; border-radius: 6px; display: block; }
#hover img[hidden] { display: none; }
#sizes { height: 320px; }
"""

JS = """\
(function () {
  "use strict";
  var figures = window.FACEATLAS_FIGURES || {};
  var config = {responsive: true, displaylogo: false, scrollZoom: true};
  Object.keys(figures).forEach(function (id) {
    var element = document.getElementById(id);
    if (element) { Plotly.newPlot(element, figures[id].data, figures[id].layout, config); }
  });
  var map = document.getElementById("map");
  var thumb = document.getElementById("hover-thumb");
  var caption = document.getElementById("hover-caption");
  if (!map || !map.on) { return; }
  map.on("plotly_hover", function (event) {
    var d = event.points[0].customdata;
    thumb.hidden = !d[0];
    if (d[0]) { thumb.src = d[0]; }
    caption.textContent = d[2] + " \\u2014 " + d[3];
  });
  map.on("plotly_click", function (event) {
    var photo = event.points[0].customdata[1];
    if (photo) { window.open(photo, "_blank"); }
  });
})();
"""
