"""``index.html`` of the report: plain HTML built with escaping, no template engine needed."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from html import escape

import numpy as np

from faceatlas.outputs.report.content import Content, shown_faces
from faceatlas.outputs.report.labels import LabelReport, Mistake
from faceatlas.outputs.report.projection import Projection

GROUPS_SHOWN = 4  # per merge or split: the largest groups ...
FACES_PER_GROUP = 4  # ... and this many faces of each


class Page:
    """Renders the parts of the page from the report's content and the URLs of files."""

    def __init__(
        self,
        content: Content,
        thumb_url: Mapping[int, str],
        photo_url: Mapping[int, str],
        thumb_size: int,
    ) -> None:
        self.content = content
        self.thumb_url = thumb_url
        self.photo_url = photo_url
        self.thumb_size = thumb_size

    def face(self, face_id: int, distance: float | None = None) -> str:
        """One face tile: the crop, linking to the full photo."""
        row = self.content.faces[face_id]
        name = os.path.basename(row.image_path)
        title = name if distance is None else f"{name} \u00b7 distance {distance:.2f}"
        url = self.thumb_url.get(face_id)
        picture = (
            f'<img src="{escape(url)}" loading="lazy" width="{self.thumb_size}" '
            f'height="{self.thumb_size}" alt="face {face_id}">'
            if url
            else '<span class="missing">unreadable</span>'
        )
        caption = "" if distance is None else f"<span>{distance:.2f}</span>"
        photo = self.photo_url.get(face_id)
        if photo is None:  # inside a container: no file to open
            return (
                f'<span class="face" title="{escape(title)}" data-face="{face_id}">'
                f"{picture}{caption}</span>"
            )
        return (
            f'<a class="face" href="{escape(photo)}" title="{escape(title)}" '
            f'data-face="{face_id}">{picture}{caption}</a>'
        )

    def sheet(self, face_ids: Iterable[int], distances: Iterable[float] | None = None) -> str:
        ids = [int(f) for f in face_ids]
        dist = [None] * len(ids) if distances is None else [float(d) for d in distances]
        return "".join(self.face(f, d) for f, d in zip(ids, dist, strict=True))


