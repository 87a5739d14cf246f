"""The people page and the upload page in Chromium, against a real `faceatlas serve` on a private
copy of the people catalog: what is changed on the page is what `faceatlas people` then shows.

Debian's Chromium (/usr/bin/chromium) is driven by Playwright; each test opens its pages in a
browser context of its own (fresh sessionStorage), records the console errors, page errors and
dialogs they meet and asserts there were none, and leaves screenshots at 1280 and 400 px wide in
its tmp_path.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from faceatlas.web import create_app
from tests.conftest import data, faceatlas
from tests.test_web import CHROMIUM, CHROMIUM_ARGS, running_server
from tests.test_web_hostile import serving

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # the browser tests skip, saying so
    sync_playwright = None

WIDE, NARROW = 1280, 400
WAIT_MS = 30_000
HTML_NAME = "<img src=x onerror=alert(1)>"  # a name that would run script if parsed as HTML
TOKEN = "browser-test-token_0123456789"
REFUSED = re.compile(r"Failed to load resource: the server responded with a status of 409")


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    if sync_playwright is None:
        pytest.skip("playwright is not installed (pip install playwright; no browser download)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_page(
    browser, width: int = WIDE, bypass_csp: bool = False
) -> Iterator[tuple[Page, list[str]]]:
    """A page in a context of its own, and the list of errors it meets (console errors, uncaught
    exceptions, dialogs: an alert() would mean a name ran as script)."""
    context = browser.new_context(
        viewport={"width": width, "height": 900}, bypass_csp=bypass_csp
    )
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(f"page error: {err}"))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    def dialog(box) -> None:
        errors.append(f"dialog: {box.message}")
        box.dismiss()

    page.on("dialog", dialog)
    try:
        yield page, errors
    finally:
        context.close()


def people_json(db: Path) -> dict[int, dict]:
    """`faceatlas people list --json`, by person id."""
    found = json.loads(faceatlas("people", "list", "--json", "--db", db).stdout)
    return {p["person_id"]: p for p in found}


def person_faces(db: Path, person_id: int) -> list[dict]:
    """The faces `faceatlas people show ID --json` lists."""
    shown = json.loads(faceatlas("people", "show", str(person_id), "--json", "--db", db).stdout)
    assert shown["person_id"] == person_id
    return shown["faces"]


def face_ids(db: Path, person_id: int) -> set[int]:
    return {face["face_id"] for face in person_faces(db, person_id)}


def photos(db: Path) -> dict[int, dict[int, str]]:
    """{person id: {face id: photo path}}, read from the catalog file: to set a test up (what
    the page did is checked with the CLI)."""
    found: dict[int, dict[int, str]] = {}
    with closing(sqlite3.connect(db)) as conn:
        for person_id, face_id, path in conn.execute(
            "SELECT a.person_id, f.id, i.path FROM assignments a"
            " JOIN faces f ON f.id = a.face_id JOIN images i ON i.id = f.image_id"
        ):
            found.setdefault(person_id, {})[face_id] = path
    return found


def person_of(db: Path, folder: str) -> int:
    """The id of the person whose faces' photos all lie in ``folder`` (e.g. people-fr/obama)."""
    for person_id, faces in photos(db).items():
        if len(faces) >= 2 and all(f"/{folder}/" in path for path in faces.values()):
            return person_id
    raise AssertionError(f"no person holds just the faces of {folder}")


def row(page: Page, person_id: int):
    return page.locator(f"#people article.person-row[data-person-id='{person_id}']")


def settled(page: Page) -> None:
    """Wait until the page's last change is done and what it changed fetched again."""
    expect(page.locator("main")).not_to_have_attribute("aria-busy", "true")


def change(page: Page, path: str, action) -> dict:
    """Do ``action`` (a click, an Enter) and wait for its POST to ``path``: it must succeed,
    and its message must be what the status line says. The answer's body."""
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith(path)
    ) as info:
        action()
    response = info.value
    assert response.ok, (path, response.status, response.text())
    body = response.json()
    status = page.locator("#status")
    expect(status).to_have_text(body["message"])
    expect(status).not_to_have_class(re.compile("error"))
    settled(page)
    return body


