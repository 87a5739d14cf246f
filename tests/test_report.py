"""`faceatlas report` on real photos: a self-contained folder, relative links, typical-first
contact sheets, scores and mistakes against folder labels, thumbnails cut once, and the page
in a real browser (Debian chromium, headless, driven by Playwright, offline)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import sqlite3
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from click.testing import CliRunner

from faceatlas.catalog import Catalog
from faceatlas.cli import main
from faceatlas.errors import NoPeopleYet
from faceatlas.evaluate import evaluate_catalog, load_labels
from faceatlas.outputs.report import ReportConfig, ReportError, write_report
from faceatlas.outputs.report.content import gather
from faceatlas.outputs.thumbs import thumbnail_path
from faceatlas.people.cluster import cluster_catalog
from tests.conftest import faceatlas, lfw_people

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class Links(HTMLParser):
    """Every src and href of a page, and the faces of each contact sheet in page order."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.sheets: dict[str, list[tuple[int, float]]] = {}
        self._person: str | None = None
        self._face: int | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        self.urls += [a[k] for k in ("src", "href") if a.get(k)]
        if tag == "article" and "person" in (a.get("class") or ""):
            self._person = a["id"]
            self.sheets[self._person] = []
        if tag == "a" and a.get("data-face") and self._person:
            self._face = int(a["data-face"])

    def handle_data(self, text: str) -> None:
        if self._face is not None and re.fullmatch(r"\d\.\d\d", text.strip()):
            self.sheets[self._person].append((self._face, float(text)))
            self._face = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self._person = None


@pytest.fixture(scope="module")
def report(people_run, tmp_path_factory) -> tuple[Path, Path]:
    """(report folder, catalog copy): `faceatlas report --labels folder` of the people photos."""
    root = tmp_path_factory.mktemp("report")
    db = root / "people.db"
    shutil.copy(people_run / "faceatlas.db", db)
    out = root / "report"
    result = faceatlas("report", out, "--db", db, "--labels", "folder")
    assert "71 faces" in result.stdout and "pairwise F" in result.stdout
    return out, db


def test_report_folder_is_self_contained_with_relative_links(report):
    out, db = report
    assert {"index.html", "plotly.min.js", "data.js", "report.css", "report.js"} <= {
        p.name for p in out.iterdir()
    }
    assert (out / "plotly.min.js").stat().st_size > 1_000_000  # the real library, no CDN
    parser = Links()
    parser.feed((out / "index.html").read_text(encoding="utf-8"))
    files = [u for u in parser.urls if not u.startswith("#")]
    assert files, "the page links nothing"
    for url in files:
        assert not re.match(r"^[a-z]+:|^/", url), f"not a relative link: {url}"
        assert (out / unquote(url)).resolve().is_file(), f"broken link: {url}"
    with Catalog(db) as catalog:
        photos = {str(Path(r.image_path).resolve()) for r in catalog.faces()}
    linked = {str((out / unquote(u)).resolve()) for u in files if not u.startswith("thumbs/")}
    assert photos <= linked  # every photo with a face is reachable from the page
    assert "http://" not in (out / "data.js").read_text() + (out / "index.html").read_text()


def test_contact_sheets_put_the_most_typical_face_first(report):
    out, db = report
    parser = Links()
    parser.feed((out / "index.html").read_text(encoding="utf-8"))
    summary = json.loads((out / "summary.json").read_text())
    assert list(parser.sheets) == list(summary["people_sizes"])  # largest person first
    with Catalog(db) as catalog:
        matrix = catalog.face_matrix()
        members = {}
        for row in catalog.faces():
            if row.person in parser.sheets:
                members.setdefault(row.person, []).append(row.face_id)
    row_of = {int(f): i for i, f in enumerate(matrix.face_ids)}
    for person, sheet in parser.sheets.items():
        ids = [f for f, _ in sheet]
        assert sorted(ids) == sorted(members[person])  # all faces (24 per sheet by default)
        vectors = matrix.vectors[[row_of[f] for f in ids]].astype(np.float64)
        centroid = vectors.sum(0) / np.linalg.norm(vectors.sum(0))
        expected = np.linalg.norm(vectors - centroid, axis=1)
        shown = np.array([d for _, d in sheet])
        assert np.allclose(shown, expected, atol=0.006)  # captions are rounded to 0.01
        assert np.all(np.diff(expected) >= -1e-6), f"{person} is not ordered typical-first"


