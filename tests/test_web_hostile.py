"""The web app against hostile clients: files that are not photos, foreign Host headers, bodies
that never end, pixel bombs, crafted TIFFs, more decodes than it allows, half-open connections.

The app runs under a real uvicorn server (``web.server.server_settings``) in a thread of this
process, on a loopback port, so its memory is this process's memory. Every hostile input is
generated here.
"""

from __future__ import annotations

import io
import shutil
import socket
import struct
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest
import uvicorn
from PIL import Image

from faceatlas.catalog import Catalog
from faceatlas.catalog.store import ImageRow
from faceatlas.web import allowed_hosts_for, create_app, server_settings
from faceatlas.web.guard import host_name
from tests.conftest import data, faceatlas
from tests.test_web import free_port

SECRET = "root:x:0:0:secret-in-a-text-file\n" * 20
MB = 2**20


# -- generated inputs ---------------------------------------------------------------------------


def grey_png(width: int, height: int) -> bytes:
    """A valid all-black 8-bit grey PNG, compressed row by row (never held decoded)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    packer = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


def crafted_tiff() -> bytes:
    """A small TIFF whose StripOffsets tag is retyped to DOUBLE (Pillow raises TypeError)."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 100, 50)).save(buffer, "TIFF")
    data = bytearray(buffer.getvalue())
    ifd = struct.unpack_from("<I", data, 4)[0]
    (count,) = struct.unpack_from("<H", data, ifd)
    for i in range(count):
        at = ifd + 2 + 12 * i
        tag, _, _, value = struct.unpack_from("<HHII", data, at)
        if tag == 273:  # StripOffsets -> one DOUBLE stored at the end of the file
            struct.pack_into("<HHII", data, at, tag, 12, 1, len(data))
            data += struct.pack("<d", float(value))
            return bytes(data)
    raise AssertionError("no StripOffsets tag")


# -- a catalog with things that must never be served ---------------------------------------------


@pytest.fixture(scope="module")
def hostile(people_run, tmp_path_factory) -> dict:
    """A copy of the session's people catalog plus: links to a system file and to a secret text
    file (error records), a real photo that is swapped for a link to the secret after indexing,
    and a photo inside a zip archive."""
    root = tmp_path_factory.mktemp("hostile")
    db = root / "hostile.db"
    shutil.copy(people_run / "faceatlas.db", db)
    secret = root / "secret.txt"
    secret.write_text(SECRET)
    folder = root / "photos"
    folder.mkdir()
    (folder / "notes.jpg").symlink_to(secret)
    if Path("/etc/passwd").is_file():
        (folder / "holiday.jpg").symlink_to("/etc/passwd")
    photo = data("people-fr-queries", "obama1.jpg")
    shutil.copy(photo, folder / "swapped.jpg")
    archive = root / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(photo, "inside/obama1.jpg")
    faceatlas("index", folder, archive, "--db", db, "--quiet", "--workers", "1")
    return {"db": db, "secret": secret, "folder": folder, "photo": photo, "archive": archive}


def image_rows(db: Path) -> list[ImageRow]:
    """Every image record of the catalog, by id (through the catalog API, not its SQL)."""
    rows: list[ImageRow] = []
    misses = 0
    with Catalog(db) as catalog:
        image_id = 0
        while misses < 50:
            image_id += 1
            row = catalog.image(image_id)
            if row is None:
                misses += 1
            else:
                rows.append(row)
                misses = 0
    return rows


@contextmanager
def serving(app, **settings) -> Iterator[str]:
    """``app`` under uvicorn with ``server_settings(**settings)`` in a thread; its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, **server_settings(**settings)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture(scope="module")
def strict(hostile) -> Iterator[tuple[str, object]]:
    """The app with small limits (1 MB uploads, 1 decode at a time, waiting 0.3 s) under
    uvicorn with 1 s head and body timeouts; (base URL, app)."""
    app = create_app(
        hostile["db"], max_upload=1 * MB, max_decodes=1, decode_wait=0.3,
        thumbs_dir=hostile["db"].parent / "thumbs",
    )
    with serving(app, head_timeout=1, body_timeout=1) as base:
        yield base, app


@pytest.fixture(scope="module")
def client(strict) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=strict[0], timeout=60) as http:
        yield http


def upload(client: httpx.Client, name: str, content: bytes, kind: str = "image/jpeg"):
    return client.post("/api/search", files={"file": (name, content, kind)}, params={"k": 3})


def raw_exchange(base: str, request: bytes, wait: float = 10) -> bytes:
    """Send ``request`` on a fresh connection; everything the server answers until it closes."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(request)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer


# -- files: only photos that decoded, only as images, bounded -----------------------------------


