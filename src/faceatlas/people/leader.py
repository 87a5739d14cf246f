"""Leader clustering: one streaming pass, each face joins a person's representative or leads.

Faces arrive in order. Each is compared with the representatives of the people found so far, in
order of how often they were hit; it joins the first one closer than the threshold, else it
starts a new person and becomes its representative (``join="nearest"`` joins the closest
representative under the threshold instead). The representative is the first face
(``representative="first"``) or a running mean ``(1 - tau) * old + tau * new`` kept at unit
length (``"mean"``). People whose hit rate stays below ``prune_rate`` stop being candidates,
and at most ``max_people`` representatives are kept, so memory stays bounded however long the
stream.

Vectorized in batches: a batch of faces is compared with all representatives in one matrix
product; faces that match nothing then lead or join each other in order (a small loop over the
batch's own distance matrix); representatives and hit counts are updated once per batch.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from faceatlas.people.base import Constraint, Interval, check_unit, validate_params
from faceatlas.people.constraints import enforce_one_photo

REPRESENTATIVES = ("first", "mean")
JOINS = ("frequent", "nearest")


class Leader:
    """Streaming leader clustering of unit embeddings.

    Parameters
    ----------
    threshold : float
        A face joins a representative closer than this (Euclidean distance of unit vectors).
    representative : {"first", "mean"}
        Keep each person's first face, or a running mean of its faces.
    tau : float
        Weight of a new face in the running mean.
    join : {"frequent", "nearest"}
        Among representatives closer than the threshold, join the most hit one, or the
        closest one.
    prune_rate : float
        People with fewer hits per face seen since they started than this (checked every
        ``prune_every`` faces, once they are ``prune_every`` faces old) stop being candidates.
    prune_every : int
        Faces between pruning rounds.
    max_people : int or None
        Keep at most this many representatives (the least hit are dropped first).
    batch : int
        Faces compared with the representatives at once.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Person of each face, 0..n_people-1 in order of appearance.
    n_active_ : int
        Representatives still active at the end.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1, 0], [0, 1], [0.99, 0.14], [0.14, 0.99]], dtype=np.float32)
    >>> X /= np.linalg.norm(X, axis=1, keepdims=True)
    >>> Leader(threshold=0.3).fit(X).labels_.tolist()
    [0, 1, 0, 1]
    """

    uses_graph = False
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "threshold": Interval(0, 2, low_open=True),
        "tau": Interval(0, 1, low_open=True),
        "prune_rate": Interval(0, 1),
        "prune_every": Interval(1, 1e12),
        "batch": Interval(1, 1e9),
        "max_people": Interval(1, 1e12, optional=True),
        "join": JOINS,
        "representative": REPRESENTATIVES,
    }

    def __init__(
        self,
        threshold: float = 0.4,
        representative: str = "first",
        tau: float = 0.1,
        join: str = "frequent",
        prune_rate: float = 0.0,
        prune_every: int = 10_000,
        max_people: int | None = None,
        batch: int = 512,
    ) -> None:
        self.threshold = threshold
        self.representative = representative
        self.tau = tau
        self.join = join
        self.prune_rate = prune_rate
        self.prune_every = prune_every
        self.max_people = max_people
        self.batch = batch

    def fit(self, X: np.ndarray, groups: np.ndarray | None = None, graph: object = None) -> Leader:
        """Cluster rows of ``X`` in order, then split any person holding two faces of one
        ``groups`` value (photo), the one-photo rule (``graph`` is not used)."""
        self._reset()
        self.labels_ = enforce_one_photo(self, X, self.partial_fit(X), groups)
        return self

    def _reset(self) -> None:
        """Forget every person: the next ``partial_fit`` starts a new stream."""
        validate_params(self, self._parameter_constraints)
        self._reps = np.zeros((0, 0), np.float32)  # rows of active people (slot -> vector)
        self._person = np.zeros(0, np.int64)  # slot -> person id
        self._hits = np.zeros(0, np.int64)
        self._born = np.zeros(0, np.int64)  # faces seen when the person started
        self._active = 0
        self._people = 0
        self._seen = 0
        self._next_prune = self.prune_every

    def partial_fit(self, X: np.ndarray) -> np.ndarray:
        """Continue the stream with the rows of ``X``; returns their person labels.

        Memory is that of the active representatives, whatever the stream's length, so a
        catalog can be clustered block by block (see ``people.cluster``).
        """
        if not hasattr(self, "_seen"):
            self._reset()
        X = check_unit(X)
        n, dim = X.shape
        if self._reps.shape[1] != dim:
            self._reps = np.zeros((1024, dim), np.float32)
            self._person, self._hits, self._born = (np.zeros(1024, np.int64) for _ in range(3))
        reps, person, hits, born = self._reps, self._person, self._hits, self._born
        cap, active, people = len(reps), self._active, self._people
        cut = 1.0 - self.threshold**2 / 2.0  # similarity above which distance < threshold
        offset = self._seen
        labels = np.empty(n, np.int64)
        next_prune = self._next_prune
        for start in range(0, n, self.batch):
            block = X[start : start + self.batch]
            sims = block @ reps[:active].T if active else np.zeros((len(block), 0), np.float32)
            # among representatives close enough, the most hit one (ties: the nearest)
            rank = hits[:active] * 4.0 if self.join == "frequent" else 0.0
            score = np.where(sims > cut, rank + sims, -np.inf)
            best = score.argmax(axis=1) if active else np.zeros(len(block), np.int64)
            joined = np.isfinite(score[np.arange(len(block)), best]) if active else best < 0
            slots = np.where(joined, best, -1)
            labels[start : start + len(block)][joined] = person[best[joined]]
            np.add.at(hits, best[joined], 1)
            if self.representative == "mean" and joined.any():
                self._update_means(reps, best[joined], block[joined])
            # the rest lead or follow each other, in order
            rest = np.flatnonzero(~joined)
            if len(rest):
                inner = block[rest] @ block[rest].T
                leaders: list[int] = []  # positions in rest
                for i in range(len(rest)):
                    if leaders:
                        cand = np.asarray(leaders)
                        close = cand[inner[i, cand] > cut]
                        if len(close):
                            lead = int(close[np.argmax(inner[i, close])])
                            slots[rest[i]] = slots[rest[lead]]
                            labels[start + rest[i]] = labels[start + rest[lead]]
                            hits[slots[rest[i]]] += 1
                            continue
                    if active == cap:
                        cap *= 2
                        reps = _grow(reps, cap)
                        person, hits, born = (_grow(a, cap) for a in (person, hits, born))
                    reps[active] = block[rest[i]]
                    person[active], hits[active] = people, 1
                    born[active] = offset + start + rest[i]
                    slots[rest[i]] = active
                    labels[start + rest[i]] = people
                    leaders.append(i)
                    active += 1
                    people += 1
            seen = offset + start + len(block)
            if seen >= next_prune or (self.max_people and active > self.max_people):
                keep = self._survivors(hits[:active], born[:active], seen)
                if self.max_people and keep.sum() > self.max_people:
                    order = np.argsort(-hits[:active] * keep, kind="stable")
                    keep = np.zeros(active, bool)
                    keep[order[: self.max_people]] = True
                active = int(keep.sum())
                for a in (reps, person, hits, born):
                    a[:active] = a[: len(keep)][keep]
                if seen >= next_prune:
                    next_prune += self.prune_every
        self._reps, self._person, self._hits, self._born = reps, person, hits, born
        self._active, self._people, self._next_prune = active, people, next_prune
        self._seen = offset + n
        self.n_active_ = active
        return labels

    def _survivors(self, hits: np.ndarray, born: np.ndarray, seen: int) -> np.ndarray:
        """Which people stay candidates: young ones, and old ones hit often enough."""
        age = seen - born
        old = age >= self.prune_every
        return ~old | (hits >= self.prune_rate * np.maximum(age, 1))

    def _update_means(self, reps: np.ndarray, slots: np.ndarray, faces: np.ndarray) -> None:
        """Running mean per representative; c hits in one batch count as c updates."""
        uniq, inverse, counts = np.unique(slots, return_inverse=True, return_counts=True)
        mean = np.zeros((len(uniq), reps.shape[1]), np.float64)
        np.add.at(mean, inverse, faces)
        mean /= counts[:, None]
        keep = (1.0 - self.tau) ** counts
        new = keep[:, None] * reps[uniq] + (1.0 - keep)[:, None] * mean
        reps[uniq] = new / np.linalg.norm(new, axis=1, keepdims=True)


def _grow(a: np.ndarray, cap: int) -> np.ndarray:
    out = np.zeros((cap, *a.shape[1:]), a.dtype)
    out[: len(a)] = a
    return out