def test_scores_and_mistakes_match_faceatlas_eval(report):
    out, db = report
    summary = json.loads((out / "summary.json").read_text())
    with Catalog(db) as catalog:
        expected = evaluate_catalog(catalog, "folder")
        truth = load_labels(catalog, "folder")
        stats = catalog.stats()
    assert len(truth) == stats["images"]  # one labelled face per photo
    assert summary["scores"] == pytest.approx(expected.as_dict())
    assert summary["faces"] == stats["faces"] == summary["map_points"] == 71
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "Worst merges" in page and "Worst splits" in page
    if expected.pairwise_precision < 1:
        assert "outside the largest identity" in page
    if expected.pairwise_recall < 1:
        assert "outside the largest person" in page


def test_labels_from_a_csv_file(report, tmp_path):
    out, db = report
    with Catalog(db) as catalog:
        rows = catalog.faces()
    # label only the people-fr photos, by file name: relative to the CSV file
    photos = sorted({r.image_path for r in rows if "/people-fr/" in r.image_path})
    labels = tmp_path / "labels.csv"
    lines = ["path,identity"] + [f"{p},{Path(p).parent.name}" for p in photos]
    labels.write_text("\n".join(lines) + "\n")
    shutil.copytree(out / "thumbs", tmp_path / "r" / "thumbs")
    with Catalog(db) as catalog:
        summary = write_report(catalog, tmp_path / "r", ReportConfig(labels=labels, max_people=2))
        expected = evaluate_catalog(catalog, labels)
    assert summary.scores == pytest.approx(expected.as_dict())
    assert summary.scores["identities"] == len({Path(p).parent.name for p in photos})
    assert str(labels) in (tmp_path / "r" / "index.html").read_text()
    with pytest.raises(ReportError, match="neither 'folder' nor a file"):
        ReportConfig(labels=tmp_path / "missing.csv")


def test_map_limit_samples_and_says_so_and_thumbnails_are_reused(report, tmp_path):
    out, db = report
    again = tmp_path / "again"
    shutil.copytree(out / "thumbs", again / "thumbs")  # the cache of an earlier report
    before = {p: p.stat().st_mtime_ns for p in (again / "thumbs").rglob("*.jpg")}
    with Catalog(db) as catalog:
        summary = write_report(
            catalog, again, ReportConfig(map_limit=20, max_people=3, faces_per_person=3)
        )
    assert summary.map_points == 20 and summary.faces == 71 and summary.people_shown == 3
    assert summary.timings["thumbnails"] < 1.0  # nothing cut again: no photo decoded
    assert {p: p.stat().st_mtime_ns for p in before} == before
    page = (again / "index.html").read_text(encoding="utf-8")
    assert "random sample of <b>20</b> of 71 faces" in page
    assert "smaller people not shown" in page
    figures = (again / "data.js").read_text()
    assert '"points":20' in figures.replace(" ", "") and '"faces":71' in figures.replace(" ", "")


def test_report_refuses_what_it_cannot_do(tmp_path):
    missing = faceatlas("report", tmp_path / "r", "--db", tmp_path / "none.db", check=False)
    assert missing.returncode == 1 and "no catalog" in missing.stderr
    with (
        Catalog(tmp_path / "empty.db") as catalog,
        pytest.raises(NoPeopleYet, match="faceatlas cluster"),
    ):
        write_report(catalog, tmp_path / "r")
    with pytest.raises(ReportError, match="choose one of"):
        ReportConfig(map_method="mds")
    with pytest.raises(ReportError, match="faces_per_person"):
        ReportConfig(faces_per_person=0)
    runner = CliRunner()
    bad = runner.invoke(main, ["report", str(tmp_path / "r"), "--map", "mds"])
    assert bad.exit_code == 2 and "mds" in bad.output
    helptext = runner.invoke(main, ["report", "--help"]).output
    assert "Example:" in helptext and "--labels" in helptext and "--map" in helptext


def test_unreadable_photo_gets_a_placeholder_not_a_crash(report, tmp_path):
    out, db = report
    shutil.copy(db, tmp_path / "people.db")
    shutil.copytree(out / "thumbs", tmp_path / "r" / "thumbs")
    with Catalog(tmp_path / "people.db") as catalog:
        rows = catalog.faces()
    victim = rows[0]
    # point the catalog at a copy of one photo (tampering behind its back), then break the copy
    copy = tmp_path / "photos" / "gone.jpg"
    copy.parent.mkdir()
    shutil.copy(victim.image_path, copy)
    with sqlite3.connect(tmp_path / "people.db") as conn:
        conn.execute("UPDATE images SET path = ? WHERE id = ?", (str(copy), victim.image_id))
    copy.write_bytes(b"not a jpeg any more")
    with Catalog(tmp_path / "people.db") as catalog:
        broken = [r.face_id for r in rows if r.image_id == victim.image_id]
        for face_id in broken:  # not cut yet: the report has to read the photo
            thumbnail_path(tmp_path / "r" / "thumbs", face_id).unlink()
        summary = write_report(catalog, tmp_path / "r", ReportConfig(max_people=2))
    assert summary.unreadable == len(broken) and summary.thumbnails == 71 - len(broken)
    assert "unreadable" in (tmp_path / "r" / "index.html").read_text()


