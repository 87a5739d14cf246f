"""`faceatlas audit` on a small LFW set with injected label noise, a copy, a faceless and a
two-face image; quarantine and its undo; the blocked pair search against brute force."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from faceatlas.catalog import Catalog
from faceatlas.cli import main
from faceatlas.outputs.audit import analysis, audit_dataset, run_audit
from faceatlas.outputs.audit.write import COLUMNS
from tests.conftest import data, faceatlas, lfw_people, link_tree
from tests.toy import toy_dataset

# (image, wrong folder it is moved into): the injected label noise
MOVED = {
    "Al_Gore_0002.jpg": "Ana_Palacio",
    "Amelie_Mauresmo_0003.jpg": "Alvaro_Uribe",
    "Alejandro_Toledo_0004.jpg": "Adrien_Brody",
}
# (image of a person with no folder here, folder it is filed under): the closest folder of a
# stranger is only a look-alike and must not be suggested (Anna Kournikova once got "move to
# Renee_Zellweger")
STRANGERS = {
    "Anna_Kournikova/Anna_Kournikova_0001.jpg": "Ali_Naimi",
    "Renee_Zellweger/Renee_Zellweger_0001.jpg": "Al_Gore",
}
TWO_FACES = "Abdullah_Gul/Abdullah_Gul_0008.jpg"  # a background face beside the labeled one
NO_FACE = "Abdoulaye_Wade/Abdoulaye_Wade_0003.jpg"  # the HOG detector finds no face here
COPY = "Adrien_Brody/Adrien_Brody_0001_copy.jpg"  # byte-identical copy of Adrien_Brody_0001


def build_dataset(dest: Path) -> Path:
    """8 LFW people x 6 images as symlinks, 3 of them in a wrong folder, 2 strangers, plus the
    extras."""
    link_tree(lfw_people(min_images=8, max_people=8, per_person=6), dest)
    for name, wrong in MOVED.items():
        link = next(dest.glob(f"*/{name}"))
        target = dest / wrong / name
        link.rename(target)
    for photo, folder in STRANGERS.items():
        (dest / folder / Path(photo).name).symlink_to(data("lfw", photo))
    for extra in (TWO_FACES, NO_FACE):
        (dest / extra).parent.mkdir(exist_ok=True)
        (dest / extra).symlink_to(data("lfw", extra))
    shutil.copyfile(data("lfw", "Adrien_Brody", "Adrien_Brody_0001.jpg"), dest / COPY)
    return dest


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture(scope="module")
def audited(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(dataset, out, catalog) after one `faceatlas audit` run."""
    root = tmp_path_factory.mktemp("audit")
    dataset = build_dataset(root / "dataset")
    out, db = root / "out", root / "catalog.db"
    faceatlas("audit", dataset, "--out", out, "--db", db, "--workers", "2", "-q")
    return dataset, out, db


def test_moved_images_are_ranked_first_with_their_true_folder(audited):
    _, out, _ = audited
    header, rows = read_csv(out / "mislabeled.csv")
    assert {"path", "folder", "suggested_folder", "score"} <= set(header)
    top = rows[: len(MOVED)]
    found = {Path(r["path"]).name: r for r in top}
    assert set(found) == set(MOVED)
    for name, row in found.items():
        assert row["folder"] == MOVED[name]
        assert row["suggested_folder"] == name.rsplit("_", 1)[0]  # its true identity
        assert row["action"] == f"move to {row['suggested_folder']}"
        assert float(row["score"]) > 0.05
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert len(rows) <= len(MOVED) + len(STRANGERS) + 1  # at most one false alarm


def test_strangers_are_flagged_without_suggesting_a_wrong_folder(audited):
    _, out, _ = audited
    _, rows = read_csv(out / "mislabeled.csv")
    found = {Path(r["path"]).name: r for r in rows}
    for photo, folder in STRANGERS.items():
        row = found[Path(photo).name]
        assert row["folder"] == folder
        assert row["suggested_folder"] == ""
        assert row["action"].startswith("unknown person")
        assert float(row["best_similarity"]) < float(row["suggest_above"])
    for name in MOVED:  # a photo whose person has a folder still gets it suggested
        assert float(found[name]["best_similarity"]) >= float(found[name]["suggest_above"])


