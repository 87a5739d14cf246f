"""Clustering metrics against hand-computed cases, label loading, and `faceatlas eval`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faceatlas.catalog import Catalog
from faceatlas.evaluate import (
    evaluate_catalog,
    file_labels,
    folder_labels,
    score_labels,
    singletons_for_noise,
)
from faceatlas.faces.record import Face, ImageResult
from faceatlas.metrics import cluster_scores
from tests.conftest import faceatlas
from tests.fake_model import FakeModel


def test_scores_of_a_hand_computed_case():
    # truth a a a b b, predicted {1,2} {3,4,5}
    s = cluster_scores(["a", "a", "a", "b", "b"], [0, 0, 1, 1, 1])
    # pairs: predicted 1 + 3 = 4, true 3 + 1 = 4, shared (1,2) and (4,5) = 2
    assert s.pairwise_precision == pytest.approx(0.5)
    assert s.pairwise_recall == pytest.approx(0.5)
    assert s.pairwise_f == pytest.approx(0.5)
    # BCubed per item: P = 1, 1, 1/3, 2/3, 2/3; R = 2/3, 2/3, 1/3, 1, 1
    assert s.bcubed_precision == pytest.approx(11 / 15)
    assert s.bcubed_recall == pytest.approx(11 / 15)
    assert s.bcubed_f == pytest.approx(11 / 15)
    assert (s.clusters, s.identities, s.singletons) == (2, 2, 0)


def test_perfect_all_merged_and_all_split():
    truth = ["a", "a", "b", "b", "c"]
    perfect = cluster_scores(truth, [5, 5, 9, 9, 1])
    assert perfect.pairwise_f == perfect.bcubed_f == pytest.approx(1.0)
    assert perfect.nmi == pytest.approx(1.0)
    merged = cluster_scores(truth, [0] * 5)
    assert merged.pairwise_recall == 1.0 and merged.pairwise_precision == pytest.approx(2 / 10)
    # BCubed precision: (2/5 * 4 + 1/5) / 5
    assert merged.bcubed_precision == pytest.approx((0.4 * 4 + 0.2) / 5)
    split = cluster_scores(truth, [0, 1, 2, 3, 4])
    assert split.pairwise_precision == 1.0 and split.pairwise_recall == 0.0
    assert split.pairwise_f == 0.0
    assert split.bcubed_recall == pytest.approx((0.5 * 4 + 1) / 5)
    assert split.singletons == 5


def test_noise_becomes_single_face_people():
    assert singletons_for_noise(np.array([-1, 0, -1, 0])).tolist() == [1, 0, 2, 0]
    s = cluster_scores(["a", "a", "b"], singletons_for_noise(np.array([-1, -1, -1])))
    assert s.clusters == 3 and s.pairwise_recall == 0.0


def _face(box: tuple[int, int, int, int], seed: int) -> Face:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return Face(
        box=box, landmarks=np.zeros((5, 2), np.float32), score=1.0, embedding=v / np.linalg.norm(v)
    )


def _catalog(tmp_path) -> Catalog:
    """Two photos of ann (one with a stranger in the corner), one of bob."""
    catalog = Catalog(tmp_path / "c.db")
    catalog.face_set_for(FakeModel(dim=128).spec())
    photos = {
        "ann/1.jpg": [_face((0, 0, 20, 20), 1), _face((40, 40, 60, 60), 2)],  # centre: 2nd
        "ann/2.jpg": [_face((45, 35, 65, 55), 3)],
        "bob/1.jpg": [_face((30, 30, 70, 70), 4)],
    }
    catalog.add_results(
        ImageResult(
            path=str(tmp_path / p),
            size=1,
            mtime_ns=1,
            status="ok",
            width=100,
            height=100,
            faces=f,
            model="m",
        )
        for p, f in photos.items()
    )
    return catalog


def test_folder_labels_only_label_the_central_face(tmp_path):
    with _catalog(tmp_path) as catalog:
        labels = folder_labels(catalog)
        ids = catalog.face_matrix().face_ids
    # faces 1..4: face 1 is the stranger in the corner of ann/1.jpg
    assert labels.face_ids.tolist() == ids[1:].tolist()
    assert labels.identities.tolist() == ["ann", "ann", "bob"]


def test_file_labels_resolve_relative_paths(tmp_path):
    (tmp_path / "labels.csv").write_text("path,identity\nann/2.jpg,Ann\nbob/1.jpg,Bob\n")
    with _catalog(tmp_path) as catalog:
        labels = file_labels(catalog, tmp_path / "labels.csv")
    assert labels.identities.tolist() == ["Ann", "Bob"]
    (tmp_path / "bad.csv").write_text("only-one-column\n")
    with _catalog(tmp_path) as catalog, pytest.raises(ValueError, match="path,identity"):
        file_labels(catalog, tmp_path / "bad.csv")


def test_stored_clustering_is_scored_on_labelled_faces_only(tmp_path):
    with _catalog(tmp_path) as catalog:
        ids = catalog.face_matrix().face_ids
        with pytest.raises(ValueError, match="no people yet"):
            evaluate_catalog(catalog, "folder")
        # the stranger joins ann's people: it carries no label, so the score stays perfect
        catalog.save_clustering("manual", {}, ids, np.array([0, 0, 0, 1]))
        assert evaluate_catalog(catalog, "folder").pairwise_f == 1.0
        catalog.save_clustering("manual", {}, ids, np.array([0, 1, 2, -1]))
        s = evaluate_catalog(catalog, "folder")
        assert s.pairwise_recall == 0.0 and s.clusters == 3
        with pytest.raises(ValueError, match="no predicted label"):
            score_labels(folder_labels(catalog), ids[:2], np.array([0, 0]))


def test_eval_command_on_real_people(people_catalog, tmp_path):
    out = faceatlas("eval", "--db", people_catalog, "--labels", "folder", "--json")
    scores = json.loads(out.stdout)
    assert scores["identities"] == 18
    # the default, now deterministic (faces clustered in path order), gives 0.935 / 0.967 here:
    # one look-alike pair of people merged (issue 2 asks >= 0.9; see test_export)
    assert scores["pairwise_f"] >= 0.93 and scores["bcubed_f"] >= 0.95
    text = faceatlas("eval", "--db", people_catalog, "--labels", "folder").stdout
    assert "pairwise  precision" in text and "for 18 identities" in text
    # the same labels as a CSV file give the same scores
    with Catalog(people_catalog) as catalog:
        paths = [image.path for image in catalog.images() if image.status == "ok"]
    csv = tmp_path / "labels.csv"
    csv.write_text("".join(f"{p},{p.split('/')[-2]}\n" for p in paths))
    again = json.loads(faceatlas("eval", "--db", people_catalog, "--labels", csv, "--json").stdout)
    assert again == scores


def test_eval_command_errors(people_catalog, tmp_path):
    bad = faceatlas("eval", "--db", people_catalog, "--labels", "nonsense", check=False)
    assert bad.returncode != 0 and "neither 'folder' nor a file" in bad.stderr
    missing = faceatlas("eval", "--db", tmp_path / "none.db", "--labels", "folder", check=False)
    assert missing.returncode == 1 and "no catalog" in missing.stderr
    help_text = faceatlas("eval", "--help").stdout
    assert "Example:" in help_text and "--labels" in help_text
