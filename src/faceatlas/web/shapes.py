"""The JSON shapes the web API answers with, shared by the search and the people routes."""

from __future__ import annotations

from pathlib import Path

from fastapi import HTTPException

from faceatlas import video
from faceatlas.catalog.store import FaceRow
from faceatlas.outputs.export import UNKNOWN
from faceatlas.outputs.search import Match

MIN_FACES = 2  # a match in a smaller person (no folder on export) shows as "unknown"


def parse_id(text: str, what: str) -> int:
    """A catalog id from a URL segment; anything else is simply not found."""
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise HTTPException(404, f"no such {what}")
    return int(text)


def face_json(row: FaceRow) -> dict:
    """A catalog face as the API shows it: a match's shape without a distance."""
    found = match_json(Match.of(row, 0.0))
    del found["distance"]
    if row.person_id is not None and row.person_size < MIN_FACES:
        found["person"] = UNKNOWN
    return found


def match_json(match: Match, cut: float | None = None) -> dict:
    """A match for web clients: ``Match.to_json`` with its photo's file name instead of its
    full path, and the URLs of its thumbnail and photo; with ``cut`` (the model's "same person"
    distance), ``same_person``: whether the match lies within it."""
    face = match.to_json()
    shown = {key: value for key, value in face.items() if key != "path"}
    shown |= {
        "file": Path(video.describe(face["path"])).name,  # a video still: "clip.mp4 at 0:12"
        "thumb": f"/api/faces/{face['face_id']}/thumb",
        "image": f"/api/images/{face['image_id']}",
    }
    if cut is not None:
        shown["same_person"] = match.distance <= cut
    return shown
