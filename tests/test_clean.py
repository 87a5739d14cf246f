"""`faceatlas clean` on a small LFW set with planted photos: 4 people x 5 photos, one more photo
of one of them filed under another, 3 photos of a person with no folder filed under a third, a
faceless image and a byte-identical copy; dry run; modes; reruns; bad settings."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from faceatlas.cli import main
from faceatlas.errors import UsageError
from faceatlas.outputs.audit import CleanConfig, clean_dataset, run_audit
from faceatlas.outputs.audit.clean import plan_clean
from tests.conftest import data, faceatlas, lfw_people, link_tree
from tests.toy import toy_dataset

PEOPLE = 4  # people with a folder, 5 photos each
MOVED = ("Adrien_Brody_0007.jpg", "Al_Gore")  # one more photo of Adrien Brody, under Al Gore
STRANGER = "Ana_Palacio"  # no folder: 3 of her photos are filed under Abdullah Gul
STRANGER_FOLDER = "Abdullah_Gul"
NO_FACE = ("Abdoulaye_Wade/Abdoulaye_Wade_0003.jpg", "Alejandro_Toledo")
COPY = "Adrien_Brody/Adrien_Brody_0001_copy.jpg"


def build_dataset(dest: Path) -> dict[str, str]:
    """The planted dataset under ``dest``; returns planted file name -> expected reason."""
    photos = lfw_people(min_images=8, max_people=PEOPLE, per_person=5)
    assert {p.parent.name for p in photos} == {
        "Abdullah_Gul", "Adrien_Brody", "Al_Gore", "Alejandro_Toledo"
    }  # fmt: skip
    link_tree(photos, dest)
    name, folder = MOVED
    (dest / folder / name).symlink_to(data("lfw", name.rsplit("_", 1)[0], name))
    planted = {name: "other person"}
    for photo in sorted(data("lfw", STRANGER).glob("*.jpg"))[:3]:
        (dest / STRANGER_FOLDER / photo.name).symlink_to(photo)
        planted[photo.name] = "other person"
    source, folder = NO_FACE
    (dest / folder / Path(source).name).symlink_to(data("lfw", source))
    planted[Path(source).name] = "no face"
    shutil.copyfile(data("lfw", "Adrien_Brody", "Adrien_Brody_0001.jpg"), dest / COPY)
    planted[Path(COPY).name] = "duplicate"
    return planted


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def tree(root: Path) -> list[tuple[str, bool]]:
    """Every path under ``root`` (relative) and whether it is a link: to compare before/after."""
    return sorted((str(p.relative_to(root)), p.is_symlink()) for p in root.rglob("*"))


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    """(dataset, catalog of its photos made by `faceatlas index`, planted name -> reason)."""
    root = tmp_path_factory.mktemp("clean")
    dataset = root / "dataset"
    expected = build_dataset(dataset)
    db = root / "catalog.db"
    faceatlas("index", dataset, "--db", db, "--workers", "2", "-q", "--no-search-index")
    return dataset, db, expected


def test_clean_keeps_each_identity_and_lists_what_it_left_out(planted, tmp_path):
    dataset, db, expected = planted
    before = tree(dataset)
    out = tmp_path / "out"
    result = faceatlas("clean", dataset, out, "--db", db, "-q")
    assert "kept 20 images in 4 folders, left out 6" in result.stdout
    assert tree(dataset) == before  # originals untouched
    for folder in ("Abdullah_Gul", "Adrien_Brody", "Al_Gore", "Alejandro_Toledo"):
        files = sorted(p.name for p in (out / folder).iterdir())
        assert files == [f"{folder}_{n:04d}.jpg" for n in range(1, 6)], folder
        assert all(not p.is_symlink() for p in (out / folder).iterdir())  # --mode copy
    assert (out / "Al_Gore" / "Al_Gore_0001.jpg").read_bytes() == (
        data("lfw", "Al_Gore", "Al_Gore_0001.jpg").read_bytes()
    )
    removed = {Path(r["path"]).name: r for r in read_csv(out / "removed.csv")}
    assert {name: r["reason"] for name, r in removed.items()} == expected
    assert removed[MOVED[0]]["likely_folder"] == "Adrien_Brody"
    for photo in sorted(data("lfw", STRANGER).glob("*.jpg"))[:3]:
        row = removed[photo.name]
        assert row["folder"] == STRANGER_FOLDER
        assert row["likely_folder"] == ""  # she has no folder: none is suggested
    assert "Adrien_Brody_0001.jpg" in removed[Path(COPY).name]["detail"]
    folders = {r["folder"]: r for r in read_csv(out / "folders.csv")}
    assert {f: r["status"] for f, r in folders.items()} == dict.fromkeys(folders, "kept")
    assert folders[STRANGER_FOLDER]["largest"] == "5" and folders[STRANGER_FOLDER]["second"] == "3"
    kept = read_csv(out / "kept.csv")
    assert len(kept) == 20 and all((out / r["file"]).is_file() for r in kept)


def test_dry_run_writes_nothing_and_says_what_it_would_do(planted, tmp_path):
    dataset, db, _ = planted
    catalog_bytes = db.read_bytes()
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["clean", str(dataset), str(out), "--db", str(db), "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert not out.exists()
    assert db.read_bytes() == catalog_bytes
    lines = result.output.splitlines()
    assert sum(line.startswith("write  ") for line in lines) == 20
    assert f"write  {out / 'Al_Gore' / 'Al_Gore_0001.jpg'}" in lines
    assert any(
        line.startswith(f"remove {dataset / MOVED[1] / MOVED[0]}: other person -> Adrien_Brody")
        for line in lines
    )
    assert "dry run: nothing written" in lines


def test_dry_run_without_a_catalog_indexes_into_a_temporary_one(planted, tmp_path):
    """No --db: the catalog would be OUT/faceatlas.db; a dry run creates neither OUT nor it."""
    dataset, _, _ = planted
    small = tmp_path / "small"
    small.mkdir()
    for folder in ("Al_Gore", "Adrien_Brody"):
        shutil.copytree(dataset / folder, small / folder, symlinks=True)
    out = tmp_path / "out"
    run = clean_dataset(small, out, config=CleanConfig(min_faces=3), dry_run=True)
    assert not out.exists()
    assert run.written == {} and run.dry_run
    assert run.plan.summary()["kept_folders"] == 2


def test_symlinks_and_a_rerun_replace_only_what_clean_wrote(planted, tmp_path):
    dataset, db, _ = planted
    out = tmp_path / "out"
    first = clean_dataset(dataset, out, db, CleanConfig(mode="symlink"), index=False)
    link = out / "Al_Gore" / "Al_Gore_0001.jpg"
    original = data("lfw", "Al_Gore", "Al_Gore_0001.jpg").resolve()
    assert link.is_symlink() and link.resolve() == original
    mine = out / "Al_Gore" / "notes.txt"
    mine.write_text("not from clean")
    second = clean_dataset(dataset, out, db, CleanConfig(min_faces=6), index=False)
    assert mine.read_text() == "not from clean"  # never removed: kept.csv did not list it
    assert not (out / "Al_Gore" / "Al_Gore_0001.jpg").exists()  # min 6: no folder kept
    assert second.plan.kept == [] and len(first.plan.kept) == 20
    assert {f.status for f in second.plan.folders} == {"folder below minimum"}
    (out / "Adrien_Brody").mkdir(exist_ok=True)
    (out / "Adrien_Brody" / "Adrien_Brody_0002.jpg").write_text("someone else's file")
    with pytest.raises(UsageError, match="not written by `faceatlas clean`"):
        clean_dataset(dataset, out, db, index=False)


def test_bad_settings_and_places_are_refused(planted, tmp_path):
    dataset, db, _ = planted
    runner = CliRunner()
    result = runner.invoke(main, ["clean", str(dataset), str(dataset / "out"), "--db", str(db)])
    assert result.exit_code == 2 and "OUT must be outside the dataset" in result.output
    result = runner.invoke(main, ["clean", str(dataset), str(tmp_path), "--min-faces", "0"])
    assert result.exit_code == 2
    with pytest.raises(UsageError, match="unknown mode"):
        CleanConfig(mode="move")
    result = runner.invoke(main, ["clean", "--help"])
    assert result.exit_code == 0 and "Example:" in result.output


def toy_plan(layout: dict[str, list[str]], min_faces: int = 3):
    """Clean made-up people (``tests.toy.toy_dataset``)."""
    dataset, faces, digests = toy_dataset(layout, seed=3, dim=32, noise=0.25)
    audit = run_audit(dataset, faces, digests)
    plan = plan_clean(audit, CleanConfig(min_faces=min_faces, threshold=0.6))
    return plan, [Path(p).stem for p in dataset.paths]


def test_ties_and_small_folders_are_left_out_and_reported():
    plan, names = toy_plan(
        {
            "a": ["a1", "a2", "a3", "a4"],
            "b": ["b1", "b2", "b3", "c1", "c2", "c3"],  # two groups of 3: no majority
            "d": ["d1", "d2"],  # below the minimum
        }
    )
    status = {f.folder: f.status for f in plan.folders}
    assert status == {"a": "kept", "b": "no majority", "d": "folder below minimum"}
    assert [names[i] for i in plan.kept] == ["a1", "a2", "a3", "a4"]
    reasons = {names[r.item]: r.reason for r in plan.removed}
    assert reasons == {
        **dict.fromkeys(["b1", "b2", "b3", "c1", "c2", "c3"], "no majority"),
        "d1": "folder below minimum",
        "d2": "folder below minimum",
    }
    summary = plan.summary()
    assert summary["folders_without_majority"] == 1 and summary["folders_below_minimum"] == 1


def test_library_summary_is_json_ready(planted, tmp_path):
    dataset, db, _ = planted
    run = clean_dataset(dataset, tmp_path / "out", db, index=False, dry_run=True)
    numbers = json.loads(json.dumps(run.summary()))
    assert numbers["kept_images"] == 20 and numbers["removed"] == 6
    assert numbers["removed_by_reason"]["other person"] == 4
