"""The people page's server side: changes through the JSON API, seen by the CLI, undone, kept by
regroups; who may send them (same origin, token, read-only); the upload's verdict; no page that
loads anything from another host.

Each app runs under a real uvicorn server in a thread (``test_web_hostile.serving``) on a private
copy of the session's people catalog (people-fr + people-deepface, dlib model), one per module;
tests pick the people they change from the API, so their order does not matter.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from faceatlas.catalog import Catalog
from faceatlas.outputs.search import Match, verdict
from faceatlas.people import edit
from faceatlas.web import create_app
from faceatlas.web.app import STATIC
from faceatlas.web.guard import check_token, is_loopback, origin_of
from tests.conftest import data, faceatlas
from tests.test_web_hostile import serving

TOKEN = "t0ken-for-the-tests_0123456789"
# XML namespace names are identifiers, not addresses: nothing is fetched from them
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
URL = re.compile(r"""https?://[^\s"'`<>()\\]*""", re.IGNORECASE)
# an address without a scheme (//host/x.js) in an attribute, a CSS url() or an import
SCHEMELESS = re.compile(
    r"""(?:src|href|action)\s*=\s*["']?//|url\(\s*["']?//|import\s*\(?\s*["']//"""
)


@pytest.fixture(scope="module")
def edit_db(people_run, tmp_path_factory) -> Path:
    """A private copy of the people catalog for this module's apps."""
    db = tmp_path_factory.mktemp("web_edit") / "people.db"
    shutil.copy(people_run / "faceatlas.db", db)
    return db


@pytest.fixture(scope="module")
def base(edit_db) -> Iterator[str]:
    """The app on ``edit_db`` with changes allowed (no token: loopback)."""
    app = create_app(edit_db, thumbs_dir=edit_db.parent / "thumbs")
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def client(base) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=60) as http:
        yield http


def cli_people(db: Path, *flags: str) -> dict[int, dict]:
    """``faceatlas people list --json`` by person id."""
    listed = json.loads(faceatlas("people", "list", "--json", "--db", db, *flags).stdout)
    return {p["person_id"]: p for p in listed}


def people(client: httpx.Client, hidden: bool = True) -> list[dict]:
    response = client.get("/api/people", params={"hidden": int(hidden)})
    assert response.status_code == 200, response.text
    return response.json()["people"]


def unnamed(client: httpx.Client, count: int, min_size: int = 2) -> list[dict]:
    """``count`` shown, unnamed people of at least ``min_size`` faces, smallest first (the tests
    share one catalog: each takes people no other test has named)."""
    found = [p for p in people(client, hidden=False) if not p["name"] and p["size"] >= min_size]
    found.sort(key=lambda p: (p["size"], p["person_id"]))
    assert len(found) >= count, found
    return found[:count]


def face_ids(client: httpx.Client, person_id: int) -> list[int]:
    response = client.get(f"/api/people/{person_id}")
    assert response.status_code == 200, response.text
    return [f["face_id"] for f in response.json()["faces"]]


def pinned_faces(client: httpx.Client, person_id: int) -> list[int]:
    faces = client.get(f"/api/people/{person_id}").json()["faces"]
    return [f["face_id"] for f in faces if f["pinned"]]


