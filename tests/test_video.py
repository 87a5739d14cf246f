"""Videos: sampled frames, faces tracked through them, one face per track in the people.

Clips are made in each test with PyAV: coloured squares for the fake model (milliseconds), or
real LFW photos panned and zoomed in shots (the real model, seconds).
"""

from __future__ import annotations

import csv
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceatlas.catalog import Catalog
from faceatlas.faces.record import Face
from faceatlas.index import IndexConfig, Inputs, index_inputs, index_paths
from faceatlas.outputs.thumbs import face_crop
from faceatlas.sources import read_source
from faceatlas.tracks import Tracker, TrackOptions
from faceatlas.video import VideoOptions, VideoReader, describe, moment, split_still_key
from tests.clips import Shot, write_clip
from tests.conftest import data, faceatlas, kill_when_stored
from tests.fake_model import PALETTE, SIDE, FakeModel

av = pytest.importorskip("av")


def square_clip(
    path: Path, shots: list[list[int]], seconds: float = 1.0, fps: int = 10, suffix_fmt=None
) -> Path:
    """A 200x200 clip for the fake model: per shot, squares of the given PALETTE colours in a
    row on a white band, moving right; above and below, each shot has its own colour."""
    with av.open(str(path), "w", format=suffix_fmt) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 200, 200, "yuv444p"
        stream.options = {"crf": "12", "preset": "veryfast"}
        for number, colours in enumerate(shots):
            for i in range(round(seconds * fps)):
                image = Image.new("RGB", (200, 200), SHOT_COLOURS[number % len(SHOT_COLOURS)])
                image.paste("white", (0, 70, 200, 130))  # the fake detector's row is white
                for slot, colour in enumerate(colours):
                    left = 10 + slot * (SIDE + 10) + 2 * i // 3
                    image.paste(PALETTE[colour], (left, 80, left + SIDE, 80 + SIDE))
                frame = av.VideoFrame.from_image(image)
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


SHOT_COLOURS = [(20, 20, 120), (230, 200, 40), (30, 140, 60), (150, 40, 150)]


def fake_index(db: Path, *paths: Path, **settings) -> tuple[Catalog, object]:
    catalog = Catalog(db)
    config = IndexConfig(model=FakeModel(), workers=1, **settings)
    return catalog, index_paths(catalog, list(paths), config)


# -- sampling and reading ---------------------------------------------------------------------


def _videos_stored(db: Path) -> int:
    with Catalog(db) as catalog:
        return sum(1 for i in catalog.images() if split_still_key(i.path) is None)


def test_frames_are_sampled_at_the_rate_and_at_each_cut(tmp_path):
    clip = square_clip(tmp_path / "c.mp4", [[0], [1], [2]], seconds=1.3, fps=10)
    reader = VideoReader(str(clip), VideoOptions(fps=2))
    frames = [(round(f.time, 1), f.shot) for f in reader.frames()]
    # every 0.5 s within a shot, and the first frame of each shot (1.3 s and 2.6 s)
    assert frames == [(0.0, 0), (0.5, 0), (1.0, 0), (1.3, 1), (1.8, 1), (2.3, 1),
                      (2.6, 2), (3.1, 2), (3.6, 2)]  # fmt: skip
    assert (reader.cuts, reader.error) == (2, None)
    capped = VideoReader(str(clip), VideoOptions(fps=2, max_seconds=1.0))
    assert [round(f.time, 1) for f in capped.frames()] == [0.0, 0.5, 1.0]
    assert capped.error is None  # a cap is not damage


def test_display_rotation_is_applied(tmp_path):
    photo = data("lfw", "Colin_Powell", "Colin_Powell_0001.jpg")
    shots = [Shot([photo], seconds=0.5, pan=0, zoom=1)]
    upright = write_clip(tmp_path / "up.mp4", shots, size=(320, 240))
    turned = write_clip(tmp_path / "turned.mp4", shots, size=(320, 240), rotation=90)
    assert av.open(str(turned.path)).streams.video[0].height == 320  # stored sideways
    (a,) = [f.rgb for f in VideoReader(str(upright.path), VideoOptions(fps=1)).frames()]
    (b,) = [f.rgb for f in VideoReader(str(turned.path), VideoOptions(fps=1)).frames()]
    assert a.shape == b.shape == (240, 320, 3)
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 4  # the same picture, upright


