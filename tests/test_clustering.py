"""Clustering methods on real LFW faces, determinism, the auto threshold and `faceatlas cluster`."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
from click.testing import CliRunner

from faceatlas.catalog import Catalog
from faceatlas.cli import main
from faceatlas.evaluate import folder_labels, score_labels
from faceatlas.graph import cache_path, knn_graph
from faceatlas.people.base import Edges, GraphClusterer
from faceatlas.people.chinese_whispers import ChineseWhispers
from faceatlas.people.cluster import cluster_catalog, cluster_vectors
from faceatlas.people.infomap_graph import Infomap
from faceatlas.people.leader import Leader
from faceatlas.people.methods import METHODS, make_clusterer
from faceatlas.people.rank_order import RankOrder, _distance, _position
from faceatlas.people.threshold import (
    DLIB_STRANGERS,
    GROWTH,
    PER_FACE,
    auto_threshold,
    cannot_link_pairs,
)
from tests.conftest import faceatlas, lfw_people, link_tree

PEOPLE, PER_PERSON = 10, 10

# pairwise F each method must reach on the 100 LFW faces below, at --threshold auto
# (kmeans: told the true number of people); measured values are in docs/clustering.md.
# Infomap and Chinese whispers: 0.943 and 0.928 at the stranger-curve cut, 0.3655: this one
# small set dips there (Infomap 0.976 at 0.35, 0.943 at 0.36, 0.979 at 0.37: three of Anna
# Kournikova's faces join Ann Veneman); tests/test_cluster_shapes.py and
# bench/cluster_shapes.py check the cut against the best fixed one on many more collections.
STATED_F = {  # measured before: 0.972, 0.961, 0.905, 0.823, 0.862, 0.561, 0.907, 0.843
    "infomap": 0.92,
    "chinese-whispers": 0.92,
    "leader": 0.85,  # 0.870 face by face (0.905 when a batch's followers joined the nearest)
    "rank-order": 0.80,
    "dbscan": 0.84,
    "hdbscan": 0.54,
    "agglomerative": 0.88,
    "kmeans": 0.82,
}


@pytest.fixture(scope="module")
def lfw_small(tmp_path_factory):
    """Catalog of 10 LFW people with >= 10 images each, 10 images per person."""
    root = tmp_path_factory.mktemp("lfw_small")
    photos = link_tree(lfw_people(10, PEOPLE, PER_PERSON), root / "photos")
    db = root / "lfw.db"
    faceatlas("index", photos, "--db", db, "--quiet")
    with Catalog(db) as catalog:
        # workers store photos in any order: path order gives order-dependent steps (leader,
        # the random pairs of --threshold auto) the same input on every run
        matrix = catalog.face_matrix(order="path")
        truth = folder_labels(catalog)
    return db, matrix, truth


def unit(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.mark.parametrize("method", list(METHODS))
def test_each_method_reaches_its_stated_f_on_lfw(lfw_small, method):
    _, matrix, truth = lfw_small
    assert len(set(truth.identities)) == PEOPLE
    graph = knn_graph(matrix.vectors, 30)
    labels, used, auto = cluster_vectors(
        matrix.vectors,
        matrix.image_ids,
        method=method,
        graph=graph,
        n_clusters=PEOPLE if method == "kmeans" else None,
    )
    scores = score_labels(truth, matrix.face_ids, labels)
    assert scores.pairwise_f >= STATED_F[method], scores
    if method != "kmeans":
        assert 0.2 < used < 0.5 and auto["threshold"] == pytest.approx(used, abs=1e-4)


@pytest.mark.parametrize("method", ["chinese-whispers", "infomap", "leader", "kmeans"])
def test_fixed_seed_gives_identical_labels(lfw_small, method):
    _, matrix, _ = lfw_small
    options = {"n_clusters": PEOPLE} if method == "kmeans" else {"threshold": 0.36}
    runs = [
        make_clusterer(method, seed=7, **options).fit(matrix.vectors, matrix.image_ids).labels_
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])


def test_input_arrays_are_not_modified(lfw_small):
    _, matrix, _ = lfw_small
    X, groups = matrix.vectors.copy(), matrix.image_ids.copy()
    for method in METHODS:
        options = {"n_clusters": 3} if method == "kmeans" else {}
        make_clusterer(method, **options).fit(X, groups)
        np.testing.assert_array_equal(X, matrix.vectors)
        np.testing.assert_array_equal(groups, matrix.image_ids)


def blobs(sizes: list[int], spread: float = 0.05, dim: int = 32, seed: int = 0) -> np.ndarray:
    """Unit vectors in tight groups around random centres (distinct people)."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((len(sizes), dim)))
    rows = [
        c + spread * rng.standard_normal((s, dim)) / np.sqrt(dim)
        for c, s in zip(centres, sizes, strict=True)
    ]
    return unit(np.concatenate(rows))


