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

    def partial_fit(self, X: np.ndarray) -> np.ndarray:
        """Continue the stream with the rows of ``X``; returns their person labels.

        Memory is that of the active representatives, whatever the stream's length, so a
        catalog can be clustered block by block (see ``people.cluster``). Every face sees the
        representatives, hit counts and pruning exactly as the faces before it left them:
        the result does not depend on ``batch`` or on how the stream is cut into calls.
        """
        if not hasattr(self, "_seen"):
            self._reset()
        X = check_unit(X)
        n, dim = X.shape
        if self._reps.shape[1] != dim:
            self._reps = np.zeros((1024, dim), np.float32)
            self._person, self._hits, self._born = (np.zeros(1024, np.int64) for _ in range(3))
        self._cut = 1.0 - self.threshold**2 / 2.0  # similarity above which distance < threshold
        labels = np.empty(n, np.int64)
        for start in range(0, n, self.batch):
            self._batch(X[start : start + self.batch], labels[start : start + self.batch])
        self.n_active_ = self._active
        return labels

    def _batch(self, block: np.ndarray, out: np.ndarray) -> None:
        """Assign the faces of ``block`` one by one (``out``: their labels).

        The similarities to the representatives that exist when the batch starts are one
        matrix product; a face then only recomputes those to the representatives that moved
        (running mean) or started during the batch, and drops those pruned since.
        """
        active, cut = self._active, self._cut
        stale = block @ self._reps[:active].T if active else np.zeros((len(block), 0))
        rows, cols = np.nonzero(stale > cut)
        bounds = np.searchsorted(rows, np.arange(len(block) + 1))
        alive = np.ones(active, bool)  # slots of the batch start still candidates
        moved: list[int] = []  # slots whose vector changed or that started in this batch
        is_moved = np.zeros(active, bool)
        for i, face in enumerate(block):
            now = self._seen  # faces seen before this one
            cand = cols[bounds[i] : bounds[i + 1]]
            sims = stale[i, cand]
            if moved:
                keep = ~is_moved[cand]
                fresh = np.asarray(moved)
                fresh_sims = self._reps[fresh] @ face
                near = fresh_sims > cut
                cand = np.concatenate([cand[keep], fresh[near]])
                sims = np.concatenate([sims[keep], fresh_sims[near]])
            if len(cand):  # not dropped (max_people) and not pruned since the batch started
                ok = alive[cand] & self._alive(cand, now)
                cand, sims = cand[ok], sims[ok]
            if len(cand):
                rank = self._hits[cand] * 4.0 if self.join == "frequent" else 0.0
                slot = int(cand[np.argmax(rank + sims)])
                self._hits[slot] += 1
                if self.representative == "mean":
                    rep = (1.0 - self.tau) * self._reps[slot] + self.tau * face
                    self._reps[slot] = rep / np.linalg.norm(rep)
                    if not is_moved[slot]:
                        moved.append(slot)
                        is_moved[slot] = True
            else:
                slot = self._lead(face, now)
                moved.append(slot)
                alive, is_moved = np.append(alive, True), np.append(is_moved, True)
                if self.max_people and self._alive_count(alive, now) > self.max_people:
                    alive[self._least_hit(alive, now, slot)] = False
            out[i] = self._person[slot]
            self._seen += 1
        self._compact(alive)

    def _lead(self, face: np.ndarray, now: int) -> int:
        """A new person led by ``face``; returns its slot."""
        if self._active == len(self._reps):
            cap = 2 * len(self._reps)
            self._reps = _grow(self._reps, cap)
            self._person, self._hits, self._born = (
                _grow(a, cap) for a in (self._person, self._hits, self._born)
            )
        slot = self._active
        self._reps[slot] = face
        self._person[slot], self._hits[slot], self._born[slot] = self._people, 1, now
        self._active += 1
        self._people += 1
        return slot

    def _alive(self, slots: np.ndarray, now: int) -> np.ndarray:
        """Which of ``slots`` are still candidates at face ``now``: young ones, and old ones
        hit at least ``prune_rate`` times per face seen since they started."""
        if self.prune_rate <= 0:
            return np.ones(len(slots), bool)
        age = now - self._born[slots]
        return (age < self.prune_every) | (self._hits[slots] >= self.prune_rate * age)

    def _alive_count(self, alive: np.ndarray, now: int) -> int:
        slots = np.flatnonzero(alive)
        return int(self._alive(slots, now).sum())

    def _least_hit(self, alive: np.ndarray, now: int, newest: int) -> int:
        """The candidate with the fewest hits (the earliest among ties), not ``newest``."""
        slots = np.flatnonzero(alive)
        slots = slots[self._alive(slots, now) & (slots != newest)]
        return int(slots[np.argmin(self._hits[slots])])

    def _compact(self, alive: np.ndarray) -> None:
        """Drop the representatives that stopped being candidates (memory stays bounded)."""
        keep = alive & self._alive(np.arange(self._active), self._seen)
        if keep.all():
            return
        count = int(keep.sum())
        for name in ("_reps", "_person", "_hits", "_born"):
            array = getattr(self, name)
            array[:count] = array[: self._active][keep]
        self._active = count


def _grow(a: np.ndarray, cap: int) -> np.ndarray:
    out = np.zeros((cap, *a.shape[1:]), a.dtype)
    out[: len(a)] = a
    return out