# -- tracking (no video needed) ---------------------------------------------------------------


def _face(x: int, colour: list[float], y: int = 10) -> Face:
    unit = np.asarray(colour, np.float32) / np.linalg.norm(colour)
    return Face((x, y, x + 40, y + 40), np.zeros((5, 2), "f4"), 1.0, unit)


def test_a_face_that_leaves_and_returns_after_a_cut_is_a_new_track():
    tracker = Tracker()
    stills = []
    for n, (t, shot) in enumerate([(0, 0), (0.5, 0), (1.0, 1), (1.5, 2), (2.0, 2)]):
        stills += tracker.add(n, t, shot, [_face(10 + n, [1, 0.1])], [1.0])
    stills += tracker.finish()
    assert [[(f.start, f.end, f.frames) for f in s.faces] for s in stills] == [
        [(0, 0.5, 2)], [(1.0, 1.0, 1)], [(1.5, 2.0, 2)]
    ]


def test_a_track_survives_a_missed_detection_but_not_a_long_gap():
    tracker = Tracker(TrackOptions(max_gap=1.0))
    seen = {0: True, 1: False, 2: True, 3: False, 4: False, 5: False, 6: True}
    stills = []
    for n, present in seen.items():
        faces = [_face(10, [1, 0])] if present else []
        stills += tracker.add(n, n * 0.5, 0, faces, [1.0] * len(faces))
    stills += tracker.finish()
    assert sorted(f.frames for s in stills for f in s.faces) == [1, 2]


def test_co_occurring_tracks_share_one_still_and_a_lookalike_stays_a_separate_track():
    tracker = Tracker()
    stills = []
    for n in range(4):
        faces = [_face(10 + n, [1, 0]), _face(200 - n, [1, 0.01])]  # the same face, twice
        quality = [1.0 + n, 5.0 - n]  # each looks best in another frame
        stills += tracker.add(n, n * 0.5, 0, faces, quality)
    stills += tracker.finish()
    (still,) = stills  # both kept by one frame: the one-photo rule keeps them apart
    assert [f.frames for f in still.faces] == [4, 4] and tracker.tracks == 2
    norms = [float(np.linalg.norm(f.embedding)) for f in still.faces]
    assert norms == pytest.approx([1, 1])  # the mean of unit vectors, renormalised


def test_a_face_alone_keeps_its_best_frame():
    tracker = Tracker()
    for n, quality in enumerate([1.0, 3.0, 2.0]):
        tracker.add(n, n * 0.5, 0, [_face(10, [0, 1])], [quality])
    (still,) = tracker.finish()
    assert (still.frame, still.time) == (1, 0.5)


# -- indexing (fake model) --------------------------------------------------------------------