def truth_of(sizes: list[int]) -> np.ndarray:
    return np.repeat(np.arange(len(sizes)), sizes)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize("batches", [2, 4, 10_000])
def test_chinese_whispers_finds_separate_groups_however_batched(batches):
    sizes = [30, 12, 5, 1, 1, 7]
    X = blobs(sizes)
    labels = ChineseWhispers(threshold=0.3, k=10, batches=batches).fit(X).labels_
    assert same_partition(labels, truth_of(sizes))


def test_chinese_whispers_never_links_faces_of_one_photo():
    X = unit(np.array([[1, 0], [0.999, 0.04], [0, 1]], np.float32))
    assert ChineseWhispers(threshold=0.3, k=2).fit(X).labels_.tolist() == [0, 0, 1]
    apart = ChineseWhispers(threshold=0.3, k=2).fit(X, groups=np.array([5, 5, 6])).labels_
    assert len(set(apart.tolist())) == 3


GRAPH_METHODS = [m for m in METHODS if isinstance(make_clusterer(m), GraphClusterer)]


def test_every_method_checks_only_its_own_parameters():
    for factory in METHODS.values():
        cls = type(factory(threshold=0.4, seed=0, k=30))
        table = getattr(cls, "_parameter_constraints", {})
        assert set(table) <= set(inspect.signature(cls).parameters), cls


@pytest.mark.parametrize("method", GRAPH_METHODS)
def test_every_graph_method_never_links_faces_of_one_photo(method):
    X = unit(np.array([[1, 0], [0.999, 0.04], [0, 1], [0.04, 0.999]], np.float32))
    together = make_clusterer(method, threshold=0.3, k=3).fit(X).labels_
    assert together[0] == together[1] >= 0
    apart = make_clusterer(method, threshold=0.3, k=3).fit(X, np.array([5, 5, 6, 7])).labels_
    assert apart[0] != apart[1] or apart[0] == -1
    assert apart[2] == apart[3] >= 0