def open_people(page: Page, base: str, count: int) -> None:
    page.goto(base + "/people")
    expect(page.locator("#people .person-row")).to_have_count(count)
    settled(page)


def shots(page: Page, path: Path) -> None:
    """Full-page screenshots at both widths (``path`` gains -1280 / -400), back to wide."""
    for width in (WIDE, NARROW):
        page.set_viewport_size({"width": width, "height": 900})
        shot = path.with_name(f"{path.stem}-{width}.png")
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 5_000
        overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0, f"the page is {overflow}px wider than {width}px"
    page.set_viewport_size({"width": WIDE, "height": 900})


def unlabelled(page: Page) -> list[str]:
    """The form fields of the page with no accessible name (a <label> or aria-label)."""
    return page.locator("input, select, textarea").evaluate_all(
        "fields => fields.filter(f => !f.labels.length && !f.getAttribute('aria-label'))"
        ".map(f => f.outerHTML)"
    )


def test_rename_merge_reject_move_undo_hide_on_the_page_then_the_cli_agrees(
    chromium, people_catalog, tmp_path
):
    db = people_catalog
    before = people_json(db)
    by_size = sorted(before.values(), key=lambda p: (-p["size"], p["person_id"]))
    a, b, c = (p["person_id"] for p in by_size[:3])
    held = photos(db)
    assert not set(held[a].values()) & set(held[b].values()), "a and b share a photo"
    total = before[a]["size"] + before[b]["size"]

    with running_server(db) as base, open_page(chromium) as (page, errors):
        open_people(page, base, len(before))
        flags = page.locator("#people .person-row").evaluate_all(
            "rows => rows.map(r => r.classList.contains('doubtful'))"
        )
        assert flags == sorted(flags, reverse=True), "doubtful people are not listed first"
        for doubtful in page.locator("#people .person-row.doubtful").all():
            expect(doubtful.locator(".badge.doubt")).to_have_text("check first")
        assert unlabelled(page) == []

        # rename: type a name, Enter saves it; it is there after a reload
        field = row(page, a).get_by_label(f"Name of {before[a]['label']}")
        field.fill("Ada Lovelace")
        change(page, f"/api/people/{a}/name", lambda: field.press("Enter"))
        expect(row(page, a).locator("h3")).to_have_text("Ada Lovelace")
        page.reload()
        expect(row(page, a).locator("h3")).to_have_text("Ada Lovelace")
        expect(row(page, a).locator("input[name=name]")).to_have_value("Ada Lovelace")

        # merge: tick a, then b; "Merge into first selected" puts b into a
        row(page, a).locator("input.select").check()
        row(page, b).locator("input.select").check()
        expect(page.locator("#selection")).to_have_text(
            f"Merge {before[b]['label']} into Ada Lovelace."
        )
        change(page, "/api/people/merge",
               lambda: page.get_by_role("button", name="Merge into first selected").click())
        expect(row(page, b)).to_have_count(0)
        expect(row(page, a).locator(".size")).to_have_text(f"{total} faces")
        expect(page.locator("#people input.select:checked")).to_have_count(0)
        expect(page.locator("#info")).to_contain_text(f"{len(before) - 1} people")
        merged = people_json(db)
        assert merged[a]["name"] == "Ada Lovelace" and merged[a]["size"] == total
        assert b not in merged

        # open the person: every face; "Not this person" takes one out
        row(page, a).get_by_role("link", name="Ada Lovelace").click()
        cards = page.locator("#person .face-card")
        expect(cards).to_have_count(total)
        expect(page.locator("#person h2")).to_have_text("Ada Lovelace")
        assert unlabelled(page) == []
        rejected = int(cards.first.get_attribute("data-face-id"))
        change(page, f"/api/faces/{rejected}/reject",
               lambda: cards.first.get_by_role("button", name="Not this person").click())
        expect(page.locator(f"#person .face-card[data-face-id='{rejected}']")).to_have_count(0)
        expect(cards).to_have_count(total - 1)
        expect(row(page, a).locator(".size")).to_have_text(f"{total - 1} faces")
        assert rejected not in face_ids(db, a)
        assert people_json(db)[a]["size"] == total - 1

        # move a face to another person, chosen by label; then undo the move
        moved = int(cards.first.get_attribute("data-face-id"))
        target = before[c]["label"]
        move_to = cards.first.get_by_label(f"Move face {moved} to person")
        move_to.fill(target)
        change(page, f"/api/faces/{moved}/move", lambda: move_to.press("Enter"))
        expect(cards).to_have_count(total - 2)
        assert moved in face_ids(db, c)  # a face is in one person at most
        change(page, "/api/people/undo",
               lambda: page.get_by_role("button", name="Undo last change").click())
        expect(cards).to_have_count(total - 1)
        assert moved in face_ids(db, a)
        shots(page, tmp_path / "person")

        # hide a person: gone from the list, back (marked) with "Show hidden people"
        change(page, f"/api/people/{c}/hide",
               lambda: row(page, c).get_by_role("button", name="Hide").click())
        expect(row(page, c)).to_have_count(0)
        assert people_json(db)[c]["hidden"] is True
        page.get_by_label("Show hidden people").check()
        expect(row(page, c).locator(".badge")).to_have_text("hidden")
        expect(row(page, c).get_by_role("button", name="Unhide")).to_be_visible()

        # a refused change says why, in red; nothing changes
        taken = row(page, c).get_by_label(f"Name of {before[c]['label']}")
        taken.fill("ada lovelace")
        with page.expect_response(lambda r: r.url.endswith(f"/api/people/{c}/name")) as info:
            taken.press("Enter")
        assert info.value.status == 409
        expect(page.locator("#status")).to_have_class(re.compile("error"))
        expect(page.locator("#status")).to_contain_text(info.value.json()["detail"])
        assert people_json(db)[c]["name"] is None
        shots(page, tmp_path / "people")

        assert [e for e in errors if not REFUSED.search(e)] == []
        assert len(errors) == 1  # the one refused rename