def render(
    page: Page,
    projection: Projection,
    labels: LabelReport | None,
    max_people: int,
    faces_per_person: int,
    catalog_path: str,
) -> str:
    """The whole ``index.html``."""
    content = page.content
    people = content.people[:max_people]
    nav = [("overview", "Overview")]
    if labels is not None:
        nav.append(("mistakes", "Mistakes"))
    nav += [("faces-map", "Map"), ("people", "People"), ("unknown", "Unknown faces")]
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>faceatlas report</title>",
        '<link rel="stylesheet" href="report.css">',
        f"<style>:root {{ --thumb: {page.thumb_size}px; }}</style>",
        "</head><body>",
        "<header><h1>faceatlas report</h1>",
        f'<p class="muted">{escape(catalog_path)} \u00b7 written '
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}</p>",
        "<nav>" + "".join(f'<a href="#{i}">{escape(t)}</a>' for i, t in nav) + "</nav>",
        "</header>",
        _overview(content),
    ]
    if labels is not None:
        parts.append(_mistakes(page, labels))
    parts += [
        _map(projection),
        _people(page, people, len(content.people), faces_per_person),
        _unknown(page, faces_per_person),
        '<script src="plotly.min.js"></script>',
        '<script src="data.js"></script>',
        '<script src="report.js"></script>',
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _numbers(items: Iterable[tuple[str, object]]) -> str:
    cells = "".join(
        f"<div><dt>{escape(name)}</dt><dd>{escape(_fmt(value))}</dd></div>" for name, value in items
    )
    return f'<dl class="numbers">{cells}</dl>'


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    return str(value)


def _clustering(clustering: dict) -> str:
    """Method, threshold and scalar parameters in a sentence; everything in a details block."""
    params = clustering["params"]
    threshold = params.get("threshold")
    shown = "n/a" if threshold is None else f"{threshold:.4g}"
    if isinstance(params.get("auto"), dict):
        shown += " (chosen automatically)"
    scalars = ", ".join(
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
        for k, v in sorted(params.items())
        if k != "threshold" and not isinstance(v, dict | list)
    )
    return (
        f"<p>Grouped by <b>{escape(clustering['method'])}</b>, threshold <b>{escape(shown)}</b>"
        f"{escape(', ' + scalars) if scalars else ''}, at {escape(str(clustering['created_at']))}."
        "</p><details><summary>All clustering parameters</summary>"
        f"<pre>{escape(json.dumps(params, indent=2, sort_keys=True))}</pre></details>"
    )


def _overview(content: Content) -> str:
    stats = content.stats
    clustering = content.clustering
    how = (
        "<p>No people yet: run <code>faceatlas cluster</code> first.</p>"
        if clustering is None
        else _clustering(clustering)
    )
    errors = ""
    if content.errors:
        rows = "".join(
            f"<tr><td>{escape(path)}</td><td>{escape(reason or '')}</td></tr>"
            for path, reason in content.errors
        )
        shown = len(content.errors)
        first = f" (the first {shown})" if stats["errors"] > shown else ""
        errors = (
            f"<details><summary>{stats['errors']:,} images could not be read{first}</summary>"
            f"<table>{rows}</table></details>"
        )
    return (
        '<section id="overview"><h2>Overview</h2>'
        + _numbers(
            [
                ("images", stats["images"]),
                ("faces", stats["faces"]),
                (f"people ({content.min_faces}+ faces)", len(content.people)),
                ("unknown faces", len(content.unknown_ids)),
                ("errors", stats["errors"]),
            ]
        )
        + how
        + "<h3>People by number of faces</h3>"
        + '<div id="sizes"></div>'
        + errors
        + "</section>"
    )


def _mistakes(page: Page, labels: LabelReport) -> str:
    s = labels.scores
    metrics = [
        ("pairwise precision", s.pairwise_precision),
        ("pairwise recall", s.pairwise_recall),
        ("pairwise F", s.pairwise_f),
        ("BCubed precision", s.bcubed_precision),
        ("BCubed recall", s.bcubed_recall),
        ("BCubed F", s.bcubed_f),
        ("NMI", s.nmi),
    ]
    counts = [
        ("labelled faces", labels.labelled),
        ("identities", s.identities),
        ("clusters", s.clusters),
        ("single faces", s.singletons),
    ]

    def block(title: str, mistakes: list[Mistake], unit: str, inner: tuple[str, str]) -> str:
        if not mistakes:
            return f"<h3>{title}</h3><p>None.</p>"
        items = []
        for m in mistakes:
            groups = "".join(
                f'<div class="group"><h4>{escape(g.name)} <span class="muted">'
                f"({len(g.face_ids)})</span></h4>"
                f'<div class="sheet">{page.sheet(g.face_ids[:FACES_PER_GROUP])}</div></div>'
                for g in m.groups[:GROUPS_SHOWN]
            )
            more = len(m.groups) - GROUPS_SHOWN
            extra = f'<p class="muted">and {more} more {inner[1]}</p>' if more > 0 else ""
            items.append(
                f'<article class="mistake"><h3>{escape(m.name)} <small>{m.size} faces, '
                f"{m.wrong} outside the largest {inner[0]}</small></h3>{groups}{extra}"
                "</article>"
            )
        return f'<h3>{title}</h3><p class="muted">{unit}</p>' + "".join(items)

    source = (
        "Labels from the photos' folder names"
        if labels.source == "folder"
        else f"Labels from {labels.source}"
    )
    return (
        '<section id="mistakes"><h2>Against the labels</h2>'
        f"<p>{escape(source)}; the same scores as <code>faceatlas eval</code> "
        "(one labelled face per photo: the one nearest its centre).</p>"
        + _numbers(metrics)
        + _numbers(counts)
        + block(
            "Worst merges",
            labels.merges,
            "People who hold several identities.",
            ("identity", "identities"),
        )
        + block(
            "Worst splits",
            labels.splits,
            "Identities spread over several people.",
            ("person", "people"),
        )
        + "</section>"
    )


def _map(projection: Projection) -> str:
    names = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
    shown = len(projection.rows)
    if projection.sampled:
        note = (
            f"Showing a random sample of <b>{shown:,}</b> of {projection.total:,} faces "
            "(raise it with <code>--map-limit</code>)."
        )
    else:
        note = f"All <b>{shown:,}</b> faces."
    return (
        '<section id="faces-map"><h2>Map of faces</h2>'
        f"<p>{names[projection.method]} of the face embeddings: faces of one person sit close "
        f"together. {note} Hover a point to see the face, click to open its photo; "
        "scroll to zoom, drag to pan, click a legend entry to hide it.</p>"
        '<div class="map-wrap"><div id="map"></div><aside id="hover">'
        '<img id="hover-thumb" alt="hovered face" hidden>'
        '<p id="hover-caption">Hover a point.</p></aside></div></section>'
    )


def _people(page: Page, people: list, total: int, faces_per_person: int) -> str:
    items = []
    for person in people:
        head, tail, hidden = shown_faces(person, faces_per_person)
        where = {int(f): i for i, f in enumerate(person.face_ids)}
        tiles = page.sheet(head, person.distances[: len(head)])
        if hidden:
            tiles += f'<span class="gap">\u2026 {hidden:,} more \u2026</span>'
            tiles += page.sheet(tail, [person.distances[where[int(f)]] for f in tail])
        items.append(
            f'<article id="{escape(person.label)}" class="person">'
            f"<h3>{escape(person.label)} <small>{person.row.size:,} faces"
            + (" \u2014 doubtful: check first" if person.doubtful else "")
            + "</small></h3>"
            f'<div class="sheet">{tiles}</div></article>'
        )
    more = (
        f'<p class="muted">{total - len(people):,} smaller people not shown '
        "(raise <code>--max-people</code>).</p>"
        if total > len(people)
        else ""
    )
    return (
        '<section id="people"><h2>People</h2>'
        "<p>Doubtful people first (spread out, or close to another person), then the largest. "
        "Most typical faces first (nearest the person's average face), least typical last: "
        "wrong members gather at the end. The number under a face is its distance to the "
        "average.</p>" + "".join(items) + more + "</section>"
    )


def _unknown(page: Page, limit: int) -> str:
    ids = page.content.unknown_ids
    shown = ids[:limit]
    note = f" (the first {len(shown)})" if len(ids) > len(shown) else ""
    return (
        '<section id="unknown"><h2>Unknown faces</h2>'
        f"<p>{len(ids):,} faces belong to no person of {page.content.min_faces}+ faces{note}.</p>"
        f'<div class="sheet">{page.sheet(shown)}</div></section>'
    )
