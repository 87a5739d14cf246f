"""LFW verification: the pairs protocol, the threshold search, and a real run on a few pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faceatlas.decode import load_rgb
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.verification import (
    Pair,
    best_threshold,
    fallback_embeddings,
    k_fold,
    read_pairs,
)
from tests.conftest import data, faceatlas

# Lines of the official pairs.txt: 2 folds x (4 same + 4 different), all faces HOG finds.
REAL_PAIRS = """2 4
Abel_Pacheco 1 4
Akhmed_Zakayev 1 3
Amber_Tamblyn 1 2
Anders_Fogh_Rasmussen 1 3
Abdel_Madi_Shabneh 1 Dean_Barker 1
Abdul_Rahman 1 Portia_de_Rossi 1
Abel_Pacheco 1 Jong_Thae_Hwa 2
Afton_Smith 1 Dwayne_Wade 1
Abdullah_Gul 1 6
Abdullah_Gul 9 12
Adolfo_Rodriguez_Saa 1 2
Adrien_Brody 2 3
Adolfo_Rodriguez_Saa 1 Dave_Odom 1
Adrien_Brody 3 Damon_Dash 1
Ahmed_Ahmed 1 Mike_Smith 1
Alberto_Sordi 1 James_Cameron 2
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pairs.txt"
    path.write_text(text.replace(" ", "\t"))
    return path


def test_read_pairs_folds_and_kinds(tmp_path: Path) -> None:
    pairs = read_pairs(write(tmp_path, "2 1\nAl 1 12\nAl 1 Bo 3\nCy 2 4\nCy 1 Di 1\n"))
    assert pairs == [
        Pair("Al/Al_0001.jpg", "Al/Al_0012.jpg", True, 0),
        Pair("Al/Al_0001.jpg", "Bo/Bo_0003.jpg", False, 0),
        Pair("Cy/Cy_0002.jpg", "Cy/Cy_0004.jpg", True, 1),
        Pair("Cy/Cy_0001.jpg", "Di/Di_0001.jpg", False, 1),
    ]