def test_suggestions_accept_and_dismiss_and_names_stay_text(chromium, people_catalog, tmp_path):
    db = people_catalog
    before = people_json(db)
    by_size = sorted(before.values(), key=lambda p: (-p["size"], p["person_id"]))
    first, second = by_size[0]["person_id"], by_size[1]["person_id"]
    halves = []
    held = photos(db)
    for person_id in (first, second):  # each split in two halves: the halves look alike
        split = sorted(held[person_id])[: len(held[person_id]) // 2]
        faceatlas("people", "split", str(person_id),
                  *[arg for fid in split for arg in ("--faces", str(fid))], "--db", db)
        (made,) = set(photos(db)) - set(before) - set(halves)
        assert set(photos(db)[made]) == set(split)
        halves.append(made)
    first_half, second_half = halves
    after = people_json(db)

    with running_server(db) as base, open_page(chromium) as (page, errors):
        open_people(page, base, len(after))
        pair = f"{first}-{first_half}"
        other = f"{second}-{second_half}"
        card = page.locator(f".suggestion[data-suggestion-id='{pair}']")
        expect(card).to_have_count(1)
        expect(page.locator(f".suggestion[data-suggestion-id='{other}']")).to_have_count(1)
        expect(card.locator(".suggested img")).not_to_have_count(0)  # both people's faces
        expect(card.locator(".distance")).to_contain_text("distance 0.")

        # the people the server finds doubtful (the halves, at least) come first, marked
        listed = page.request.get(base + "/api/people").json()["people"]
        doubtful = [p["person_id"] for p in listed if p["doubtful"]]
        assert first_half in doubtful and second_half in doubtful
        marked = page.locator("#people .person-row.doubtful").evaluate_all(
            "rows => rows.map(r => Number(r.dataset.personId))"
        )
        assert marked == doubtful == [p["person_id"] for p in listed][: len(doubtful)]
        expect(row(page, first_half).locator(".badge.doubt")).to_have_text("check first")

        # a name with HTML in it is text: in the row, the suggestion, the selection, the person
        field = row(page, first_half).locator("input[name=name]")
        field.fill(HTML_NAME)
        change(page, f"/api/people/{first_half}/name", lambda: field.press("Enter"))
        expect(row(page, first_half).locator("h3")).to_have_text(HTML_NAME)
        expect(card.locator("h3")).to_have_text(f"{after[first]['label']} and {HTML_NAME}")
        row(page, first_half).locator("input.select").check()
        expect(page.locator("#selection")).to_contain_text(HTML_NAME)
        row(page, first_half).locator("input.select").uncheck()
        page.goto(f"{base}/people#{first_half}")
        expect(page.locator("#person h2")).to_have_text(HTML_NAME)
        expect(page.locator(f"#people-choices option[value='{HTML_NAME}']")).to_have_count(1)
        assert page.locator("img[src='x']").count() == 0
        shots(page, tmp_path / "html-name")

        # accept: the two halves are one person again (the larger, or the first, stays)
        change(page, "/api/people/merge",
               lambda: card.get_by_role("button", name="Accept (merge)").click())
        expect(card).to_have_count(0)
        expect(row(page, first_half)).to_have_count(0)
        merged = people_json(db)
        assert first_half not in merged
        assert merged[first]["size"] == before[first]["size"]
        assert merged[first]["name"] == HTML_NAME  # the merged-in half's name stays
        expect(page.locator("#person h2")).to_have_text(HTML_NAME)  # the open one went: follow

        # dismiss: gone, and not back after a reload
        dismissed = page.locator(f".suggestion[data-suggestion-id='{other}']")
        change(page, f"/api/people/suggestions/{other}/dismiss",
               lambda: dismissed.get_by_role("button", name="Dismiss").click())
        expect(dismissed).to_have_count(0)
        page.reload()
        expect(page.locator("#suggestions-status")).not_to_contain_text("Looking")
        expect(dismissed).to_have_count(0)
        assert second_half in people_json(db)  # dismissing merges nothing
        assert page.locator("img[src='x']").count() == 0
        shots(page, tmp_path / "suggestions")
        assert errors == []


def test_upload_shows_the_verdict_and_where_the_same_person_ends(
    chromium, people_catalog, tmp_path
):
    db = people_catalog
    obama = person_of(db, "people-fr/obama")
    name = "Barack <b>Obama</b>"
    faceatlas("people", "name", str(obama), name, "--db", db)
    photo = data("people-fr-queries", "obama_and_biden.jpg")
    # wait_for_function evaluates a string in the page, which the pages' CSP forbids
    with running_server(db) as base, open_page(chromium, bypass_csp=True) as (page, errors):
        page.goto(base + "/")
        page.set_input_files("#file", str(photo))
        results = page.locator(".face-result")
        expect(results.first.locator(".match img").first).to_be_visible(timeout=60_000)
        expect(page.locator("#status")).to_contain_text("face(s) found")
        page.wait_for_function(  # the thumbnails on screen are made and shown
            "[...document.querySelectorAll('.match img')]"
            ".filter(i => i.getBoundingClientRect().top < innerHeight)"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )
        assert unlabelled(page) == []
        count = results.count()
        assert count >= 2 and page.locator("#photo .box").count() == count

        headings = [h.inner_text() for h in results.locator("h2").all()]
        assert any(h == f"Face {i + 1}: {name}" for i, h in enumerate(headings)), headings
        assert page.locator(".face-result h2 b").count() == 0  # the name's HTML is text
        for i, result in enumerate(results.all()):
            cards = result.locator(".match")
            assert cards.count() == 10
            distances = [
                float(t.removeprefix("distance "))
                for t in result.locator(".match .distance").all_inner_texts()
            ]
            far = [
                "far" in (c or "") for c in cards.evaluate_all("cs => cs.map(c => c.className)")
            ]
            assert far == [d > 0.4 for d in distances], (i, distances, far)
            cut = result.locator(".cut")
            if any(far):  # one divider, just before the first match past the cut
                expect(cut).to_have_count(1)
                expect(cut).to_have_text(
                    "below: probably not the same person (distance > 0.40)"
                )
                before_cut = cut.evaluate(
                    "d => [...d.parentElement.children].indexOf(d)"
                )
                assert before_cut == far.index(True)
                opacity = float(cards.nth(far.index(True)).evaluate(
                    "c => getComputedStyle(c).opacity"
                ))
                assert opacity < 0.8, "a match past the cut does not look dimmer"
            else:
                expect(cut).to_have_count(0)
            if far[0]:  # no match within the cut: nobody known
                assert headings[i] == f"Face {i + 1}: unknown person"
            else:  # the nearest match's person
                nearest = cards.first.locator(".person").inner_text()
                assert headings[i] == f"Face {i + 1}: {nearest}"
        assert any(h.endswith(": unknown person") for h in headings)  # the stranger
        shots(page, tmp_path / "upload")
        assert errors == []


def test_with_a_token_the_page_takes_it_from_its_address_once(
    chromium, people_catalog, monkeypatch, tmp_path
):
    db = people_catalog
    person = min(people_json(db))
    monkeypatch.setenv("FACEATLAS_TOKEN", TOKEN)  # faceatlas serve --token, from its env
    with running_server(db) as base:
        with open_page(chromium) as (page, errors):  # no token: look, change nothing
            open_people(page, base, len(people_json(db)))
            expect(page.locator("#notice")).to_contain_text("?token=")
            expect(page.locator("#tools")).to_be_hidden()
            expect(page.locator("#people input, #people button")).to_have_count(0)
            assert errors == []
        with open_page(chromium) as (page, errors):
            page.goto(f"{base}/people?token={TOKEN}#{person}")
            expect(page.locator("#person h2")).to_be_visible()
            assert page.url == f"{base}/people#{person}"  # gone from the address bar
            page.reload()  # kept for the tab
            field = row(page, person).locator("input[name=name]")
            field.fill("Grace Hopper")
            with page.expect_request(lambda r: r.method == "POST") as sent:
                change(page, f"/api/people/{person}/name", lambda: field.press("Enter"))
            assert sent.value.headers["authorization"] == f"Bearer {TOKEN}"
            assert people_json(db)[person]["name"] == "Grace Hopper"
            expect(page.locator("#notice")).to_be_hidden()
            assert errors == []


def test_a_read_only_server_shows_no_edit_controls(chromium, people_catalog, tmp_path):
    db = people_catalog
    people = people_json(db)
    first = min(people)
    halves = sorted(photos(db)[first])[:2]  # a suggestion to show
    faceatlas("people", "split", str(first), "--faces", halves[0], "--faces", halves[1], "--db", db)
    app = create_app(db, read_only=True, thumbs_dir=tmp_path / "thumbs")
    with serving(app) as base, open_page(chromium, NARROW) as (page, errors):
        open_people(page, base, len(people) + 1)
        expect(page.locator("#notice")).to_contain_text("read only")
        expect(page.locator(".suggestion")).not_to_have_count(0)
        page.goto(f"{base}/people#{first}")
        expect(page.locator("#person .face-card")).to_have_count(people[first]["size"] - 2)
        expect(page.locator("#tools")).to_be_hidden()
        expect(page.locator("main input:not(#show-hidden), main button:visible")).to_have_count(0)
        page.screenshot(path=str(tmp_path / "read-only-400.png"), full_page=True)
        assert errors == []
