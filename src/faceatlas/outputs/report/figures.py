"""The report's plotly figures: the 2-D map of faces and the distribution of people sizes."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from faceatlas.outputs.report.content import Content
from faceatlas.outputs.report.projection import Projection

LEGEND_PEOPLE = 20  # the largest people get a legend entry (click to hide/show) and a colour
WEBGL_ABOVE = 5_000  # SVG draws fewer points crisply and needs no WebGL; WebGL scales to 100 k
PALETTE = qualitative.Dark24 + qualitative.Light24
UNKNOWN_COLOUR = "#b0b0b0"
HOVER = "<b>%{customdata[2]}</b><br>%{customdata[3]}<extra></extra>"


def map_figure(
    content: Content,
    projection: Projection,
    thumb_url: Mapping[int, str],
    photo_url: Mapping[int, str],
) -> dict:
    """Every projected face as a point coloured by person, as a plotly figure dict.

    ``customdata`` of each point is (thumbnail URL, photo URL, person, file name) for the page's
    hover panel; a URL is empty when there is no file to show. The per-point lists are added to
    the validated figure afterwards: plotly checks them element by element, which costs seconds
    at 20 k points and can find nothing wrong with strings built here.
    """
    face_ids = content.face_ids[projection.rows]
    rank_of = {int(f): p.row.rank for p in content.people for f in p.face_ids}
    label_of = content.person_of()
    ranks = np.array([rank_of.get(int(f), 0) for f in face_ids], dtype=np.int64)
    top = sorted(set(ranks[ranks > 0].tolist()))[:LEGEND_PEOPLE]
    scatter = go.Scattergl if len(face_ids) > WEBGL_ABOVE else go.Scatter
    figure = go.Figure()
    per_point: list[tuple[list[list[str]], list[str] | None]] = []

    def add(mask: np.ndarray, name: str, colour: str | list[str]) -> None:
        ids = face_ids[mask].tolist()
        figure.add_trace(
            scatter(
                x=projection.xy[mask, 0],
                y=projection.xy[mask, 1],
                mode="markers",
                name=name,
                marker={
                    "size": 6,
                    "color": colour if isinstance(colour, str) else colour[0],
                    "line": {"width": 0},
                },
                hovertemplate=HOVER,
            )
        )
        customdata = [
            [
                thumb_url.get(f, ""),
                photo_url.get(f, ""),
                label_of.get(f, "unknown"),
                os.path.basename(content.faces[f].image_path),
            ]
            for f in ids
        ]
        per_point.append((customdata, None if isinstance(colour, str) else colour))

    # drawn bottom to top: unknown faces, other people, then the largest people last (on top);
    # the legend lists them in reverse, largest person first
    if (ranks == 0).any():
        add(ranks == 0, f"unknown (people under {content.min_faces} faces)", UNKNOWN_COLOUR)
    others = (ranks > 0) & ~np.isin(ranks, top)
    if others.any():
        colours = [PALETTE[(r - 1) % len(PALETTE)] for r in ranks[others].tolist()]
        add(others, "other people", colours)
    sizes = {p.row.rank: p.row.size for p in content.people}
    for rank in reversed(top):
        label = label_of[int(face_ids[ranks == rank][0])]
        add(ranks == rank, f"{label} ({sizes[rank]})", PALETTE[(rank - 1) % len(PALETTE)])
    figure.update_layout(
        template="plotly_white",
        height=640,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        dragmode="pan",
        hovermode="closest",
        legend={"itemsizing": "constant", "traceorder": "reversed"},
        xaxis={"visible": False},
        yaxis={"visible": False},
        meta={"faces": projection.total, "points": len(face_ids), "method": projection.method},
    )
    data = figure.to_dict()
    for trace, (customdata, colours) in zip(data["data"], per_point, strict=True):
        trace["customdata"] = customdata
        if colours is not None:
            trace["marker"]["color"] = colours
    return data


def sizes_figure(person_sizes: np.ndarray) -> go.Figure:
    """Bar chart: how many people have 1, 2, 3, ... faces (singletons included)."""
    sizes, counts = np.unique(person_sizes, return_counts=True)
    yaxis = {"title": {"text": "people"}}
    if len(counts) and counts.max() > 50:  # many singletons, few big people: log scale
        yaxis |= {"type": "log", "dtick": 1}
    figure = go.Figure(
        go.Bar(
            x=sizes,
            y=counts,
            marker={"color": PALETTE[0]},
            hovertemplate="%{y} people with %{x} faces<extra></extra>",
        )
    )
    figure.update_layout(
        template="plotly_white",
        height=320,
        margin={"l": 50, "r": 10, "t": 10, "b": 40},
        xaxis={"title": {"text": "faces per person"}},
        yaxis=yaxis,
        bargap=0.1,
    )
    return figure