def one_line(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and detail
    return detail


# -- changes, through the same library as the CLI ------------------------------------------------


def test_a_name_given_on_the_page_is_the_clis(client, edit_db):
    (person,) = unnamed(client, 1)
    pid = person["person_id"]
    response = client.post(f"/api/people/{pid}/name", json={"name": "  Ada   Lovelace "})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["person"]["name"] == body["person"]["label"] == "Ada Lovelace"
    assert "Ada Lovelace" in body["message"]
    assert cli_people(edit_db)[pid]["name"] == "Ada Lovelace"
    assert client.get(f"/api/people/{pid}").json()["name"] == "Ada Lovelace"

    (other,) = unnamed(client, 1)
    taken = client.post(f"/api/people/{other['person_id']}/name", json={"name": "ada lovelace"})
    assert "already has that name" in one_line(taken, 409)
    assert "empty" in one_line(client.post(f"/api/people/{pid}/name", json={"name": " "}), 409)
    for bad in ({"name": 12}, {"name": "a\nb"}, {"name": "x" * 201}, {}, {"name": "A", "x": 1}):
        one_line(client.post(f"/api/people/{pid}/name", json=bad), 422)
    one_line(client.post(f"/api/people/{pid}/name", content=b"{not json"), 422)
    one_line(client.post("/api/people/987654/name", json={"name": "Nobody"}), 404)
    one_line(client.post("/api/people/abc/name", json={"name": "Nobody"}), 404)

    cleared = client.post(f"/api/people/{pid}/name", json={"name": None})
    assert cleared.status_code == 200 and cleared.json()["person"]["name"] is None
    assert cli_people(edit_db)[pid]["name"] is None


def test_merge_two_people(client, edit_db):
    into, other = unnamed(client, 2)
    merged = client.post(
        "/api/people/merge", json={"into": into["person_id"], "people": [other["person_id"]]}
    )
    assert merged.status_code == 200, merged.text
    person = merged.json()["person"]
    assert person["person_id"] == into["person_id"]
    assert person["size"] == into["size"] + other["size"]
    assert client.get(f"/api/people/{other['person_id']}").status_code == 404
    listed = cli_people(edit_db)
    assert other["person_id"] not in listed
    assert listed[into["person_id"]]["size"] == person["size"]
    faces = client.get(f"/api/people/{into['person_id']}").json()["faces"]
    assert sum(f["pinned"] for f in faces) == other["size"]  # the faces moved are pinned there

    unknown = {"into": into["person_id"], "people": [987654]}
    one_line(client.post("/api/people/merge", json=unknown), 404)
    itself = client.post(
        "/api/people/merge", json={"into": into["person_id"], "people": [into["person_id"]]}
    )
    assert "itself" in one_line(itself, 409)
    one_line(client.post("/api/people/merge", json={"into": into["person_id"], "people": []}), 422)
    one_line(client.post("/api/people/merge", json={"into": "1", "people": [2]}), 422)


def test_move_a_face(client, edit_db):
    source, target = unnamed(client, 2, min_size=3)
    moved = face_ids(client, source["person_id"])[0]
    response = client.post(f"/api/faces/{moved}/move", json={"to": target["person_id"]})
    assert response.status_code == 200, response.text
    assert response.json()["person"]["size"] == target["size"] + 1
    faces = client.get(f"/api/people/{target['person_id']}").json()["faces"]
    assert [f["pinned"] for f in faces if f["face_id"] == moved] == [True]
    assert moved not in face_ids(client, source["person_id"])
    assert cli_people(edit_db)[source["person_id"]]["size"] == source["size"] - 1
    one_line(client.post("/api/faces/987654/move", json={"to": target["person_id"]}), 404)
    one_line(client.post(f"/api/faces/{moved}/move", json={"to": 987654}), 404)
    one_line(client.post(f"/api/faces/{moved}/move", json={}), 422)


def test_a_rejected_face_leaves_and_a_regroup_does_not_bring_it_back(client, edit_db):
    (person,) = unnamed(client, 1, min_size=3)
    pid = person["person_id"]
    face = face_ids(client, pid)[-1]
    response = client.post(f"/api/faces/{face}/reject", json={"person": None})
    assert response.status_code == 200, response.text
    assert response.json()["person"]["person_id"] == pid
    assert response.json()["person"]["size"] == person["size"] - 1
    assert face not in face_ids(client, pid)

    faceatlas("cluster", "--db", edit_db)
    with Catalog(edit_db) as catalog:
        assert catalog.placements([face])[face][1] != pid
        assert (face, pid) in catalog.rejections(pid)
    again = client.get(f"/api/people/{pid}")
    assert again.status_code == 404 or face not in [f["face_id"] for f in again.json()["faces"]]

    other = next(p for p in people(client) if p["person_id"] != pid)
    named = client.post(f"/api/faces/{face}/reject", json={"person": other["person_id"]})
    assert named.status_code == 200 and named.json()["person"]["person_id"] == other["person_id"]
    one_line(client.post("/api/faces/987654/reject"), 404)
    one_line(client.post(f"/api/faces/{face}/reject", json={"person": 987654}), 404)


def test_hide_and_show_a_person(client, edit_db):
    (person,) = unnamed(client, 1)
    pid = person["person_id"]
    hidden = client.post(f"/api/people/{pid}/hide", json={"hidden": True})
    assert hidden.status_code == 200 and hidden.json()["person"]["hidden"] is True
    assert pid not in [p["person_id"] for p in people(client, hidden=False)]
    listed = {p["person_id"]: p for p in people(client, hidden=True)}
    assert listed[pid]["hidden"] is True
    assert pid not in cli_people(edit_db, "--no-hidden")
    one_line(client.post(f"/api/people/{pid}/hide", json={"hidden": "yes"}), 422)
    shown = client.post(f"/api/people/{pid}/hide", json={"hidden": False})
    assert shown.status_code == 200 and shown.json()["person"]["hidden"] is False
    assert pid in cli_people(edit_db, "--no-hidden")


def test_undo_the_last_change(client, edit_db):
    (person,) = unnamed(client, 1)
    pid = person["person_id"]
    assert client.post(f"/api/people/{pid}/name", json={"name": "Grace Hopper"}).status_code == 200
    assert cli_people(edit_db)[pid]["name"] == "Grace Hopper"
    undone = client.post("/api/people/undo", json={})  # the page sends {} with every write
    assert undone.status_code == 200, undone.text
    assert undone.json()["message"].startswith("undid name")
    assert undone.json()["person"]["person_id"] == pid
    assert undone.json()["person"]["name"] is None
    assert cli_people(edit_db)[pid]["name"] is None
    history = json.loads(faceatlas("people", "history", "--json", "--db", edit_db).stdout)
    assert history[0]["kind"] == "name" and history[0]["undone_at"]


def test_suggestions_and_dismissing_one(client, edit_db):
    untouched = [  # people as the grouping found them: no face placed by another test
        p
        for p in people(client, hidden=False)
        if not p["name"] and p["size"] >= 4 and not pinned_faces(client, p["person_id"])
    ]
    person = max(untouched, key=lambda p: (p["size"], -p["person_id"]))
    faces = face_ids(client, person["person_id"])
    with Catalog(edit_db) as catalog:  # one person in two parts: the parts are suggested
        made = edit.split_person(catalog, person["person_id"], faces[: len(faces) // 2])
    part = made.created[0].person_id
    pair = "-".join(map(str, sorted((person["person_id"], part))))
    listed = client.get("/api/people/suggestions").json()["suggestions"]
    (found,) = [s for s in listed if s["id"] == pair]
    assert {p["person_id"] for p in found["people"]} == {person["person_id"], part}
    assert 0 <= found["distance"] < 0.4
    for shown in found["people"]:  # each with a few faces to look at, as on the people list
        assert shown["faces"] and all(f["thumb"].startswith("/api/faces/") for f in shown["faces"])
        assert isinstance(shown["doubtful"], bool)
    doubtful = {p["person_id"] for p in people(client) if p["doubtful"]}
    assert {person["person_id"], part} <= doubtful
    flags = [p["doubtful"] for p in people(client)]
    assert flags == sorted(flags, reverse=True)  # doubtful people first

    dismissed = client.post(f"/api/people/suggestions/{pair}/dismiss", json={})
    assert dismissed.status_code == 200, dismissed.text
    listed = client.get("/api/people/suggestions").json()["suggestions"]
    assert pair not in [s["id"] for s in listed]
    for bad in ("12", "1-x", "-1-2", "1-2-3", "%2e%2e"):
        one_line(client.post(f"/api/people/suggestions/{bad}/dismiss"), 404)
    one_line(client.post(f"/api/people/suggestions/{person['person_id']}-987654/dismiss"), 404)


def test_the_people_list_and_a_person(client):
    listed = client.get("/api/people").json()
    assert listed["total"] == len(listed["people"]) >= 10
    for entry in listed["people"]:
        assert {"person_id", "label", "name", "hidden", "doubtful", "size", "faces"} <= set(entry)
    for flag in (False, True):
        sizes = [p["size"] for p in listed["people"] if p["doubtful"] is flag]
        assert sizes == sorted(sizes, reverse=True)
    person = client.get(f"/api/people/{listed['people'][0]['person_id']}").json()
    assert {"name", "hidden", "doubtful", "number", "images"} <= set(person)
    assert all({"pinned", "reference"} <= set(f) for f in person["faces"])
    info = client.get("/api/info").json()
    assert info["face_set"] and info["cut"] == 0.4
    assert info["read_only"] is False and info["token_required"] is False
    assert info["faces"] >= 60 and info["people"] == listed["total"]


# -- who may change people -----------------------------------------------------------------------


def test_writes_from_another_origin_are_refused(client, base, edit_db):
    (person,) = unnamed(client, 1)
    url = f"/api/people/{person['person_id']}/name"
    port = base.rsplit(":", 1)[1]
    refused = [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": f"http://localhost:{port}"},  # another origin than the page's Host
        {"Origin": "http://127.0.0.1:1"},
        {"Origin": f"https://127.0.0.1:{port}"},
        {"Origin": "http://evil.example", "Referer": f"{base}/people"},  # Origin decides
        {"Referer": "http://evil.example/people"},
        {"Referer": "not a url"},
    ]
    for headers in refused:
        response = client.post(url, json={"name": "Mallory"}, headers=headers)
        assert "cross-origin" in one_line(response, 403), headers
    upload = client.post(
        "/api/search", files={"file": ("a.jpg", b"x")}, headers={"Origin": "http://evil.example"}
    )
    assert upload.status_code == 403
    assert cli_people(edit_db)[person["person_id"]]["name"] is None

    for headers in (
        {"Origin": base},
        {"Referer": f"{base}/people?token=abc"},
        {"Origin": base, "Referer": "http://evil.example/"},  # Origin decides
        {},  # curl, scripts: no browser sends a cross-site POST without Origin
    ):
        response = client.post(url, json={"name": "Alice Example"}, headers=headers)
        assert response.status_code == 200, (headers, response.text)
        assert client.post(url, json={"name": None}).status_code == 200


def test_a_write_body_is_small(client):
    (person,) = unnamed(client, 1)
    huge = {"name": "x" * (100 * 1024)}
    response = client.post(f"/api/people/{person['person_id']}/name", json=huge)
    assert "too large" in one_line(response, 413)


def test_read_only_refuses_every_change_and_still_searches(edit_db):
    app = create_app(edit_db, thumbs_dir=edit_db.parent / "thumbs", read_only=True, token=TOKEN)
    with serving(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        pid = people(http)[0]["person_id"]
        before = cli_people(edit_db)
        for path, body in [
            (f"/api/people/{pid}/name", {"name": "Read Only"}),
            (f"/api/people/{pid}/hide", {"hidden": True}),
            ("/api/people/merge", {"into": pid, "people": [pid + 1]}),
            ("/api/people/undo", None),
            ("/api/people/suggestions/1-2/dismiss", None),
        ]:
            response = http.post(path, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
            assert one_line(response, 403).startswith("read-only"), path
        assert cli_people(edit_db) == before
        info = http.get("/api/info").json()
        assert info["read_only"] is True and info["token_required"] is False
        photo = data("people-fr-queries", "obama1.jpg").read_bytes()
        found = http.post("/api/search", files={"file": ("obama1.jpg", photo, "image/jpeg")})
        assert found.status_code == 200 and found.json()["faces"]


def test_a_token_is_needed_when_the_app_has_one(edit_db):
    app = create_app(edit_db, thumbs_dir=edit_db.parent / "thumbs", token=TOKEN)
    with serving(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        (person,) = unnamed(http, 1)  # reads need no token
        assert http.get("/api/info").json()["token_required"] is True
        path = f"/api/people/{person['person_id']}/hide"
        missing = http.post(path, json={"hidden": True})
        assert "token" in one_line(missing, 401)
        assert missing.headers["www-authenticate"] == "Bearer"
        for auth in (f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", TOKEN, f"Basic {TOKEN}",
                     "Bearer", "Bearer \u00e9".encode()):  # fmt: skip
            wrong = http.post(path, json={"hidden": True}, headers={"Authorization": auth})
            assert "wrong token" in one_line(wrong, 401), auth
        assert cli_people(edit_db)[person["person_id"]]["hidden"] is False
        right = {"Authorization": f"Bearer {TOKEN}"}
        assert http.post(path, json={"hidden": True}, headers=right).status_code == 200
        assert http.post(path, json={"hidden": False}, headers=right).status_code == 200
        evil = right | {"Origin": "http://evil.example"}
        assert http.post(path, json={"hidden": True}, headers=evil).status_code == 403
        photo = data("people-fr-queries", "obama1.jpg").read_bytes()
        assert http.post("/api/search", files={"file": ("o.jpg", photo)}).status_code == 200


def test_serve_on_the_network_makes_and_prints_a_token(edit_db, monkeypatch):
    import faceatlas.web as web
    from faceatlas.cli import main

    served = {}
    monkeypatch.setattr(web, "run_server", lambda app, host, port: served.update(app=app))
    monkeypatch.delenv("FACEATLAS_TOKEN", raising=False)
    args = ["serve", "--db", str(edit_db), "--host", "0.0.0.0", "--allow-host", "box.lan"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    (token,) = re.findall(r"http://box\.lan:8000/people\?token=([\w-]+)", result.output)
    assert len(token) >= 40 and served["app"].state.writes.token == token
    assert "warning: listening on 0.0.0.0" in result.output

    result = CliRunner().invoke(main, [*args, "--read-only"])
    assert result.exit_code == 0 and "token" not in result.output
    assert served["app"].state.writes.read_only and served["app"].state.writes.token is None
    loopback = CliRunner().invoke(main, ["serve", "--db", str(edit_db)])
    assert loopback.exit_code == 0 and served["app"].state.writes.token is None
    given = CliRunner().invoke(
        main, ["serve", "--db", str(edit_db)], env={"FACEATLAS_TOKEN": TOKEN}
    )
    assert given.exit_code == 0 and served["app"].state.writes.token == TOKEN
    short = CliRunner().invoke(main, ["serve", "--db", str(edit_db), "--token", "abc"])
    assert short.exit_code == 2 and "at least 16" in short.output


def test_serve_help_shows_the_write_options():
    shown = faceatlas("serve", "--help").stdout
    for words in ("--read-only", "--token", "FACEATLAS_TOKEN", "Examples:", "docs/web.md"):
        assert words in shown, words


# -- the upload's verdict ------------------------------------------------------------------------


def test_an_upload_gets_the_cut_and_a_name_only_within_it(client):
    photo = data("people-fr-queries", "obama_and_biden.jpg").read_bytes()
    response = client.post(
        "/api/search", files={"file": ("o.jpg", photo, "image/jpeg")}, params={"k": 5}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cut"] == 0.4 and len(body["faces"]) >= 2
    for face in body["faces"]:
        for match in face["matches"]:
            assert match["same_person"] is (match["distance"] <= body["cut"])
        nearest = face["matches"][0]
        if nearest["same_person"] and nearest["person"] not in (None, "unknown"):
            assert face["name"] == nearest["person"]
        else:
            assert face["name"] is None
    assert any(face["name"] for face in body["faces"])
    similar = client.get(f"/api/faces/{body['faces'][0]['matches'][0]['face_id']}/similar").json()
    assert similar["cut"] == 0.4 and all("same_person" in m for m in similar["matches"])


def test_a_stranger_at_0_44_has_no_name():
    def match(distance: float, person: str | None) -> Match:
        return Match(1, 1, "/p/a.jpg", (0, 0, 1, 1), distance, 3, person)

    assert verdict([match(0.44, "Obama")], 0.4) is None
    assert verdict([match(0.40, "Obama"), match(0.41, "Biden")], 0.4) == "Obama"
    assert verdict([match(0.2, "unknown")], 0.4) is None
    assert verdict([match(0.2, None)], 0.4) is None
    assert verdict([], 0.4) is None


# -- offline: nothing from another host ----------------------------------------------------------


def test_pages_load_nothing_from_another_host(client, base):
    host = base.removeprefix("http://")
    served = {}
    for path in ("/", "/people"):
        response = client.get(path)
        assert response.status_code == 200
        served[path] = response.text
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-frame-options"] == "DENY"
    linked = {p for page in served.values() for p in re.findall(r'(?:src|href)="([^"]+)"', page)}
    statics = {f"/static/{f.name}" for f in STATIC.iterdir() if f.is_file()}
    for path in sorted((linked | statics) - {"/", "/people", "data:,"}):
        assert path.startswith("/") and not path.startswith("//"), path
        response = client.get(path)
        assert response.status_code == 200, path
        served[path] = response.text
    for path, text in served.items():
        assert not SCHEMELESS.search(text), (path, SCHEMELESS.search(text))
        for url in URL.findall(text):
            if url not in NAMESPACES:
                assert re.match(rf"https?://{re.escape(host)}(/|$)", url, re.I), (path, url)
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404, path
    assert client.get("/openapi.json").json()["paths"]["/api/people/merge"]


# -- the guard's parts ---------------------------------------------------------------------------


def test_origins_tokens_and_loopback():
    assert origin_of("http://LocalHost:8000") == ("http", "localhost", 8000)
    assert origin_of("https://example.org") == ("https", "example.org", 443)
    assert origin_of("http://[::1]:8000") == ("http", "::1", 8000)
    for bad in ("null", "", "file://", "http://a@localhost", "http://localhost:99999",
                "ftp://localhost", "http://localhost/path", "localhost:8000"):  # fmt: skip
        assert origin_of(bad) is None, bad
    assert origin_of("http://localhost:8000/people?token=x", referer=True) == (
        "http", "localhost", 8000,
    )  # fmt: skip
    assert check_token(TOKEN) == TOKEN
    for bad in ("short", "x" * 15, "has space in it..", "bad/chars/in/token", "é" * 20):
        with pytest.raises(ValueError):
            check_token(bad)
    assert is_loopback("127.0.0.1") and is_loopback("127.0.0.2") and is_loopback("[::1]")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    assert not is_loopback("box.lan")