def test_a_video_in_a_folder_is_indexed_with_one_face_per_track(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    square_clip(folder / "two.mp4", [[0, 1], [2]], seconds=1.5)
    catalog, summary = fake_index(tmp_path / "c.db", folder)
    with catalog:
        assert (summary.videos, summary.faces, summary.errors, summary.ignored) == (1, 3, 0, {})
        images = {Path(i.path).name: i for i in catalog.images()}
        assert images["two.mp4"].status == "ok"
        stills = sorted(name for name in images if "#t=" in name)
        assert stills == ["two.mp4#t=0.00", "two.mp4#t=1.50"]
        faces = catalog.faces()
        spans = catalog.track_spans(f.face_id for f in faces)
        assert sorted((s.start, s.end, s.frames) for s in spans.values()) == [
            (0.0, 1.0, 3), (0.0, 1.0, 3), (1.5, 2.5, 3)
        ]
        # a still reads back as the frame (a JPEG), and thumbnails are cut from it
        still = next(f for f in faces if f.image_path.endswith("#t=1.50"))
        jpeg = read_source(still.image_path, still.image_source)
        assert jpeg[:3] == b"\xff\xd8\xff"
        crop = np.asarray(face_crop(still, 32), dtype=int)
        assert np.abs(crop[16, 16] - PALETTE[2]).max() < 30
        again = index_paths(catalog, [folder], IndexConfig(model=FakeModel(), workers=1))
        assert (again.processed, again.skipped) == (0, 1)


def test_truncated_and_broken_clips_are_recorded_and_the_run_goes_on(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    square_clip(folder / "good.mp4", [[0]], seconds=1.0)
    whole = square_clip(tmp_path / "long.mkv", [[1], [2]], seconds=2.0).read_bytes()
    (folder / "cut.mkv").write_bytes(whole[: len(whole) * 2 // 3])  # frames before the cut
    moov_last = square_clip(tmp_path / "x.mp4", [[3]], seconds=1.0).read_bytes()
    (folder / "cut.mp4").write_bytes(moov_last[: len(moov_last) // 2])  # no index: unreadable
    (folder / "empty.mov").write_bytes(b"")
    (folder / "text.webm").write_text("not a video at all")
    catalog, summary = fake_index(tmp_path / "c.db", folder)
    with catalog:
        assert (summary.videos, summary.errors) == (5, 4)
        errors = {Path(path).name: reason for path, reason in catalog.errors()}
        assert "truncated video: read 0:0" in errors["cut.mkv"] and "of 0:04" in errors["cut.mkv"]
        assert "not a readable video" in errors["cut.mp4"]
        assert "empty" in errors["empty.mov"] and "not a readable video" in errors["text.webm"]
        kept = {Path(split_still_key(f.image_path)[0]).name for f in catalog.faces()}
        assert kept == {"good.mp4", "cut.mkv"}  # what the truncated clip showed is kept


def test_a_video_in_an_archive_and_a_list(tmp_path):
    clip = square_clip(tmp_path / "a.mp4", [[4]], seconds=1.0)
    with zipfile.ZipFile(tmp_path / "clips.zip", "w") as zf:
        zf.write(clip, "holiday/a.mp4")
    listing = tmp_path / "list.txt"
    listing.write_text(str(square_clip(tmp_path / "b.mov", [[0]], seconds=1.0)) + "\n")
    with Catalog(tmp_path / "c.db") as catalog:
        inputs = Inputs(paths=(tmp_path / "clips.zip",), lists=(listing,))
        summary = index_inputs(catalog, inputs, IndexConfig(model=FakeModel(), workers=1))
        assert (summary.videos, summary.faces, summary.errors) == (2, 2, 0)
        for face in catalog.faces():
            assert split_still_key(face.image_path) is not None
            assert read_source(face.image_path, face.image_source)[:3] == b"\xff\xd8\xff"
        archived = [f for f in catalog.faces() if ".zip#" in f.image_path]
        assert json.loads(archived[0].image_source)["member"] == "holiday/a.mp4"


def test_a_changed_video_replaces_its_stills(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    clip = square_clip(folder / "c.mp4", [[0], [1]], seconds=1.0)
    catalog, _ = fake_index(tmp_path / "c.db", folder)
    with catalog:
        assert len(catalog.faces()) == 2
        square_clip(clip, [[2]], seconds=3.0)  # the same name, another video
        os.utime(clip, ns=(1, 1))
        index_paths(catalog, [folder], IndexConfig(model=FakeModel(), workers=1))
        assert [Path(i.path).name for i in catalog.images()] == ["c.mp4", "c.mp4#t=0.00"]
        (face,) = catalog.faces()
        assert catalog.track_spans([face.face_id])[face.face_id].end == pytest.approx(2.5)


def test_without_tracking_every_sampled_frame_is_a_photo(tmp_path):
    from faceatlas.engines.task import analyze_video
    from faceatlas.sources import ImageFile

    clip = square_clip(tmp_path / "c.mp4", [[0, 1]], seconds=2.0)
    item = ImageFile(str(clip), 1, 1)
    pipeline = FakeModel().build()
    tracked = analyze_video(pipeline, item, 10**8, VideoOptions(fps=2))
    frames = analyze_video(pipeline, item, 10**8, VideoOptions(fps=2, tracking=False))
    assert [len(r.faces or []) for r in tracked] == [2, 0]  # one still, then the video
    assert [len(r.faces or []) for r in frames] == [2, 2, 2, 2, 0]


def test_still_keys_and_moments():
    assert split_still_key("/v/clip.mp4#t=12.50") == ("/v/clip.mp4", 12.5)
    assert split_still_key("/v/a.zip#x/clip.MOV#t=3.00") == ("/v/a.zip#x/clip.MOV", 3.0)
    assert split_still_key("/v/a.tsv#t=3") is None and split_still_key("/p/x.jpg") is None
    assert [moment(s) for s in (12.5, 62, 3723)] == ["0:12", "1:02", "1:02:03"]
    assert describe("/v/clip.mp4#t=12.50") == "/v/clip.mp4 at 0:12"


# -- the real model ---------------------------------------------------------------------------


def _lfw(name: str, number: int) -> Path:
    return data("lfw", name, f"{name}_{number:04d}.jpg")


def _manifest(out: Path) -> list[dict]:
    with (out / "manifest.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_three_people_in_three_shots_are_three_people(tmp_path):
    a, b, c = "Colin_Powell", "George_W_Bush", "Tony_Blair"
    shots = [
        Shot([_lfw(a, 1), _lfw(b, 1)]),
        Shot([_lfw(b, 2), _lfw(c, 2)]),
        Shot([_lfw(a, 2), _lfw(c, 3)]),
    ]
    clips = tmp_path / "clips"
    clips.mkdir()
    clip = write_clip(clips / "three.mp4", shots)
    out = tmp_path / "out"
    faceatlas("run", clips, out, "--quiet")
    rows = _manifest(out)
    assert len(rows) == 6  # one face per track: two tracks in each of three shots
    who = {}
    for row in rows:
        video, t = split_still_key(row["image"])
        assert Path(video) == clip.path and float(row["start"]) <= t <= float(row["end"])
        box = tuple(map(int, row["box"].split(",")))
        who[row["face_id"]] = (clip.person_at(t, box).person, row["person"])
        assert (out / row["file"]).read_bytes()[:3] == b"\xff\xd8\xff"  # the still, a JPEG
        assert row["file"].startswith(row["person"] + "/three.mp4_t=")
    truth = {person for person, _ in who.values()}
    assert truth == {a, b, c}
    for person in truth:  # each real person is one exported person, and nobody else's
        found = {folder for real, folder in who.values() if real == person}
        assert len(found) == 1 and "unknown" not in found
    assert len({folder for _, folder in who.values()}) == 3


def test_two_people_in_one_shot_are_kept_apart_even_when_alike(tmp_path):
    # the same man twice, side by side: two tracks, two faces of one frame, never one person
    twins = [_lfw("George_W_Bush", 3), _lfw("George_W_Bush", 4)]
    clips = tmp_path / "clips"
    clips.mkdir()
    write_clip(clips / "pair.mp4", [Shot(twins, seconds=2.0)])
    db = tmp_path / "c.db"
    faceatlas("index", clips, "--db", db, "--quiet")
    faceatlas("cluster", "--db", db, "--threshold", "1.5")  # a cut that would join anyone
    with Catalog(db) as catalog:
        faces = catalog.faces()
        assert len(faces) == 2 and faces[0].image_id == faces[1].image_id
        assert faces[0].person_id != faces[1].person_id


def test_kill_9_mid_video_then_resume_stores_each_video_once(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    people = ["Colin_Powell", "George_W_Bush", "Tony_Blair", "Donald_Rumsfeld"]
    for n in range(5):
        shots = [Shot([_lfw(people[(n + k) % 4], n + 1 + k)], seconds=1.5) for k in range(2)]
        write_clip(clips / f"clip{n}.mp4", shots, size=(320, 180))
    db = tmp_path / "c.db"
    args = ["index", clips, "--db", db, "--workers", "1", "--commit-every", "1", "--quiet"]
    stored = kill_when_stored(args, db, _videos_stored, 1)
    assert 1 <= stored < 5
    resumed = faceatlas("index", clips, "--db", db, "--workers", "1", "--quiet")
    assert f"({stored} already done)" in resumed.stdout
    reference = tmp_path / "reference.db"
    faceatlas("index", clips, "--db", reference, "--workers", "1", "--quiet")
    assert _tracks(db) == _tracks(reference)
    assert len(_tracks(db)) == 10  # one track per shot, each stored once


def _tracks(db: Path) -> list[tuple]:
    with Catalog(db) as catalog:
        assert catalog.integrity_check() == "ok"
        faces = catalog.faces()
        spans = catalog.track_spans(f.face_id for f in faces)
        return sorted(
            (f.image_path, f.box, spans[f.face_id].start, spans[f.face_id].frames) for f in faces
        )
