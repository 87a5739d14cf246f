"""`faceatlas serve`: the real server on a loopback port, its JSON API, and the page in Chromium."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import data
from tests.images import png_bomb
from tests.test_search import search_catalog

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def web_db(people_run, tmp_path_factory) -> Path:
    return search_catalog(people_run, tmp_path_factory.getbasetemp())


@contextmanager
def running_server(db: Path) -> Iterator[str]:
    """`faceatlas serve --db DB` in a subprocess on a free loopback port; its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "faceatlas", "serve", "--db", str(db), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            if process.poll() is not None:
                output = process.stdout.read()
                pytest.fail(f"faceatlas serve exited {process.returncode}:\n{output}")
            try:
                if httpx.get(f"{base}/api/people", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("faceatlas serve did not answer within 120 s")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server(web_db) -> Iterator[str]:
    with running_server(web_db) as base:
        yield base


@pytest.fixture(scope="module")
def client(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=60) as http:
        yield http


def image_path(db: Path, image_id: int) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT path FROM images WHERE id = ?", (image_id,)).fetchone()[0]


def upload(client: httpx.Client, name: str, content: bytes, kind: str = "image/jpeg"):
    return client.post("/api/search", files={"file": (name, content, kind)}, params={"k": 5})


def test_upload_finds_obama(client, web_db):
    photo = data("people-fr-queries", "obama1.jpg")
    response = upload(client, "obama1.jpg", photo.read_bytes())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["width"] > 0 and body["height"] > 0
    (face,) = body["faces"]
    left, top, right, bottom = face["box"]
    assert 0 <= left < right <= body["width"] and 0 <= top < bottom <= body["height"]
    matches = face["matches"]
    assert len(matches) == 5
    assert [m["distance"] for m in matches] == sorted(m["distance"] for m in matches)
    top_hit = matches[0]
    assert "/people-fr/obama/" in image_path(web_db, top_hit["image_id"])
    assert top_hit["distance"] < 0.4 and top_hit["person"]
    assert top_hit["thumb"] == f"/api/faces/{top_hit['face_id']}/thumb"
    assert top_hit["image"] == f"/api/images/{top_hit['image_id']}"
    assert "/" not in top_hit["file"]  # no server paths in the API


def test_bad_uploads_get_4xx_and_the_server_stays_up(client):
    jpeg = data("people-fr-queries", "obama1.jpg").read_bytes()
    cases = [
        (("notes.txt", b"my holiday notes\n" * 50, "text/plain"), 415, "not an image"),
        (("notes.jpg", b"my holiday notes\n" * 50, "image/jpeg"), 415, "not an image"),
        (("empty.jpg", b"", "image/jpeg"), 400, "empty"),
        (("cut.jpg", jpeg[: len(jpeg) // 2], "image/jpeg"), 422, "truncated"),
        (("bomb.png", png_bomb(), "image/png"), 422, "too large"),
        (("huge.jpg", jpeg[:2] + b"\0" * (21 * 2**20), "image/jpeg"), 413, "20 MB"),
    ]
    for (name, content, kind), status, words in cases:
        response = client.post("/api/search", files={"file": (name, content, kind)})
        assert response.status_code == status, (name, response.text)
        assert words in response.json()["detail"], (name, response.text)
        assert client.get("/api/people").status_code == 200
    no_file = client.post("/api/search", data={"other": "x"})
    assert no_file.status_code == 422 and "file" in no_file.text
    assert client.post("/api/search?k=0", files={"file": ("a.jpg", jpeg)}).status_code == 422


def test_files_are_served_by_catalog_id_only(client, web_db):
    with sqlite3.connect(web_db) as conn:
        face_id, image_id, path = conn.execute(
            "SELECT f.id, i.id, i.path FROM faces f JOIN images i ON i.id = f.image_id"
            " ORDER BY f.id LIMIT 1"
        ).fetchone()
    photo = client.get(f"/api/images/{image_id}")
    assert photo.status_code == 200 and photo.content == Path(path).read_bytes()
    assert photo.headers["content-type"] == "image/jpeg"
    assert "max-age" in photo.headers["cache-control"] and photo.headers["etag"]
    again = client.get(f"/api/images/{image_id}", headers={"If-None-Match": photo.headers["etag"]})
    assert again.status_code == 304
    thumb = client.get(f"/api/faces/{face_id}/thumb")
    assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"
    assert "max-age" in thumb.headers["cache-control"]
    for url in (
        "/api/images/..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/api/images/..",
        f"/api/images/{image_id}%2F..%2F..%2Fetc%2Fpasswd",
        "/api/images/%2Fetc%2Fpasswd",
        "/api/images/-1",
        "/api/images/1e3",
        "/api/images/987654321",
        "/api/faces/..%2F..%2Fetc%2Fpasswd/thumb",
        "/api/faces/987654321/thumb",
        f"/api/faces/{face_id}%2F..%2F..%2Fetc%2Fpasswd/thumb",
        "/static/..%2F..%2F..%2Fetc%2Fpasswd",
        "/static/%2e%2e/%2e%2e/app.py",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"root:" not in response.content


def test_people_and_similar_faces(client):
    people = client.get("/api/people").json()
    assert people["total"] >= 18 and len(people["people"]) == people["total"]
    sizes = [p["size"] for p in people["people"]]
    assert sizes == sorted(sizes, reverse=True)
    largest = people["people"][0]
    assert 1 <= len(largest["faces"]) <= min(6, largest["size"])
    person = client.get(f"/api/people/{largest['person_id']}").json()
    assert len(person["faces"]) == person["size"] == largest["size"]
    assert {f["person_id"] for f in person["faces"]} == {largest["person_id"]}
    assert {i["image_id"] for i in person["images"]} == {f["image_id"] for f in person["faces"]}
    assert client.get("/api/people/987654").status_code == 404

    face_id = person["faces"][0]["face_id"]
    similar = client.get(f"/api/faces/{face_id}/similar", params={"k": 3}).json()
    assert similar["face"]["face_id"] == face_id and len(similar["matches"]) == 3
    assert face_id not in [m["face_id"] for m in similar["matches"]]
    distances = [m["distance"] for m in similar["matches"]]
    assert distances == sorted(distances)
    assert client.get("/api/faces/987654/similar").status_code == 404
    assert client.get(f"/api/faces/{face_id}/similar", params={"k": 1000}).status_code == 422


def test_pages_are_served(client):
    home = client.get("/")
    assert home.status_code == 200 and 'type="file"' in home.text
    assert "/static/search.js" in home.text
    assert client.get("/static/search.js").status_code == 200
    assert "people.js" in client.get("/people").text


def test_serve_answers_only_its_own_host_names(client):
    """DNS rebinding: a page of evil.example resolved to 127.0.0.1 still sends its own Host."""
    for host in ("evil.example", "169.254.169.254", "evil.example:80", ""):
        response = client.get("/api/people", headers={"Host": host})
        assert response.status_code == 400, host
    for host in ("localhost", "127.0.0.1:80", "[::1]:8000"):
        assert client.get("/api/people", headers={"Host": host}).status_code == 200, host


def test_browser_upload_shows_boxes_and_look_alikes(server, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    photo = data("people-fr-queries", "obama_and_biden.jpg")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            # wait_for_function evaluates strings, which the pages' CSP forbids
            page = browser.new_page(viewport={"width": 1280, "height": 1000}, bypass_csp=True)
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.on(  # a failed request (even a favicon) is a console error too
                "console", lambda msg: errors.append(msg.text) if msg.type == "error" else None
            )
            page.goto(server + "/")
            page.set_input_files("#file", str(photo))
            page.wait_for_selector(".face-result .match img", timeout=60_000)
            page.wait_for_function(
                "[...document.querySelectorAll('.match img')].every(i => i.complete)",
                timeout=30_000,
            )
            boxes = page.locator("#photo .box").count()
            groups = page.locator(".face-result").count()
            assert boxes == groups >= 2
            assert page.locator(".face-result").first.locator(".match").count() == 10
            assert "face(s) found" in page.locator("#status").inner_text()
            loaded = page.evaluate(
                "[...document.querySelectorAll('.match img')].filter(i => i.naturalWidth > 0)"
                ".length"
            )
            assert loaded == page.locator(".match img").count()
            shot = tmp_path / "search.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000

            page.goto(server + "/people")
            page.wait_for_selector(".person-row .faces img", timeout=30_000)
            page.wait_for_function(  # every thumbnail on screen is made and shown
                "[...document.querySelectorAll('.person-row img')]"
                ".filter(i => i.getBoundingClientRect().top < innerHeight)"
                ".every(i => i.complete && i.naturalWidth > 0)",
                timeout=60_000,
            )
            assert page.locator(".person-row").count() >= 18
            page.screenshot(path=str(tmp_path / "people.png"))
            assert not errors, errors
        finally:
            browser.close()
