"""Writes the report folder: gathers, projects, cuts thumbnails, renders, writes files."""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

import plotly.io
import plotly.offline

from faceatlas.atomic import atomic_write
from faceatlas.catalog import Catalog
from faceatlas.decode import DecodeError
from faceatlas.errors import NoPeopleYet
from faceatlas.outputs.report.assets import CSS, JS
from faceatlas.outputs.report.content import Content, ReportError, gather, shown_faces
from faceatlas.outputs.report.figures import map_figure, sizes_figure
from faceatlas.outputs.report.html import FACES_PER_GROUP, GROUPS_SHOWN, Page, render
from faceatlas.outputs.report.labels import LabelReport, label_report
from faceatlas.outputs.report.projection import MAP_METHODS, Projection, project
from faceatlas.outputs.thumbs import DEFAULT_SIZE, face_thumbnail

log = logging.getLogger(__name__)

THUMBS = "thumbs"


@dataclass(slots=True)
class ReportConfig:
    """What the report shows; validated once, on creation."""

    max_people: int = 200  # people with a contact sheet, largest first
    faces_per_person: int = 24  # faces per contact sheet: most typical first, least typical last
    map_method: str = "pca"  # pca | tsne | umap
    map_limit: int | None = None  # points on the map; None: the method's default limit
    min_faces: int = 2  # people with fewer faces count as unknown faces (as in export)
    labels: str | Path | None = None  # "folder" or a CSV file path,identity (as faceatlas eval)
    worst: int = 10  # merges and splits listed when labels are known
    thumb_size: int = DEFAULT_SIZE
    workers: int = 0  # threads cutting thumbnails; 0: one per core
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("max_people", "faces_per_person", "min_faces", "thumb_size"):
            if getattr(self, name) < 1:
                raise ReportError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("worst", "workers"):
            if getattr(self, name) < 0:
                raise ReportError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.map_method not in MAP_METHODS:
            raise ReportError(f"unknown map {self.map_method!r}; choose one of {MAP_METHODS}")
        if self.map_limit is not None and self.map_limit < 1:
            raise ReportError(f"map_limit must be >= 1, got {self.map_limit}")
        labels = self.labels
        if labels is not None and str(labels) != "folder" and not Path(labels).is_file():
            raise ReportError(f"labels {str(self.labels)!r} is neither 'folder' nor a file")


@dataclass(slots=True)
class ReportSummary:
    index: Path
    faces: int
    people: int  # people of min_faces+ faces
    people_shown: int
    map_points: int
    thumbnails: int
    unreadable: int  # faces whose photo could not be read for a thumbnail
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    scores: dict | None = None


