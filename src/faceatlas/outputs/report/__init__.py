"""A self-contained HTML report of the people found: overview, map of faces, contact sheets.

The folder opens from disk in any browser, with no server and no network::

    OUT/index.html      overview, mistakes (with labels), map, people, unknown faces
    OUT/plotly.min.js   from the installed plotly package (no CDN)
    OUT/data.js         the plotly figures, as data
    OUT/report.css, OUT/report.js, OUT/summary.json
    OUT/thumbs/         face crops, cut once by ``faceatlas.outputs.thumbs`` and reused next time

Links are relative: to the thumbnails inside OUT and to the original photos wherever they are.
"""

from __future__ import annotations

from typing import Any

# The writer pulls in plotly and scikit-learn; importing it lazily keeps every other
# ``faceatlas`` command fast to start.
_EXPORTS = {
    "ReportConfig": "faceatlas.outputs.report.writer",
    "ReportSummary": "faceatlas.outputs.report.writer",
    "write_report": "faceatlas.outputs.report.writer",
    "ReportError": "faceatlas.outputs.report.content",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(_EXPORTS[name]), name)


__all__ = ["ReportConfig", "ReportError", "ReportSummary", "write_report"]