def test_links_to_files_outside_are_never_served(client, hostile):
    rows = image_rows(hostile["db"])
    errors = [r for r in rows if r.status == "error"]
    expected = 2 if Path("/etc/passwd").is_file() else 1
    assert len(errors) >= expected, [(r.path, r.status) for r in rows[-5:]]
    for row in errors:
        response = client.get(f"/api/images/{row.image_id}")
        assert response.status_code == 404, (row.path, response.headers)
        assert b"root:" not in response.content and b"secret" not in response.content
    served = [r for r in rows if r.status in ("ok", "no_face")]
    photo = client.get(f"/api/images/{served[0].image_id}")
    assert photo.status_code == 200 and photo.headers["content-type"].startswith("image/")
    assert photo.headers["x-content-type-options"] == "nosniff"


def test_a_photo_replaced_by_a_link_to_a_text_file_is_not_served(client, hostile):
    swapped = hostile["folder"] / "swapped.jpg"
    (row,) = [r for r in image_rows(hostile["db"]) if Path(r.path).name == "swapped.jpg"]
    assert row.status == "ok"
    before = client.get(f"/api/images/{row.image_id}")
    assert before.status_code == 200 and before.headers["content-type"] == "image/jpeg"
    swapped.unlink()
    swapped.symlink_to(hostile["secret"])
    try:
        after = client.get(f"/api/images/{row.image_id}")
        assert after.status_code == 404 and b"secret" not in after.content
        swapped.unlink()
        swapped.symlink_to(hostile["secret"].parent)  # a folder: not a regular file
        assert client.get(f"/api/images/{row.image_id}").status_code == 404
    finally:
        swapped.unlink()
        shutil.copy(hostile["photo"], swapped)


def test_served_originals_are_bounded_in_bytes(hostile):
    rows = image_rows(hostile["db"])
    (member,) = [r for r in rows if r.source is not None and "inside/obama1.jpg" in r.source]
    (file,) = [r for r in rows if Path(r.path).name == "swapped.jpg"]
    size = hostile["photo"].stat().st_size
    for limit, status in ((size, 200), (size - 1, 404)):
        app = create_app(hostile["db"], max_image_bytes=limit)
        with serving(app) as base:
            for row in (member, file):
                response = httpx.get(f"{base}/api/images/{row.image_id}", timeout=30)
                assert response.status_code == status, (limit, row.path, response.text[:80])
                if status == 200:
                    assert response.content == hostile["photo"].read_bytes()
                    assert response.headers["content-type"] == "image/jpeg"


# -- Host: only the names the server answers to ---------------------------------------------------


def test_foreign_host_headers_get_400(client, strict):
    for host in ("evil.example", "169.254.169.254", "", "a" * 300, "localhost.evil.example",
                 "127.0.0.1.nip.io", "localhost:abc", "[::1", "user@localhost", "127.0.0.1 x"):
        response = client.get("/api/people", headers={"Host": host})
        assert response.status_code == 400, host
        assert "people" not in response.text
    for host in ("127.0.0.1", "127.0.0.1:8000", "localhost", "LOCALHOST:1", "[::1]:80", "[::1]"):
        assert client.get("/api/people", headers={"Host": host}).status_code == 200, host
    # no Host at all (HTTP/1.0), and two of them
    assert raw_exchange(strict[0], b"GET /api/people HTTP/1.0\r\n\r\n").startswith(
        b"HTTP/1.1 400"
    )
    two = b"GET /api/people HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n"
    assert raw_exchange(strict[0], two).split(b"\r\n")[0].split()[1] == b"400"


def test_allowed_hosts_are_configurable(hostile):
    app = create_app(hostile["db"], allowed_hosts=allowed_hosts_for("192.0.2.7", ["photos.lan"]))
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        for host, status in (("photos.lan:8000", 200), ("192.0.2.7:8000", 200),
                             ("localhost", 200), ("evil.example", 400), ("photos.lan.evil", 400)):
            assert http.get("/api/people", headers={"Host": host}).status_code == status, host
    assert allowed_hosts_for("0.0.0.0") == ["localhost", "127.0.0.1", "::1"]
    assert host_name("[::1]:8000") == "::1" and host_name("Example.ORG.:80") == "example.org"


# -- bodies: refused while they stream in ---------------------------------------------------------


def test_oversized_chunked_upload_is_cut_off_while_streaming(strict):
    """A chunked body with no length: 413 once 1 MB (+ framing) has arrived, and the server
    closes the connection instead of reading (or spooling) the remaining 299 MB."""
    host, port = strict[0].removeprefix("http://").split(":")
    boundary = b"hostile"
    head = (
        b"POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\n\r\n"
    )
    part = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"'
        b"\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff"
    )
    block = b"\0" * 65536
    chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"
    sent, answer, started = 0, b"", time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + f"{len(part):x}\r\n".encode() + part + b"\r\n")
        sock.setblocking(False)
        while sent < 300 * MB and not answer:
            try:
                sent += sock.send(chunk)  # partial sends are fine: it is all zeros anyway
            except BlockingIOError:
                time.sleep(0.01)  # the server stopped reading (or has not yet read)
            with suppress(BlockingIOError):
                answer = sock.recv(65536)
            assert time.monotonic() - started < 30, f"no answer after {sent / MB:.0f} MB"
        sock.settimeout(10)
        while True:
            try:
                more = sock.recv(65536)
            except ConnectionResetError:
                break
            if not more:
                break
            answer += more
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"photo too large" in answer
    assert sent < 32 * MB, f"the client could send {sent / MB:.0f} MB before the 413"


