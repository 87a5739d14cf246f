"""`faceatlas serve` on a catalog that keeps changing, and photos with no file of their own:
TSV rows and zip members, served from the container the catalog records."""

from __future__ import annotations

import base64
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import faceatlas, lfw_people, link_tree
from tests.test_web import running_server


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> dict:
    """A catalog of 2 LFW files, 2 TSV rows and 2 zip members (6 people), plus a 7th photo
    kept back; ``originals`` maps each catalog path to the photo its bytes came from."""
    root = tmp_path_factory.mktemp("live")
    photos = lfw_people(min_images=2, max_people=7, per_person=1)
    files, rows, members, later = photos[:2], photos[2:4], photos[4:6], photos[6]
    folder = link_tree(files, root / "files")
    tsv = root / "rows.tsv"
    tsv.write_bytes(b"".join(base64.b64encode(p.read_bytes()) + b"\n" for p in rows))
    archive = root / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for photo in members:
            zf.write(photo, f"inside/{photo.name}")
    db = root / "live.db"
    faceatlas("index", folder, archive, "--tsv", tsv, "--db", db, "--quiet", "--workers", "1")
    originals = {f"{tsv}#{i}": p for i, p in enumerate(rows)}
    originals |= {f"{archive}#inside/{p.name}": p for p in members}
    return {"db": db, "originals": originals, "later": later}


@pytest.fixture(scope="module")
def client(live) -> Iterator[httpx.Client]:
    with running_server(live["db"]) as base, httpx.Client(base_url=base, timeout=60) as http:
        yield http


def catalog_rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_photos_from_tsv_rows_and_zip_members_are_served(client, live):
    contained = catalog_rows(live["db"], "SELECT id, path FROM images WHERE source IS NOT NULL")
    assert {path for _, path in contained} == set(live["originals"])
    for image_id, path in contained:
        photo = client.get(f"/api/images/{image_id}")
        assert photo.status_code == 200, (path, photo.text)
        assert photo.content == live["originals"][path].read_bytes(), path
        assert photo.headers["content-type"] == "image/jpeg"
        assert photo.headers["cache-control"] == "private, max-age=3600"
        etag = photo.headers["etag"]
        again = client.get(f"/api/images/{image_id}", headers={"If-None-Match": etag})
        assert (again.status_code, again.content) == (304, b"")
    (tsv_id, _), *_ = sorted(contained)
    for url in (  # still only by catalog id
        f"/api/images/{tsv_id}%2F..%2F..%2Fetc%2Fpasswd",
        f"/api/images/{tsv_id}%23..%2Fphotos.zip",
        "/api/images/..%2Frows.tsv%230",
    ):
        assert client.get(url).status_code == 404, url


def test_faces_indexed_after_start_are_found_without_restart(client, live):
    db = live["db"]
    ((last,),) = catalog_rows(db, "SELECT MAX(id) FROM faces")
    assert client.get(f"/api/faces/{last + 1}/similar").status_code == 404
    faceatlas("index", live["later"], "--db", db, "--quiet", "--workers", "1")
    new = [fid for (fid,) in catalog_rows(db, f"SELECT id FROM faces WHERE id > {last}")]
    assert new, "the kept-back photo has a face"

    similar = client.get(f"/api/faces/{new[0]}/similar", params={"k": 3})
    assert similar.status_code == 200, similar.text
    assert similar.json()["face"]["face_id"] == new[0]
    assert len(similar.json()["matches"]) == 3

    upload = client.post(
        "/api/search",
        files={"file": ("later.jpg", live["later"].read_bytes(), "image/jpeg")},
        params={"k": 3},
    )
    assert upload.status_code == 200, upload.text
    top = upload.json()["faces"][0]["matches"][0]
    assert top["face_id"] in new and top["distance"] < 1e-3