def write_report(
    catalog: Catalog, out: str | Path, config: ReportConfig | None = None
) -> ReportSummary:
    """Write the report of ``catalog``'s current people into the folder ``out``."""
    config = config or ReportConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    clock = time.monotonic()
    started = clock

    def lap(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        timings[name] = round(now - clock, 3)
        clock = now

    if catalog.clustering() is None:
        raise NoPeopleYet()
    content = gather(catalog, min_faces=config.min_faces)
    lap("read")
    labels = None
    if config.labels is not None:
        labels = label_report(catalog, config.labels, content.faces, worst=config.worst)
    lap("labels")
    projection = project(content.vectors, config.map_method, config.map_limit, config.seed)
    lap("map")
    wanted = _faces_to_show(content, projection, labels, config)
    thumb_url, unreadable = _thumbnails(content, wanted, out, config)
    lap("thumbnails")
    photo_url = _photo_urls(catalog, content, wanted, out)
    figures = {
        "map": map_figure(content, projection, thumb_url, photo_url),
        "sizes": sizes_figure(content.person_sizes).to_dict(),
    }
    _write(out / "plotly.min.js", plotly.offline.get_plotlyjs())
    _write(
        out / "data.js",
        "window.FACEATLAS_FIGURES = {"
        + ",".join(
            f"{json.dumps(k)}: {plotly.io.to_json(f, validate=False)}" for k, f in figures.items()
        )
        + "};\n",
    )
    _write(out / "report.css", CSS)
    _write(out / "report.js", JS)
    page = Page(content, thumb_url, photo_url, config.thumb_size)
    html = render(
        page, projection, labels, config.max_people, config.faces_per_person, catalog.path
    )
    lap("write")
    summary = ReportSummary(
        index=out / "index.html",
        faces=len(content.face_ids),
        people=len(content.people),
        people_shown=min(len(content.people), config.max_people),
        map_points=len(projection.rows),
        thumbnails=len(thumb_url),
        unreadable=unreadable,
        seconds=round(time.monotonic() - started, 3),
        timings=timings,
        scores=None if labels is None else labels.scores.as_dict(),
    )
    _write(out / "summary.json", json.dumps(_summary_json(summary, content), indent=2) + "\n")
    _write(out / "index.html", html)  # last: a complete index.html means a complete report
    return summary


def _faces_to_show(
    content: Content, projection: Projection, labels: LabelReport | None, config: ReportConfig
) -> list[int]:
    """Every face the page or the map shows, each once: these need a thumbnail."""
    wanted = set(content.face_ids[projection.rows].tolist())
    for person in content.people[: config.max_people]:
        head, tail, _ = shown_faces(person, config.faces_per_person)
        wanted.update(head.tolist())
        wanted.update(tail.tolist())
    wanted.update(content.unknown_ids[: config.faces_per_person].tolist())
    if labels is not None:
        for mistake in labels.merges + labels.splits:
            for group in mistake.groups[:GROUPS_SHOWN]:
                wanted.update(group.face_ids[:FACES_PER_GROUP])
    return sorted(int(f) for f in wanted)


def _thumbnails(
    content: Content, face_ids: list[int], out: Path, config: ReportConfig
) -> tuple[dict[int, str], int]:
    """Cut (or reuse) the thumbnails in parallel: face id -> URL relative to ``out``."""
    cache = out / THUMBS

    def cut(face_id: int) -> Path | None:
        try:
            return face_thumbnail(content.faces[face_id], cache, config.thumb_size)
        except DecodeError as err:
            log.warning(
                "no thumbnail for face %d (%s): %s", face_id, content.faces[face_id].image_path, err
            )
            return None

    workers = config.workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        paths = list(pool.map(cut, face_ids))
    urls = {
        f: _url(p.relative_to(out).as_posix())
        for f, p in zip(face_ids, paths, strict=True)
        if p is not None
    }
    return urls, len(face_ids) - len(urls)


def _photo_urls(
    catalog: Catalog, content: Content, face_ids: list[int], out: Path
) -> dict[int, str]:
    """face id -> relative URL of its photo, for ``face_ids``; no entry for images inside a
    container (a TSV row, an archive member), which have no file of their own to link to."""
    root = os.path.abspath(out)
    paths = {content.faces[f].image_path for f in face_ids}
    contained = {p for p, (_, source) in catalog.image_sources(paths).items() if source}
    folder_url: dict[str, str] = {}  # relpath is slow: once per folder, not once per face
    urls = {}
    for face_id in face_ids:
        path = content.faces[face_id].image_path
        if path in contained:
            continue
        folder, name = os.path.split(os.path.abspath(path))
        if folder not in folder_url:
            folder_url[folder] = _url(os.path.relpath(folder, root))
        urls[face_id] = f"{folder_url[folder]}/{quote(name)}"
    return urls


def _url(relative: str) -> str:
    return quote(relative.replace(os.sep, "/"))


def _write(path: Path, text: str) -> None:
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def _summary_json(summary: ReportSummary, content: Content) -> dict:
    data = asdict(summary)
    data["index"] = summary.index.name
    data["stats"] = content.stats
    data["clustering"] = content.clustering
    data["unknown_faces"] = len(content.unknown_ids)
    data["people_sizes"] = {
        p.label: int(p.row.size) for p in content.people[: summary.people_shown]
    }
    return data
