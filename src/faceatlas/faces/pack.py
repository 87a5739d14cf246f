"""A folder of ONNX face models (an InsightFace pack such as ``buffalo_l``): its detector and
its recognizer, each recognised from its graph like any ``--detector``/``--embedder`` file.

Files that are neither (InsightFace's ``genderage.onnx``, ``2d106det.onnx``, ``1k3d68.onnx``)
are passed over; a folder with no detector or no recognizer, or with two of either, is an error
that lists what it found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from faceatlas.errors import ModelError
from faceatlas.faces.kinds import detector_kind_of, embedder_kind_of
from faceatlas.faces.onnx_session import open_session, signature


@dataclass(frozen=True, slots=True)
class Pack:
    detector: Path
    embedder: Path


def pack_models(folder: Path) -> Pack:
    """The one detector and the one recognizer among ``folder``'s ``*.onnx`` files."""
    detectors, embedders, other = [], [], []
    for path in sorted(Path(folder).glob("*.onnx")):
        sig = signature(open_session(path, f"model {path.name}"))
        for found, test in ((detectors, detector_kind_of), (embedders, embedder_kind_of)):
            try:
                test(sig, path.name)
            except ModelError:
                continue
            found.append(path)
            break
        else:
            other.append(path.name)
    if len(detectors) != 1 or len(embedders) != 1:
        raise ModelError(
            f"{folder}: expected one face detector and one recognizer .onnx file, found "
            f"detectors {[p.name for p in detectors]}, recognizers {[p.name for p in embedders]}"
            f" (and {other or 'nothing else'})"
        )
    return Pack(detectors[0], embedders[0])