def test_read_pairs_official_file_shape() -> None:
    pairs = read_pairs(data("lfw-pairs", "pairs.txt"))
    assert len(pairs) == 6000
    for fold in range(10):
        in_fold = [p for p in pairs if p.fold == fold]
        assert sum(p.same for p in in_fold) == 300 and len(in_fold) == 600
    assert pairs[0] == Pair("Abel_Pacheco/Abel_Pacheco_0001.jpg",
                            "Abel_Pacheco/Abel_Pacheco_0004.jpg", True, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Al 1 2\n", "first line"),
        ("1 2\nAl 1 2\nAl 1 Bo 1\n", "header promises"),
        ("1 1\nAl 1 Bo 2\nAl 1 Bo 1\n", "same-person"),
        ("1 1\nAl 1 2\nAl 1 2\n", "different-person"),
    ],
)
def test_read_pairs_rejects_malformed(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_pairs(write(tmp_path, text))


def test_best_threshold_hand_computed() -> None:
    assert best_threshold(np.array([0.4, 0.1, 0.3, 0.2]), np.array([0, 1, 0, 1])) == pytest.approx(
        0.25
    )
    # Sorted: .1 same, .2 same, .3 diff, .35 same, .5 diff. Splitting at .25 or at .425 both get
    # 4 of 5 right; the smaller threshold wins the tie.
    d = np.array([0.1, 0.3, 0.2, 0.35, 0.5])
    assert best_threshold(d, np.array([1, 0, 1, 1, 0])) == pytest.approx(0.25)
    # Equal distances cannot be split: the threshold never lands between them.
    # (.2 same, .2 same, .2 different, .6 different: 3 of 4 right only at the .4 split.)
    d = np.array([0.2, 0.2, 0.2, 0.6])
    assert best_threshold(d, np.array([1, 1, 0, 0])) == pytest.approx(0.4)
    assert best_threshold(np.array([0.2, 0.3]), np.array([1, 1])) > 0.3


def test_k_fold_uses_the_other_folds_threshold() -> None:
    # Fold 0 alone would want 0.45; folds 1 and 2 say 0.25, so fold 0 loses its 0.3 same pair.
    # Fold 2 gets 0.35 from folds 0 and 1, which calls its 0.3 different pair "same".
    d = np.array([0.1, 0.3, 0.6, 0.1, 0.4, 0.2, 0.3])
    same = np.array([1, 1, 0, 1, 0, 1, 0])
    folds = np.array([0, 0, 0, 1, 1, 2, 2])
    result = k_fold(d, same, folds)
    np.testing.assert_allclose(result.thresholds, [0.25, 0.25, 0.35])
    np.testing.assert_allclose(result.accuracies, [2 / 3, 1.0, 0.5])
    assert result.mean == pytest.approx((2 / 3 + 1.5) / 3)
    with pytest.raises(ValueError, match="2 folds"):
        k_fold(d, same, np.zeros(7))


def test_eval_verification_on_real_pairs(tmp_path: Path) -> None:
    lfw = data("lfw")
    pairs = write(tmp_path, REAL_PAIRS)
    result = faceatlas(
        "eval-verification", "--pairs", pairs, "--lfw", lfw, "--workers", "1", "--json"
    )
    report = json.loads(result.stdout)
    assert report["pairs"] == 16 and report["images"] == 29
    assert report["indexed"] == 29 and report["fallback_images"] == []
    assert len(report["fold_accuracies"]) == 2
    assert report["mean_accuracy"] >= 15 / 16
    assert all(0.3 < t < 0.6 for t in report["fold_thresholds"])


def test_eval_verification_reuses_a_catalog(tmp_path: Path) -> None:
    lfw = data("lfw")
    pairs = write(tmp_path, REAL_PAIRS)
    db = tmp_path / "lfw.db"
    gul = lfw / "Abdullah_Gul"
    faceatlas("index", gul / "Abdullah_Gul_0001.jpg", gul / "Abdullah_Gul_0006.jpg", "--db", db,
              "--workers", "1", "--quiet")
    first = json.loads(
        faceatlas("eval-verification", "--pairs", pairs, "--lfw", lfw, "--db", db,
                  "--workers", "1", "--json").stdout
    )
    again = json.loads(
        faceatlas("eval-verification", "--pairs", pairs, "--lfw", lfw, "--db", db,
                  "--workers", "1", "--json").stdout
    )
    assert first["indexed"] == 29 - 2  # two of the pair images were in the catalog already
    assert again["indexed"] == 0
    assert again["mean_accuracy"] == first["mean_accuracy"]


def test_eval_verification_rejects_wrong_lfw_folder(tmp_path: Path) -> None:
    result = faceatlas(
        "eval-verification", "--pairs", write(tmp_path, REAL_PAIRS), "--lfw", tmp_path,
        check=False,
    )
    assert result.returncode == 1
    assert "pair images are not in" in result.stderr


def test_fallback_finds_the_face_hog_misses() -> None:
    # HOG finds no face in Colin_Montgomerie_0004 (turned head); the CNN retry does.
    person = data("lfw", "Colin_Montgomerie")
    missed, other = person / "Colin_Montgomerie_0004.jpg", person / "Colin_Montgomerie_0001.jpg"
    stranger = data("lfw", "Abel_Pacheco", "Abel_Pacheco_0001.jpg")
    model = ModelConfig()
    pipeline = model.build()
    assert pipeline.analyze(load_rgb(missed)) == []

    vector = fallback_embeddings([str(missed)], model)[str(missed)]

    same, different = (pipeline.analyze(load_rgb(p))[0].embedding for p in (other, stranger))
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    # LFW's learned thresholds are 0.42-0.43 (Euclidean distance between unit embeddings).
    assert np.linalg.norm(vector - same) < 0.42 < np.linalg.norm(vector - different)
