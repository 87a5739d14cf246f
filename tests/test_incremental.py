"""New faces join existing people (fake model: milliseconds); every grouping obeys the user's
corrections (a property test: random corrections, then regroups with every method)."""

from __future__ import annotations

import numpy as np
import pytest

from faceatlas.catalog import Catalog
from faceatlas.errors import UsageError
from faceatlas.faces.record import Face, ImageResult
from faceatlas.faces.spec import ModelSpec
from faceatlas.index import IndexConfig
from faceatlas.people import edit
from faceatlas.people.cluster import cluster_catalog
from faceatlas.people.incremental import IncrementalSummary, assign_new_faces
from faceatlas.people.segments import cluster_per_segment
from faceatlas.workflow import run_photos
from tests.fake_model import FakeModel, draw_faces

SPEC = ModelSpec(detector="fake", min_face=20, embedder="fake-colour", dim=16)
COLOURS = [(200, 30, 30), (30, 160, 40), (40, 60, 200), (200, 160, 20), (150, 40, 170),
           (20, 170, 170)]  # fmt: skip


def _photo(root, name, who, rng):
    jitter = [tuple(int(np.clip(c + rng.integers(-4, 5), 0, 235)) for c in COLOURS[i])
              for i in who]  # fmt: skip
    draw_faces(root / name, jitter)


def _folders(catalog: Catalog) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for row in catalog.faces():
        found.setdefault(row.person or "-", set()).add(f"{row.image_path}@{row.box[0]}")
    return found


def test_a_second_run_adds_new_faces_without_renumbering(tmp_path):
    rng = np.random.default_rng(0)
    photos, out = tmp_path / "photos", tmp_path / "out"
    for person, count in ((0, 4), (1, 3), (2, 2), (3, 2)):
        for i in range(count):
            _photo(photos, f"p{person}_{i}.png", [person], rng)
    _photo(photos, "pair.png", [2, 3], rng)
    config = IndexConfig(model=FakeModel(dim=48), workers=1)
    run_photos([photos], out, config, search_index=False, min_faces=1)
    with Catalog(out / "faceatlas.db") as catalog:
        before = _folders(catalog)
        edit.name_person(catalog, "person_0002", "Green")
    _photo(photos, "p1_new.png", [1], rng)
    _photo(photos, "p5_0.png", [5], rng)
    _photo(photos, "p5_1.png", [5, 0], rng)  # a new person beside a known one
    second = run_photos([photos], out, config, search_index=False, min_faces=1)
    assert isinstance(second.clustered, IncrementalSummary)
    assert (second.clustered.new_faces, second.clustered.joined) == (4, 2)
    assert second.clustered.new_people == 1
    with Catalog(out / "faceatlas.db") as catalog:
        after = _folders(catalog)
    assert after["Green"] == before["person_0002"] | {f"{photos / 'p1_new.png'}@10"}
    assert after["person_0005"] == {f"{photos / 'p5_0.png'}@10", f"{photos / 'p5_1.png'}@10"}
    assert after["person_0001"] == before["person_0001"] | {f"{photos / 'p5_1.png'}@60"}
    for label in ("person_0003", "person_0004"):
        assert after[label] == before[label]
    assert {p.name for p in (out).iterdir() if p.is_dir()} == {
        "Green", "person_0001", "person_0003", "person_0004", "person_0005"}  # fmt: skip


def _vector(centre: np.ndarray, rng: np.random.Generator, noise: float) -> Face:
    v = centre + rng.normal(0, noise, len(centre))
    return Face((0, 0, 10, 10), np.zeros((5, 2), np.float32), 1.0,
                (v / np.linalg.norm(v)).astype(np.float32), 1.0)  # fmt: skip


Truth = dict[tuple[str, int], int]  # (photo, left of the box) -> person