@pytest.mark.parametrize("method", GRAPH_METHODS)
def test_graph_methods_cluster_the_cut_graph_without_same_photo_edges(method, monkeypatch):
    X = blobs([6, 5, 4], spread=0.3, seed=2)
    groups = np.repeat(np.arange(5), 3)
    wide = knn_graph(X, 8)
    seen: list[Edges] = []

    def spy(self, edges: Edges) -> np.ndarray:
        seen.append(edges)
        return np.arange(edges.n) * 3 - 2  # gaps and negatives: fit renumbers them

    est = make_clusterer(method, threshold=0.5, k=4)
    monkeypatch.setattr(type(est), "_cluster", spy)
    assert est.fit(X, groups, graph=wide) is est
    (edges,) = seen
    assert edges.graph.k == est.k and edges.n == len(X)
    expected = wide.truncate(est.k).edges(0.5, groups)
    for got, want in zip((edges.src, edges.dst, edges.dist), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert len(edges.src) and not (groups[edges.src] == groups[edges.dst]).any()
    assert est.labels_.tolist() == [-1, *range(len(X) - 1)]


def test_infomap_finds_separate_groups():
    sizes = [20, 8, 3, 1]
    labels = Infomap(threshold=0.3, k=10).fit(blobs(sizes, seed=2)).labels_
    assert same_partition(labels, truth_of(sizes))


def test_infomap_rejoins_a_person_it_cut_into_parts(tmp_path):
    """Colin Powell's 236 LFW photos alone, at a tight cut: Infomap cuts him into large parts,
    which hundreds of edges join; the rejoin step makes him one person again."""
    photos = link_tree(lfw_people(min_images=200, max_people=1), tmp_path / "powell")
    db = tmp_path / "powell.db"
    faceatlas("index", photos, "--db", db, "--quiet", "--workers", "2", "--no-search-index")
    with Catalog(db) as catalog:
        truth = folder_labels(catalog)
        matrix = catalog.face_matrix(order="path")
    assert set(truth.identities) == {"Colin_Powell"} and len(truth.face_ids) >= 230
    powell = np.isin(matrix.face_ids, truth.face_ids)

    def part_sizes(rejoin: float) -> np.ndarray:
        model = Infomap(threshold=0.27, rejoin=rejoin)
        labels = model.fit(matrix.vectors, groups=matrix.image_ids).labels_[powell]
        return np.sort(np.bincount(labels))[::-1] / powell.sum()

    cut = part_sizes(rejoin=0)
    assert cut[0] < 0.8 and cut[1] > 0.1, cut[:3]  # the failure this guards against
    assert part_sizes(rejoin=2.0)[0] > 0.95  # the default


def test_leader_joins_first_faces_and_bounds_memory():
    sizes = [40, 30, 20, 10, 5]
    X = blobs(sizes, seed=3)
    order = np.random.default_rng(0).permutation(len(X))
    labels = Leader(threshold=0.3, batch=16).fit(X[order]).labels_
    assert same_partition(labels, truth_of(sizes)[order])
    assert labels[0] == 0  # people are numbered in order of appearance
    mean = Leader(threshold=0.3, representative="mean", tau=0.2).fit(X[order]).labels_
    assert same_partition(mean, truth_of(sizes)[order])
    nearest = Leader(threshold=0.3, join="nearest").fit(X[order]).labels_
    assert same_partition(nearest, truth_of(sizes)[order])
    with pytest.raises(ValueError, match="join"):
        Leader(join="random").fit(X)
    bounded = Leader(threshold=0.3, max_people=2, batch=8).fit(X[order])
    assert bounded.n_active_ <= 2


@pytest.mark.parametrize(
    "options",
    [
        {"representative": "first"},
        {"representative": "mean", "tau": 0.3},
        {"join": "nearest", "representative": "mean", "tau": 0.2},
        {"prune_rate": 0.3, "prune_every": 7},
        {"max_people": 3, "representative": "mean"},
    ],
)
def test_leader_acts_face_by_face_whatever_the_batch(options):
    """Running means, hit counts, pruning and the cap act per face: the batch size, and how
    the stream is cut into partial_fit calls, change nothing."""
    X = blobs([30, 25, 20, 5], spread=0.35, seed=8)
    X = X[np.random.default_rng(1).permutation(len(X))]
    runs = [Leader(threshold=0.33, batch=b, **options).fit(X).labels_ for b in (1, 7, 512)]
    stream = Leader(threshold=0.33, batch=5, **options)
    runs.append(np.concatenate([stream.partial_fit(X[i : i + 13]) for i in range(0, len(X), 13)]))
    for labels in runs[1:]:
        np.testing.assert_array_equal(labels, runs[0])


def test_leader_running_mean_moves_within_one_batch():
    """A person drifting away from its first face: the running mean follows it (before, a
    stream of <= 512 faces never updated the mean)."""
    angles = np.linspace(0, 0.6, 40)  # radians: the last face is 0.59 from the first
    X = unit(np.stack([np.cos(angles), np.sin(angles), np.zeros_like(angles)], axis=1))
    first = Leader(threshold=0.2).fit(X).labels_
    mean = Leader(threshold=0.2, representative="mean", tau=0.5).fit(X).labels_
    assert len(set(first.tolist())) > 1 and len(set(mean.tolist())) == 1


def test_leader_prunes_people_who_are_rarely_hit():
    # 50 faces of one person, then 50 strangers, then the same person again
    rng = np.random.default_rng(4)
    person = blobs([100], seed=5)
    strangers = unit(rng.standard_normal((50, 32)))
    X = np.concatenate([person[:50], strangers, person[50:]])
    kept = Leader(threshold=0.3, prune_rate=0.2, prune_every=20, batch=10).fit(X)
    assert kept.n_active_ < 10  # the one-face strangers were dropped
    assert len(set(kept.labels_[:50].tolist() + kept.labels_[100:].tolist())) == 1


def test_rank_order_distance_by_hand():
    # neighbour lists (k=2), the face itself first
    lists = np.array([[0, 1, 2], [1, 0, 3], [2, 0, 1], [3, 1, 2]])
    a, b = np.array([0, 0, 1, 3]), np.array([1, 2, 3, 1])
    # D(1, 3): 1's list up to 3 is 1, 0, 3 and 0 is missing from 3's list
    assert _distance(lists, a, b, 2).tolist() == [0, 0, 1, 0]
    assert _position(lists, a, b, 2).tolist() == [1, 2, 2, 1]
    assert _position(lists, np.array([3]), np.array([0]), 2).tolist() == [2]  # absent: k


def test_rank_order_links_shared_neighbourhoods_only():
    sizes = [10, 10]
    X = blobs(sizes, spread=0.05, seed=6)
    labels = RankOrder(threshold=1.0, rank_threshold=1.6, k=5).fit(X).labels_
    assert same_partition(labels, truth_of(sizes))
    # the absolute cut still applies: nothing is that close
    assert len(set(RankOrder(threshold=0.001, k=5).fit(X).labels_)) == 20


def test_cannot_link_pairs_are_faces_sharing_a_photo():
    i, j = cannot_link_pairs(np.array([3, 1, 3, 2, 3, 1]))
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 2), (0, 4), (1, 5), (2, 4)]