def test_announced_oversized_body_is_refused_before_it_is_sent(strict):
    head = (
        b"POST /api/search HTTP/1.1\r\nHost: localhost\r\nContent-Length: 314572800\r\n"
        b"Content-Type: multipart/form-data; boundary=x\r\n\r\n"
    )
    started = time.monotonic()
    answer = raw_exchange(strict[0], head)  # no body follows: the answer must not wait for it
    assert answer.startswith(b"HTTP/1.1 413") and b"1 MB" in answer, answer[:200]
    assert time.monotonic() - started < 5


# -- decoding: bounded in pixels, in concurrency, and in what a decoder may raise ----------------


def peak_rss_growth(action) -> tuple[object, int]:
    """(what ``action()`` returned, how far this process's peak RSS rose above its RSS before,
    in bytes), from /proc/self/status after resetting the peak (clear_refs 5)."""

    def status(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(field)

    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pytest.skip("cannot reset the peak RSS (/proc/self/clear_refs)")
    before = status("VmRSS")
    result = action()
    return result, status("VmHWM") - before


def test_pixel_bomb_upload_is_refused_before_decoding(client, hostile):
    photo = upload(client, "obama1.jpg", hostile["photo"].read_bytes())  # warm up the model
    assert photo.status_code == 200, photo.text
    bomb = grey_png(9000, 9000)  # 81 megapixels in ~80 kB
    assert len(bomb) < 1 * MB
    response, growth = peak_rss_growth(lambda: upload(client, "bomb.png", bomb, "image/png"))
    assert response.status_code == 422, response.text
    assert "too large" in response.json()["detail"]
    assert growth < 300 * MB, f"peak RSS rose {growth / MB:.0f} MB"


def test_crafted_tiff_gets_422_not_500(client):
    response = upload(client, "crafted.tif", crafted_tiff(), "image/tiff")
    assert response.status_code == 422, response.text
    assert "cannot read the image" in response.json()["detail"]
    assert client.get("/api/people").status_code == 200


def test_decodes_beyond_the_limit_get_503_with_retry_after(client, strict, hostile):
    searcher = strict[1].state.searcher
    jpeg = hostile["photo"].read_bytes()
    with searcher.decode_slot():  # the one slot is taken: uploads wait 0.3 s, then 503
        started = time.monotonic()
        busy = upload(client, "obama1.jpg", jpeg)
        assert busy.status_code == 503, busy.text
        assert int(busy.headers["retry-after"]) >= 1
        assert time.monotonic() - started < 5
    assert upload(client, "obama1.jpg", jpeg).status_code == 200

    # black box: one slot, uploads in parallel threads; the model is slowed so they overlap
    pipeline = searcher.pipeline
    analyze = pipeline.analyze

    def slow_analyze(rgb):
        time.sleep(2.0)  # far longer than the 0.3 s an upload waits for the slot
        return analyze(rgb)

    statuses: list[int] = []
    searcher.pipeline = SlowPipeline(pipeline, slow_analyze)
    try:
        threads = [
            threading.Thread(target=lambda: statuses.append(upload(client, "a.jpg", jpeg)
                                                             .status_code))
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        searcher.pipeline = pipeline
    assert sorted(statuses)[0] == 200 and 503 in statuses, statuses


class SlowPipeline:
    def __init__(self, pipeline, analyze) -> None:
        self.name = pipeline.name
        self.analyze = analyze


# -- connections: half-open ones are closed ------------------------------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"",  # connects, says nothing
        b"GET /api/people HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # half a head, then silence
        b"POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10,
    ],
    ids=["silent", "half-head", "stalled-body"],
)
def test_half_open_connections_are_closed(strict, request_bytes):
    started = time.monotonic()
    answer = raw_exchange(strict[0], request_bytes, wait=15)
    assert time.monotonic() - started < 6, "the server kept a stalled connection open"
    assert b"200 OK" not in answer


def test_slow_trickle_of_a_head_is_closed_at_the_deadline(strict):
    """A head sent a byte at a time: each byte is in time, the whole head is not."""
    host, port = strict[0].removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        for byte in b"GET /api/people HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100:
            try:
                sock.send(bytes([byte]))
            except OSError:
                break
            time.sleep(0.2)
            if time.monotonic() - started > 8:
                break
    assert time.monotonic() - started < 6, "a head trickled in for longer than its deadline"