def test_every_csv_has_its_header_and_findings(audited):
    dataset, out, _ = audited
    for name, columns in COLUMNS.items():
        header, _ = read_csv(out / name)
        assert header == columns, name
    _, pairs = read_csv(out / "suspect_pairs.csv")
    assert all(p["folder_a"] != p["folder_b"] for p in pairs)
    sims = [float(p["similarity"]) for p in pairs]
    assert sims == sorted(sims, reverse=True)
    moved_pairs = [
        p for p in pairs
        if Path(p["path_a"]).name in MOVED or Path(p["path_b"]).name in MOVED
    ]
    assert moved_pairs, "a moved image must pair with its true folder"

    _, dups = read_csv(out / "duplicates.csv")
    same_file = [d for d in dups if d["kind"] == "same_file"]
    assert len(same_file) == 1
    assert {Path(same_file[0]["path_a"]).name, Path(same_file[0]["path_b"]).name} == {
        "Adrien_Brody_0001.jpg",
        "Adrien_Brody_0001_copy.jpg",
    }
    assert same_file[0]["action"] == "delete the extra copy"

    _, no_face = read_csv(out / "no_face.csv")
    assert [r["path"] for r in no_face] == [str(dataset / NO_FACE)]
    assert no_face[0]["status"] == "no_face"

    _, many = read_csv(out / "many_faces.csv")
    two = next(r for r in many if r["path"] == str(dataset / TWO_FACES))
    assert int(two["faces"]) == 2
    assert two["rule"] == "most like the folder's single-face images"
    assert float(two["support"]) > float(two["runner_up"])
    left, top, right, bottom = map(int, two["chosen_box"].split(","))
    # the labeled face of a deep-funneled LFW image is the one in the middle of the 250 px frame
    assert abs((left + right) / 2 - 125) < 30 and abs((top + bottom) / 2 - 125) < 30


def test_report_is_self_contained_with_crops(audited):
    _, out, _ = audited
    page = (out / "report.html").read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) >= 3 * len(MOVED)
    for src in sources:
        assert not src.startswith(("/", "file:", "http")), src
        assert (out / src).is_file(), src
    for name in MOVED:
        assert name in page
        assert f"move to {name.rsplit('_', 1)[0]}" in page


def test_quarantine_moves_flagged_images_and_undo_restores_them(audited, tmp_path):
    source, _, db = audited
    dataset = tmp_path / "dataset"
    shutil.copytree(source, dataset, symlinks=True)
    (dataset / COPY).unlink()
    (dataset / COPY).symlink_to(source / COPY)  # so every image resolves to an indexed file
    before = sorted(p.relative_to(dataset) for p in dataset.rglob("*.jpg"))
    quarantine = tmp_path / "quarantine"
    with Catalog(db) as catalog:
        indexed_before = catalog.stats()["images"]
    result = faceatlas(
        "audit", dataset, "--out", tmp_path / "out", "--db", db, "-q",
        "--apply", "quarantine", quarantine,
    )
    assert "faceatlas unquarantine" in result.stdout
    with Catalog(db) as catalog:  # links resolve to the photos indexed before: nothing is new
        assert catalog.stats()["images"] == indexed_before
    moved = {p.name for p in quarantine.rglob("*.jpg")}
    assert set(MOVED) | {Path(COPY).name} <= moved
    for name, wrong in MOVED.items():
        assert not (dataset / wrong / name).exists()
        assert (quarantine / wrong / name).is_symlink()
    _, log = read_csv(quarantine / "quarantine_log.csv")
    assert {Path(r["original"]).name for r in log} == moved

    runner = CliRunner()
    undo = runner.invoke(main, ["unquarantine", str(quarantine)])
    assert undo.exit_code == 0 and f"restored {len(moved)} images" in undo.output
    assert sorted(p.relative_to(dataset) for p in dataset.rglob("*.jpg")) == before
    assert not list(quarantine.rglob("*.jpg"))
    assert not (quarantine / "quarantine_log.csv").exists()
    second = runner.invoke(main, ["unquarantine", str(quarantine)])
    assert second.exit_code == 2 and "no quarantine log" in second.output  # a UsageError


def test_quarantine_inside_the_dataset_is_refused(audited, tmp_path):
    dataset, _, db = audited
    result = CliRunner().invoke(
        main,
        ["audit", str(dataset), "--out", str(tmp_path / "out"), "--db", str(db), "-q",
         "--apply", "quarantine", str(dataset / "quarantine")],
    )
    assert result.exit_code == 2
    assert "outside the dataset" in result.output
    assert not (dataset / "quarantine").exists()