def _results(people: int, per_person: int, seed: int = 0, noise: float = 0.05,
             prefix: str = "/s") -> tuple[list[ImageResult], Truth]:  # fmt: skip
    """Photos of one to three faces of ``people`` people (never one person twice in a photo),
    and the truth: (photo, left) -> person."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(size=(64, SPEC.dim))
    queue = [p for p in range(people) for _ in range(per_person)]
    rng.shuffle(queue)
    results, truth = [], {}
    while queue:
        take = min(len(queue), int(rng.choice([1, 1, 1, 2, 3])))
        who = list(dict.fromkeys(queue[:take]))
        queue = queue[len(who):]
        path = f"{prefix}/{len(results):05d}.jpg"
        faces = []
        for i, person in enumerate(who):
            face = _vector(centres[person], rng, noise)
            face.box = (20 * i, 0, 20 * i + 10, 10)
            faces.append(face)
            truth[(path, 20 * i)] = person
        results.append(ImageResult(path, 1, 1, "ok", 99, 99, faces=faces))
    return results, truth


def _synthetic(path, people: int = 12, per_person: int = 8, seed: int = 0,
               noise: float = 0.05) -> Catalog:  # fmt: skip
    catalog = Catalog(path)
    catalog.face_set_for(SPEC)
    catalog.add_results(_results(people, per_person, seed, noise)[0])
    return catalog


def test_new_faces_join_obeying_rejections_and_the_one_photo_rule(tmp_path):
    with _synthetic(tmp_path / "c.db", people=3, per_person=5) as catalog:
        cluster_catalog(catalog, method="chinese-whispers", threshold=0.5)
        assert len(catalog.people()) == 3
        first = catalog.people()[0]
        centre = catalog.face_vectors(catalog.person_faces([first.person_id])[first.person_id])
        v = centre.vectors.mean(axis=0)
        edit.reject_faces(catalog, [int(centre.face_ids[0])])  # waits in no person
        # a photo with two faces of that person's look: only one can join it
        catalog.add_results([ImageResult("/s/new.jpg", 1, 1, "ok", 99, 99, faces=[
            Face((0, 0, 9, 9), np.zeros((5, 2), np.float32), 1.0, v / np.linalg.norm(v), 1.0),
            Face((20, 0, 29, 9), np.zeros((5, 2), np.float32), 1.0, v / np.linalg.norm(v), 1.0),
        ])])  # fmt: skip
        done = assign_new_faces(catalog)
        assert (done.new_faces, done.joined, done.new_people) == (2, 1, 1)
        # the second face formed a new person with the rejected face (both near, no rule broken)
        newest = max(catalog.people(), key=lambda p: p.number)
        assert int(centre.face_ids[0]) in catalog.person_faces([newest.person_id])[
            newest.person_id]  # fmt: skip
        again = assign_new_faces(catalog)  # nothing new: nothing moves
        assert (again.new_faces, again.joined, again.new_people) == (0, 0, 0)


def test_adding_a_fifth_groups_nearly_as_well_as_grouping_all_at_once(tmp_path):
    from faceatlas.metrics import cluster_scores

    results, truth = _results(people=40, per_person=10, noise=0.07)
    cut = len(results) * 4 // 5

    def scores(catalog: Catalog):
        rows = catalog.faces()
        return cluster_scores([truth[(r.image_path, r.box[0])] for r in rows],
                              [r.person_id or -r.face_id for r in rows])  # fmt: skip

    with Catalog(tmp_path / "all.db") as whole, Catalog(tmp_path / "grown.db") as grown:
        for catalog in (whole, grown):
            catalog.face_set_for(SPEC)
        whole.add_results(results)
        cluster_catalog(whole, method="chinese-whispers", threshold=0.5)
        grown.add_results(results[:cut])
        cluster_catalog(grown, method="chinese-whispers", threshold=0.5)
        grown.add_results(results[cut:])
        done = assign_new_faces(grown)
        assert done.new_faces == sum(len(r.faces) for r in results[cut:])
        at_once, added = scores(whole), scores(grown)
        assert added.pairwise_f >= at_once.pairwise_f - 0.01, (added, at_once)
        assert added.bcubed_f >= at_once.bcubed_f - 0.01, (added, at_once)


METHODS = ["infomap", "chinese-whispers", "leader", "rank-order", "dbscan", "hdbscan",
           "agglomerative", "kmeans"]  # fmt: skip


class Corrections:
    """Random corrections through the public API, and the state they must leave."""

    def __init__(self, catalog: Catalog, seed: int) -> None:
        self.catalog = catalog
        self.rng = np.random.default_rng(seed)
        self.done: list[str] = []

    def person(self):
        people = self.catalog.people()
        return people[int(self.rng.integers(len(people)))]

    def faces(self, n: int = 1) -> list[int]:
        ids = self.catalog.face_matrix().face_ids
        return [int(f) for f in self.rng.choice(ids, n, replace=False)]

    def one(self) -> None:
        kind = str(self.rng.choice(["name", "merge", "split", "move", "move", "reject",
                                    "reject", "hide", "forget"]))  # fmt: skip
        c = self.catalog
        try:
            if kind == "name":
                edit.name_person(c, self.person().label, f"N{self.rng.integers(10**6)}")
            elif kind == "merge":
                a, b = self.person(), self.person()
                edit.merge_people(c, str(a.person_id), [str(b.person_id)])
            elif kind == "split":
                p = self.person()
                members = c.person_faces([p.person_id]).get(p.person_id, [])
                edit.split_person(c, str(p.person_id), members[: max(1, len(members) // 3)])
            elif kind == "move":
                edit.move_faces(c, self.faces(int(self.rng.integers(1, 3))),
                                str(self.person().person_id))  # fmt: skip
            elif kind == "reject":
                face = self.faces()[0]
                placed = c.placements([face])[face][1]
                edit.reject_faces(c, [face], None if placed else str(self.person().person_id))
            elif kind == "hide":
                edit.hide_person(c, str(self.person().person_id))
            else:
                edit.forget_faces(c, self.faces())
            self.done.append(kind)
        except UsageError:
            pass  # refused (a rule would break, or nothing to do): fine

    def state(self) -> dict:
        c = self.catalog
        s = c.people_state()
        people = {p.person_id: p for p in c.people()}
        members = c.person_faces(list(people))
        return {
            "pins": {
                int(f): int(p)
                for f, p, pin in zip(s.face_ids, s.person, s.pinned, strict=True)
                if pin
            },
            "rejected": set(s.rejected),
            "kept": {pid: set(members.get(pid, [])) for pid in s.kept},
            "names": {pid: p.name for pid, p in people.items() if p.name},
            "hidden": {pid for pid, p in people.items() if p.hidden},
        }


def _check(catalog: Catalog, before: dict, how: str) -> None:
    after = Corrections(catalog, 0).state()
    s = catalog.people_state()
    person = dict(zip(s.face_ids.tolist(), s.person.tolist(), strict=True))
    for face, pid in before["pins"].items():
        assert person.get(face) == pid, (how, "pin", face)
    for face, pid in before["rejected"]:
        assert person.get(face) != pid, (how, "rejection", face)
    for pid, faces in before["kept"].items():
        assert faces <= after["kept"].get(pid, set()), (how, "kept person", pid)
    for pid, name in before["names"].items():
        assert after["names"].get(pid) == name, (how, "name", pid)
    assert before["hidden"] <= after["hidden"], how
    photos = {}
    for face, pid, image in zip(s.face_ids, s.person, s.image_ids, strict=True):
        if pid >= 0:
            assert (pid, image) not in photos, (how, "one photo", face, photos[(pid, image)])
            photos[(pid, image)] = face


def _obeys(catalog: Catalog, people: int, seed: int, more_photos=None) -> Corrections:
    """200 random corrections, a regroup by each method (twice; some per segment) after every
    12, and an incremental step (with new photos, when given) after each regroup; every
    correction is checked to hold after each."""
    corrections = Corrections(catalog, seed=seed)
    for round_, method in enumerate(METHODS * 2):
        for _ in range(12):
            corrections.one()
        before = corrections.state()
        _check(catalog, before, "corrections")
        if method == "kmeans":
            cluster_catalog(catalog, method=method, n_clusters=people)
        elif round_ % 3 == 2:
            cluster_per_segment(catalog, method=method, threshold=0.5)
        else:
            cluster_catalog(catalog, method=method, threshold=0.5)
        _check(catalog, before, method)
        more = corrections.state()
        if more_photos is not None:
            catalog.add_results(more_photos(round_))
        done = assign_new_faces(catalog)
        _check(catalog, more, f"incremental after {method}")
        if more_photos is not None and isinstance(done, IncrementalSummary):  # per segment: full
            assert done.new_faces > 0
    for _ in range(200 - 12 * len(METHODS) * 2):
        corrections.one()
    _check(catalog, corrections.state(), "end")
    assert len(corrections.done) >= 150  # most corrections were applied, not refused
    assert {"name", "merge", "split", "move", "reject", "hide", "forget"} <= set(corrections.done)
    return corrections


def test_every_grouping_obeys_200_random_corrections(tmp_path):
    later, _ = _results(people=16, per_person=4, seed=1, noise=0.08, prefix="/later")
    with _synthetic(tmp_path / "c.db", people=14, per_person=8, noise=0.08) as catalog:
        cluster_catalog(catalog, method="infomap")
        _obeys(catalog, 14, seed=7, more_photos=lambda r: later[3 * r : 3 * r + 3])


def test_every_grouping_obeys_random_corrections_on_real_faces(people_catalog):
    """The same on the real faces of people-fr and people-deepface (18 people, 71 faces)."""
    with Catalog(people_catalog) as catalog:
        _obeys(catalog, 18, seed=11)


@pytest.mark.parametrize("method", ["chinese-whispers", "leader"])
def test_incremental_needs_no_full_regroup(tmp_path, method):
    """The incremental path groups only the new faces: the old ones are never re-clustered."""
    with _synthetic(tmp_path / "c.db", people=10, per_person=6) as catalog:
        cluster_catalog(catalog, method=method, threshold=0.5)
        before = dict(zip(*catalog.assignments(), strict=True))
        rng = np.random.default_rng(5)
        centres = np.random.default_rng(99).normal(size=(64, SPEC.dim))
        catalog.add_results([ImageResult(f"/s/late{i}.jpg", 1, 1, "ok", 9, 9,
                             faces=[_vector(centres[i % 12], rng, 0.05)]) for i in range(12)])
        done = assign_new_faces(catalog)
        after = dict(zip(*catalog.assignments(), strict=True))
        assert all(after[f] == p for f, p in before.items())
        assert done.joined == 10 and done.new_people == 2  # people 10 and 11 are new
