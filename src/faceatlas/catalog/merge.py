"""How a new grouping meets the people that exist: the rules of ``Catalog.save_clustering``.

Pure arrays, no SQL. A grouping proposes a label per face; the people the catalog holds keep
their ids, numbers and names, and the user's word wins over any proposal:

1. **Matching.** Each proposed group is matched to at most one existing person, and each person
   to at most one group, by overlap (faces of the group now in the person), largest overlap
   first (ties: the lower person id, then the lower label). A matched group becomes that person;
   the others become new people.
2. **The user's faces stay.** A pinned face (the user put it there: a must-link) and every face
   of a *kept* person (named or hidden: the user has looked at it) stay where they are; a
   grouping only adds faces to a kept person. So two named people never merge, and a regroup
   never undoes a merge, a split or a move.
3. **Cannot-links.** A face never goes to a person that rejected it ("not this person"), nor
   joins a face of its own photo that stays in a person (two faces of one photo are never one
   person; within the proposal itself every method obeys that rule on its own). A face refused
   by these rules belongs to nobody (it waits for the next grouping).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NOBODY = -1


@dataclass(slots=True)
class Merged:
    """Where each face goes: an existing person (``person``), a new one (``new``), or nobody.

    ``person[i]`` is a person id or ``NOBODY``; ``new[i]`` the index of a new person or -1
    (exactly one of the two is set for a face that belongs to someone). New people are indexed
    largest first (then by proposed label).
    """

    person: np.ndarray
    new: np.ndarray
    new_people: int


def merge_grouping(
    labels: np.ndarray,
    current: np.ndarray,
    stays: np.ndarray,
    image_ids: np.ndarray,
    face_ids: np.ndarray,
    rejected: set[tuple[int, int]] | None = None,
) -> Merged:
    """Apply the rules above to one face set's faces (all arrays row by row, one per face).

    ``labels``: the proposal (-1: nobody); ``current``: each face's person now (-1: none);
    ``stays``: the face is pinned or in a kept person; ``rejected``: (face id, person id) pairs.

    >>> merge_grouping(np.array([5, 5, 6, -1]), np.array([9, -1, -1, 9]),
    ...                np.zeros(4, bool), np.arange(4), np.arange(4)).person.tolist()
    [9, 9, -1, -1]
    """
    labels = np.asarray(labels, dtype=np.int64)
    current = np.asarray(current, dtype=np.int64)
    stays = np.asarray(stays, dtype=bool) & (current >= 0)
    n = len(labels)
    match = _match(labels, current)
    person = np.full(n, NOBODY, np.int64)
    group = np.full(n, -1, np.int64)  # the proposed label of a face bound for a new person
    proposed = labels >= 0
    matched = np.array([match.get(int(g), NOBODY) for g in labels], np.int64) if n else person
    person[proposed] = matched[proposed]
    unmatched = proposed & (person == NOBODY)
    group[unmatched] = labels[unmatched]
    person[stays], group[stays] = current[stays], -1
    if rejected:
        refused = np.array(
            [(int(f), int(p)) in rejected for f, p in zip(face_ids, person, strict=True)], bool
        )
        refused &= ~stays & (person >= 0)
        person[refused] = NOBODY
    _one_photo(person, group, stays, image_ids)
    new = np.full(n, -1, np.int64)
    has_group = group >= 0
    if has_group.any():
        uniq, counts = np.unique(group[has_group], return_counts=True)
        order = np.lexsort((uniq, -counts))
        index_of = np.empty(len(uniq), np.int64)
        index_of[order] = np.arange(len(uniq))
        new[has_group] = index_of[np.searchsorted(uniq, group[has_group])]
        return Merged(person, new, len(uniq))
    return Merged(person, new, 0)


def _match(labels: np.ndarray, current: np.ndarray) -> dict[int, int]:
    """Proposed label -> existing person, one to one, largest overlap first."""
    both = (labels >= 0) & (current >= 0)
    if not both.any():
        return {}
    pairs, counts = np.unique(
        np.stack([labels[both], current[both]], axis=1), axis=0, return_counts=True
    )
    order = np.lexsort((pairs[:, 0], pairs[:, 1], -counts))
    match: dict[int, int] = {}
    taken: set[int] = set()
    for label, pid in pairs[order].tolist():
        if label not in match and pid not in taken:
            match[label] = pid
            taken.add(pid)
    return match


def _one_photo(
    person: np.ndarray, group: np.ndarray, stays: np.ndarray, image_ids: np.ndarray
) -> None:
    """Send to nobody every face that would join a face of its photo that stays in a person.

    Conflicts among the proposal's own faces are the method's business (every method obeys
    the one-photo rule itself); here only the faces that stay can make new ones.
    """
    dest = np.where(person >= 0, person, np.where(group >= 0, -2 - group, NOBODY))
    if not stays.any():
        return
    held = set(zip(dest[stays].tolist(), image_ids[stays].tolist(), strict=True))
    movers = np.flatnonzero((dest != NOBODY) & ~stays)
    losers = [
        i
        for i, d, img in zip(
            movers.tolist(), dest[movers].tolist(), image_ids[movers].tolist(), strict=True
        )
        if (d, img) in held
    ]
    person[losers] = NOBODY
    group[losers] = -1