def test_the_library_call_is_what_the_command_ran(audited, tmp_path):
    """``audit_dataset`` (what `faceatlas audit` runs) on the same catalog, without indexing:
    the same findings, every step timed, nothing moved."""
    dataset, out, db = audited
    audit = audit_dataset(dataset, tmp_path / "again", db, index=False, top=5)
    summary = json.loads((out / "summary.json").read_text())
    numbers = audit.summary()
    for key in ("images", "folders", "mislabeled", "outliers", "duplicates", "no_face"):
        assert numbers[key] == summary[key], key
    assert audit.indexed is None and audit.quarantined is None
    assert set(audit.written) == {*COLUMNS, "summary.json", "report.html"}
    assert {"scan", "index", "load_faces", "hash_files", "analysis", "write"} <= set(audit.seconds)
    assert not (tmp_path / "again" / "faceatlas.db").exists()  # the given catalog was used


def test_bad_inputs_fail_clearly(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copyfile(data("lfw", "Al_Gore", "Al_Gore_0001.jpg"), flat / "a.jpg")
    runner = CliRunner()
    result = runner.invoke(main, ["audit", str(flat), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "no images in identity folders" in result.output
    result = runner.invoke(main, ["audit", str(flat), "--threshold", "high"])
    assert result.exit_code == 2 and "expected 'auto' or a number" in result.output
    result = runner.invoke(main, ["audit", str(flat), "--threshold", "3"])
    assert result.exit_code == 2 and "threshold must be a distance" in result.output
    assert not (tmp_path / "out").exists()


def test_help_explains_with_examples():
    for command in ("audit", "unquarantine"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert result.exit_code == 0 and "Example:" in result.output


def test_blocked_range_search_equals_brute_force(monkeypatch):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(40, 16))
    X = centres[rng.integers(0, 40, 700)] + 0.35 * rng.normal(size=(700, 16))
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    folder = rng.integers(0, 60, 700)
    monkeypatch.setattr(analysis, "QUERY_BLOCK", 128)  # many blocks, same answer
    cross, dups = analysis._range_pairs(X, folder, threshold=0.6, duplicate_distance=0.3)
    S = X @ X.T
    a, b = np.triu_indices(len(X), 1)
    want = {
        (int(i), int(j))
        for i, j in zip(a, b, strict=True)
        if folder[i] != folder[j] and S[i, j] > analysis.similarity_of(0.6) + 1e-5
    }
    got = {(i, j) for i, j, _ in cross}
    assert want and want <= got
    assert all(S[i, j] > analysis.similarity_of(0.6) - 1e-5 for i, j, _ in cross)
    assert [s for *_, s in cross] == sorted((s for *_, s in cross), reverse=True)
    assert all(S[i, j] > analysis.similarity_of(0.3) - 1e-5 for i, j, _ in dups)


def toy_audit(layout: dict[str, list[str]], config: analysis.AuditConfig) -> tuple[list, list]:
    """Audit made-up people (``tests.toy.toy_dataset``); the stems of the mislabeled photos."""
    dataset, faces, digests = toy_dataset(layout, seed=1, dim=16, noise=0.15)
    result = run_audit(dataset, faces, digests, config)
    return [Path(dataset.paths[m.item]).stem for m in result.mislabeled], result.mislabeled


def test_only_the_misfiled_photo_is_blamed_not_its_twin():
    config = analysis.AuditConfig(threshold=0.5, margin=0.1)
    # a2 was misfiled among x's photos; a1 is left alone in its folder
    names, found = toy_audit(
        {"a": ["a1"], "x": ["x1", "x2", "x3", "a2"], "b": ["b1", "b2", "b3"]}, config
    )
    assert names == ["a2"] and found[0].closest == "a"
    # a1 now shares its folder with an intruder c1: still only a2 is blamed for a1's sake, since
    # a2 is no member of x's majority and cannot speak for x
    names, _ = toy_audit(
        {"a": ["a1", "c1"], "x": ["x1", "x2", "x3", "a2"], "c": ["c2", "c3", "c4"]}, config
    )
    assert "a1" not in names and "a2" in names