def test_stranger_curve_is_monotone_and_inverts():
    cuts = np.linspace(0.2, 0.5, 61)
    cdf = DLIB_STRANGERS.cdf(cuts)
    assert np.all(np.diff(cdf) > 0) and cdf[0] > 0 and 0.1 < cdf[-1] < 0.2
    for t in (0.22, 0.3, 0.345, 0.41):  # below the table too (its slope goes on)
        assert DLIB_STRANGERS.cut_for(float(DLIB_STRANGERS.cdf(t))) == pytest.approx(t, abs=1e-6)


def test_auto_threshold_falls_as_collections_grow():
    """The cut keeps the method's tolerance of stranger links per face: more faces, a lower
    cut, and a tolerance per face that grows slowly with the collection."""
    rng = np.random.default_rng(0)
    cuts = []
    for n in (100, 1000, 10_000):
        X = unit(rng.standard_normal((n, 8)))
        choice = auto_threshold(X, method="infomap")
        assert choice.per_face == pytest.approx(PER_FACE["infomap"] * (n / 1000) ** GROWTH)
        assert choice.strangers == pytest.approx(choice.per_face * n, rel=0.01)
        assert choice.pairs == n * (n - 1) // 2 and choice.faces == n
        cuts.append(choice.threshold)
    assert cuts[0] > cuts[1] > cuts[2] and 0.33 < cuts[1] < 0.36 and 0.29 < cuts[2] < 0.32
    # faces of one photo are not pairs of strangers to count
    X = unit(rng.standard_normal((500, 8)))
    pairs = auto_threshold(X, np.repeat(np.arange(250), 2), method="infomap").pairs
    assert pairs == 500 * 499 // 2 - 250
    # a sample of a larger collection is judged at the collection's size (streaming leader)
    whole = auto_threshold(X, method="leader", faces=50_000)
    assert whole.faces == 50_000 and whole.threshold < auto_threshold(X, method="leader").threshold
    assert "model curve" in whole.reason and "50,000 faces" in whole.reason