def test_gather_orders_faces_and_keeps_the_catalog_arrays(people_catalog):
    with Catalog(people_catalog) as catalog:
        content = gather(catalog, min_faces=3)
        matrix = catalog.face_matrix()
    assert np.array_equal(content.face_ids, matrix.face_ids)
    assert all(p.row.size >= 3 for p in content.people)
    assert [p.row.rank for p in content.people] == sorted(p.row.rank for p in content.people)
    in_people = sum(len(p.face_ids) for p in content.people)
    assert in_people + len(content.unknown_ids) == len(matrix)
    for person in content.people:
        assert np.all(np.diff(person.distances) >= 0)


def test_report_renders_in_chromium_with_one_point_per_face(report, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("needs Debian chromium at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    out, db = report
    faces = int(faceatlas("stats", "--db", db, "--json").stdout.split('"faces": ')[1].split(",")[0])
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
            page.on(
                "request",
                lambda r: r.url.startswith("file://") or problems.append(f"network: {r.url}"),
            )
            page.goto((out / "index.html").as_uri())
            page.wait_for_function("document.getElementById('map')._fullData !== undefined")
            traces = page.evaluate("document.getElementById('map')._fullData.map(t => t.x.length)")
            drawn = page.locator("#map .scatterlayer .point").count()
            bars = page.locator("#sizes .bars .point").count()
            # hover a face of the largest person (drawn last, on top): the panel shows it
            page.locator("#faces-map").scroll_into_view_if_needed()
            box = page.locator("#map .scatterlayer .trace").last.locator(".point").first
            box = box.bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.wait_for_function(
                "document.getElementById('hover-thumb').complete"
                " && document.getElementById('hover-thumb').naturalWidth > 0"
            )
            hovered = page.evaluate("document.getElementById('hover-thumb').naturalWidth")
            caption = page.text_content("#hover-caption")
            sheets = page.locator("article.person").count()
            screenshot = tmp_path / "report.png"
            page.screenshot(path=str(screenshot), full_page=False)
        finally:
            browser.close()
    assert problems == []
    assert sum(traces) == faces == drawn == 71
    assert bars > 0 and sheets > 0
    assert hovered == 112 and caption.startswith("person_0001 \u2014 ") and ".jp" in caption
    assert screenshot.stat().st_size > 10_000


def test_photos_inside_a_tsv_get_no_broken_links(tmp_path):
    """Images indexed from TSV rows have no file of their own: the report must not link one."""
    photos = lfw_people(min_images=2, max_people=2, per_person=2)
    rows = [f"img{i}\t".encode() + base64.b64encode(p.read_bytes()) for i, p in enumerate(photos)]
    tsv = tmp_path / "rows.tsv"
    tsv.write_bytes(b"id\timage\n" + b"\n".join(rows) + b"\n")
    db = tmp_path / "rows.db"
    faceatlas(
        "index",
        "--tsv",
        tsv,
        "--header",
        "--image-column",
        "image",
        "--key-column",
        "id",
        "--db",
        db,
        "--workers",
        "1",
        "-q",
    )
    with Catalog(db) as catalog:
        cluster_catalog(catalog)
        summary = write_report(catalog, tmp_path / "r")
    assert summary.faces >= 4
    parser = Links()
    parser.feed((tmp_path / "r" / "index.html").read_text(encoding="utf-8"))
    for url in (u for u in parser.urls if not u.startswith("#")):
        assert (tmp_path / "r" / unquote(url)).is_file(), f"broken link: {url}"
    figures = (tmp_path / "r" / "data.js").read_text()
    figures = json.loads(figures.removeprefix("window.FACEATLAS_FIGURES = ").rstrip(";\n"))
    points = [point for trace in figures["map"]["data"] for point in trace["customdata"]]
    assert len(points) == summary.faces and all(point[1] == "" for point in points)