def test_auto_threshold_backs_off_when_faces_of_one_photo_merge():
    X = blobs([50] * 20, spread=0.3, seed=9)
    groups = np.arange(len(X))
    groups[[0, 1]] = -1  # two faces "share a photo"
    calls = []

    def conflicts(t: float) -> float:
        calls.append(t)
        return 1.0 if t > calls[0] - 0.015 else 0.0

    choice = auto_threshold(X, groups, conflicts=conflicts)
    assert choice.steps == 2 and choice.threshold == pytest.approx(choice.base - 0.02)
    assert choice.conflicts == 0.0 and "lowered 2x" in choice.reason
    assert auto_threshold(X, np.arange(len(X)), conflicts=conflicts).conflicts is None


def test_cluster_command_methods_and_graph_cache(people_catalog):
    db = people_catalog
    out = json.loads(faceatlas("cluster", "--db", db, "--json").stdout)
    assert out["method"] == "infomap" and out["auto"]["faces"] == 71
    assert out["reason"].startswith(f"cut {out['threshold']:.3f} (auto")
    assert 15 <= out["people"] <= 21
    assert cache_path(db, 30).exists()
    stamp = cache_path(db, 30).stat().st_mtime_ns
    text = faceatlas("cluster", "--db", db, "--method", "chinese-whispers", "--threshold", "0.36")
    assert "with chinese-whispers in" in text.stdout and ": cut 0.360 (fixed;" in text.stdout
    assert cache_path(db, 30).stat().st_mtime_ns == stamp  # the graph was reused
    assert "chinese-whispers" in faceatlas("stats", "--db", db).stdout


def test_cluster_command_options_in_process(people_catalog):
    runner = CliRunner()
    db = str(people_catalog)
    km = runner.invoke(main, ["cluster", "--db", db, "--method", "kmeans", "--k", "18", "--json"])
    assert km.exit_code == 0 and json.loads(km.output)["people"] == 18
    for method in ("leader", "rank-order", "dbscan", "hdbscan", "agglomerative"):
        result = runner.invoke(main, ["cluster", "--db", db, "--method", method])
        assert result.exit_code == 0 and f"with {method} in" in result.output
        assert ": cut 0." in result.output
    mean = runner.invoke(
        main, ["cluster", "--db", db, "--method", "leader", "-o", "representative=mean"]
    )
    assert mean.exit_code == 0, mean.output
    for args, message in [
        (("--method", "kmeans"), "--k"),
        (("--k", "3"), "only applies to kmeans"),
        (("-o", "bogus=1"), "bogus"),
        (("-o", "novalue"), "KEY=VALUE"),
        (("--threshold", "3"), "not in (0, 2]"),
        (("--threshold", "high"), "neither 'auto' nor a number"),
    ]:
        result = runner.invoke(main, ["cluster", "--db", db, *args])
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    help_text = runner.invoke(main, ["cluster", "--help"]).output
    assert "Examples:" in help_text and "auto" in help_text


def test_leader_streams_block_by_block_with_the_same_result(people_catalog):
    """partial_fit over blocks equals fit on the whole; the catalog streams its faces."""
    with Catalog(people_catalog) as catalog:
        whole = catalog.face_matrix(order="path")
        blocks = list(catalog.iter_face_blocks(10, order="path"))
        assert [len(b) for b in blocks] == [10] * 7 + [len(whole) - 70]
        np.testing.assert_array_equal(np.concatenate([b.vectors for b in blocks]), whole.vectors)
        expected = Leader(threshold=0.35, batch=4).fit(whole.vectors).labels_
        stream = Leader(threshold=0.35, batch=4)
        streamed = np.concatenate([stream.partial_fit(b.vectors) for b in blocks])
        np.testing.assert_array_equal(streamed, expected)
        summary = cluster_catalog(catalog, method="leader", threshold=0.35, batch=4)
        stored = {r.face_id: r.person for r in catalog.faces()}
    assert summary.faces == len(whole) and None not in stored.values()
    # the stored people are exactly the leader's groups
    groups = {}
    for face_id, label in zip(whole.face_ids.tolist(), expected.tolist(), strict=True):
        groups.setdefault(label, set()).add(stored[face_id])
    assert all(len(people) == 1 for people in groups.values())
    assert len({p for people in groups.values() for p in people}) == len(groups)
