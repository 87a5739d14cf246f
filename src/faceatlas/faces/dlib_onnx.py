"""dlib's face-recognition ResNet, converted to ONNX and run with ONNX Runtime.

dlib ships the network as ``dlib_face_recognition_resnet_model_v1.dat``, a dlib
serialization of the ``anet_type`` defined in dlib's
``tools/python/src/face_recognition.cpp``. This module reads that file with a
small reader of dlib's format, rebuilds the same network as an ONNX graph and
caches the result, so faces can be embedded without dlib and in larger batches.

Graph input ``chips``: uint8, shape (N, 150, 150, 3), RGB chips as returned by
``dlib.get_face_chip(img, shape, size=150, padding=0.25)``. The graph transposes
them to NCHW float32 and applies dlib's ``input_rgb_image_sized`` normalisation,
``(pixel - mean) / 256`` per channel with the means stored in the .dat file; the
normalisation is folded into the first convolution's weights and bias (exact,
as that convolution has no padding). Every batch-norm ``affine`` layer is folded
into the convolution before it.

Graph output ``embeddings``: float32, shape (N, 128), raw descriptors exactly
as ``face_recognition_model_v1.compute_face_descriptor`` returns them (not
normalised; dlib's distance threshold of 0.6 applies to them).
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from faceatlas.atomic import atomic_write
from faceatlas.errors import ModelError
from faceatlas.faces import weights
from faceatlas.faces.align import CHIP_SIZE, jitter_chips, jitter_maps
from faceatlas.faces.onnx_session import choose_providers, open_session

if TYPE_CHECKING:
    import onnx
    import onnxruntime

log = logging.getLogger(__name__)

EMBEDDING_DIM = 128

# Bump when the conversion changes, so stale cached .onnx files are not reused.
_CONVERTER_VERSION = 2
_OPSET = 17


class _Reader:
    """Reads values in dlib's portable serialization format (``dlib/serialize.h``)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def _take(self, n: int) -> bytes:
        if self._pos + n > len(self._data):
            raise ValueError(f"unexpected end of dlib file at byte {self._pos}")
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def int(self) -> int:
        """An integer: a control byte (bit 0x80 = negative, low 4 bits = length),
        then that many little-endian magnitude bytes."""
        control = self._take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8:
            raise ValueError(f"bad integer control byte {control:#x} at byte {self._pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def float(self) -> float:
        """A float stored as ``float_details``: mantissa then exponent, both integers."""
        if self._data[self._pos] & 0x70:
            raise ValueError(f"old ASCII float format at byte {self._pos} is not supported")
        mantissa = self.int()
        exponent = self.int()
        specials = {32000: math.inf, 32001: -math.inf, 32002: math.nan}
        return specials.get(exponent, math.ldexp(mantissa, exponent))

    def bool(self) -> bool:
        value = self._take(1)
        if value not in (b"0", b"1"):
            raise ValueError(f"bad bool {value!r} at byte {self._pos - 1}")
        return value == b"1"

    def string(self) -> str:
        return self._take(self.int()).decode("latin-1")

    def version(self, *allowed: str) -> str:
        """A version string, checked against the versions this reader understands."""
        value = self.string()
        if value not in allowed:
            raise ValueError(f"expected one of {allowed}, found {value!r} at byte {self._pos}")
        return value

    def int_version(self, *allowed: int) -> int:
        value = self.int()
        if value not in allowed:
            raise ValueError(f"expected version {allowed}, found {value} at byte {self._pos}")
        return value

    def tensor(self) -> np.ndarray:
        """A ``resizable_tensor``: version 2, num_samples, k, nr, nc, little-endian float32s."""
        self.int_version(2)
        shape = tuple(self.int() for _ in range(4))
        count = math.prod(shape)
        values = np.frombuffer(self._take(4 * count), dtype="<f4", count=count)
        return values.astype(np.float32).reshape(shape)

    def alias_tensor(self) -> tuple[int, ...]:
        """An ``alias_tensor``: only its shape is stored."""
        self.int_version(1)
        return tuple(self.int() for _ in range(4))

    def at_end(self) -> bool:
        return self._pos == len(self._data)


class _Layer(NamedTuple):
    """One dlib layer in forward order; ``n`` is filters, outputs or tag id."""

    kind: str
    n: int = 0
    size: int = 0
    stride: int = 1


_Parsed = list[tuple[_Layer, dict[str, np.ndarray]]]


def _architecture() -> list[_Layer]:
    """dlib's ``anet_type`` from input to output (the .dat file stores the weights only)."""

    def block(filters: int, stride: int) -> list[_Layer]:
        return [
            _Layer("con", filters, 3, stride),
            _Layer("affine"),
            _Layer("relu"),
            _Layer("con", filters, 3, 1),
            _Layer("affine"),
        ]

    def ares(filters: int) -> list[_Layer]:
        return [_Layer("tag", 1), *block(filters, 1), _Layer("add_prev", 1), _Layer("relu")]

    def ares_down(filters: int) -> list[_Layer]:
        # add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<SUBNET>>>>>>
        return [
            _Layer("tag", 1),
            *block(filters, 2),
            _Layer("tag", 2),
            _Layer("skip", 1),
            _Layer("avg_pool", 0, 2, 2),
            _Layer("add_prev", 2),
            _Layer("relu"),
        ]

    layers = [
        _Layer("con", 32, 7, 2),
        _Layer("affine"),
        _Layer("relu"),
        _Layer("max_pool", 0, 3, 2),
    ]
    layers += ares(32) * 3
    layers += ares_down(64) + ares(64) * 3
    layers += ares_down(128) + ares(128) * 2
    layers += ares_down(256) + ares(256) * 2
    layers += ares_down(256)
    layers += [_Layer("avg_pool", 0, 0, 1), _Layer("fc", EMBEDDING_DIM)]
    return layers


def _read_con(r: _Reader, layer: _Layer) -> dict[str, np.ndarray]:
    version = r.version("con_4", "con_5", "con_6")
    params = r.tensor().ravel()
    num_filters = r.int()
    nr, nc, stride_y, stride_x, pad_y, pad_x = (r.int() for _ in range(6))
    filters = r.alias_tensor()
    r.alias_tensor()  # biases: (1, num_filters, 1, 1)
    for _ in range(4):
        r.float()  # learning-rate and weight-decay multipliers
    use_bias = r.bool() if version in ("con_5", "con_6") else True
    use_relu = r.bool() if version == "con_6" else False
    expected = (layer.n, layer.size, layer.size, layer.stride, layer.stride)
    if (num_filters, nr, nc, stride_y, stride_x) != expected or use_relu:
        raise ValueError(f"convolution {expected} does not match the file")
    if (pad_y, pad_x) != ((0, 0) if layer.stride != 1 else (nr // 2, nc // 2)):
        raise ValueError(f"unexpected convolution padding {(pad_y, pad_x)}")
    size = math.prod(filters)
    bias = params[size : size + num_filters] if use_bias else np.zeros(num_filters, np.float32)
    return {"weight": params[:size].reshape(filters), "bias": bias}


def _read_affine(r: _Reader) -> dict[str, np.ndarray]:
    version = r.version("affine_", "affine_2")
    params = r.tensor().ravel()
    gamma = r.alias_tensor()
    r.alias_tensor()  # beta has gamma's shape
    mode = r.int()
    disabled = r.bool() if version == "affine_2" else False
    if mode != 0 or disabled:  # 0 is CONV_MODE: one scale and shift per channel
        raise ValueError(f"unsupported affine layer (mode {mode}, disabled {disabled})")
    k = math.prod(gamma)
    return {"gamma": params[:k], "beta": params[k : 2 * k]}


def _read_pool(r: _Reader, layer: _Layer) -> None:
    r.version("max_pool_2" if layer.kind == "max_pool" else "avg_pool_2")
    nr, nc, stride_y, stride_x, pad_y, pad_x = (r.int() for _ in range(6))
    expected = (layer.size, layer.size, layer.stride, layer.stride, 0, 0)
    if (nr, nc, stride_y, stride_x, pad_y, pad_x) != expected:
        raise ValueError(f"{layer.kind} does not match the file")


def _read_fc(r: _Reader, layer: _Layer) -> dict[str, np.ndarray]:
    version = r.version("fc_2", "fc_3")
    num_outputs = r.int()
    num_inputs = r.int()
    params = r.tensor().ravel()
    r.alias_tensor()  # weights: (num_inputs, num_outputs)
    r.alias_tensor()  # biases, unused by fc_no_bias
    bias_mode = r.int()
    for _ in range(4):
        r.float()
    if version == "fc_3":
        r.bool()
    if num_outputs != layer.n or bias_mode != 1:  # 1 is FC_NO_BIAS
        raise ValueError("fully connected layer does not match the file")
    return {"weight": params[: num_inputs * num_outputs].reshape(num_inputs, num_outputs)}


def _read_details(r: _Reader, layer: _Layer) -> dict[str, np.ndarray]:
    """One layer's details; parameters for con, affine and fc, checks for the rest."""
    if layer.kind == "con":
        return _read_con(r, layer)
    if layer.kind == "affine":
        return _read_affine(r)
    if layer.kind == "fc":
        return _read_fc(r, layer)
    if layer.kind in ("max_pool", "avg_pool"):
        _read_pool(r, layer)
    elif layer.kind == "relu":
        if r.version("relu_", "relu_2") == "relu_2" and r.bool():
            raise ValueError("disabled relu layers are not supported")
    elif layer.kind == "add_prev":
        r.version("add_prev_")
    else:
        raise ValueError(f"no reader for layer kind {layer.kind!r}")
    return {}


def _read_dat(data: bytes) -> tuple[np.ndarray, _Parsed]:
    """Parse the .dat file into the input means (R, G, B) and per-layer parameters.

    A dlib network serializes recursively: the loss layer, then each layer's
    version number from the output down to the input, then the input layer, then
    each layer's details from the input up to the output (tag and skip layers
    have a version number only).
    """
    r = _Reader(data)
    layers = _architecture()
    r.int_version(1)  # add_loss_layer
    if r.version("loss_metric_", "loss_metric_2") == "loss_metric_2":
        r.float()  # margin
        r.float()  # distance threshold
    for i, layer in reversed(list(enumerate(layers))):
        if layer.kind in ("tag", "skip"):
            r.int_version(1)
        elif i == 0:  # the add_layer next to the input layer
            first_version = r.int_version(2, 3)
        else:
            r.int_version(1, 2)
    r.version("input_rgb_image_sized")
    means = np.array([r.float() for _ in range(3)], dtype=np.float32)
    if (r.int(), r.int()) != (CHIP_SIZE, CHIP_SIZE):
        raise ValueError(f"network input is not {CHIP_SIZE}x{CHIP_SIZE}")

    parsed = []
    for i, layer in enumerate(layers):
        if layer.kind in ("tag", "skip"):
            parsed.append((layer, {}))
            continue
        parsed.append((layer, _read_details(r, layer)))
        for _ in range(3):
            r.bool()  # setup-called and gradient flags
        r.tensor()  # x_grad
        r.tensor()  # cached_output
        r.tensor()  # params_grad, or grad_final next to the input
        if i == 0 and first_version == 3:
            r.int()  # sample_expansion_factor
    if not r.at_end():
        raise ValueError("trailing bytes after the network; not the expected dlib ResNet")
    return means, parsed


# --------------------------------------------------------------------------- building


class _GraphBuilder:
    """Collects ONNX nodes and initializers while tracking static (C, H, W) shapes."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"

    def const(self, prefix: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.name(prefix)
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        from onnx import helper

        output = output or self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output


def _pad_to(g: _GraphBuilder, x: str, shape: tuple[int, ...], target: tuple[int, ...]) -> str:
    """Zero-pad (C, H, W) at the end up to ``target``, as dlib's ``add_prev`` does."""
    if shape == target:
        return x
    pads = np.array([0, 0, 0, 0, 0, *(t - s for t, s in zip(target, shape, strict=True))])
    return g.node("Pad", [x, g.const("pads", pads.astype(np.int64))], mode="constant")


def _build_model(means: np.ndarray, parsed: _Parsed) -> onnx.ModelProto:
    from onnx import TensorProto, checker, helper

    g = _GraphBuilder()
    x = g.node("Transpose", ["chips"], perm=[0, 3, 1, 2])
    x = g.node("Cast", [x], to=TensorProto.FLOAT)
    shape = (3, CHIP_SIZE, CHIP_SIZE)
    tags: dict[int, tuple[str, tuple[int, ...]]] = {}
    first_conv = True

    i = 0
    while i < len(parsed):
        layer, p = parsed[i]
        if layer.kind == "con":
            weight, bias = p["weight"], p["bias"]
            pad = layer.size // 2 if layer.stride == 1 else 0  # dlib's default padding
            if i + 1 < len(parsed) and parsed[i + 1][0].kind == "affine":
                # Fold the following per-channel affine (a frozen batch norm) into the conv.
                gamma, beta = parsed[i + 1][1]["gamma"], parsed[i + 1][1]["beta"]
                weight = weight * gamma[:, None, None, None]
                bias = bias * gamma + beta
                i += 1
            if first_conv:
                # dlib feeds the first conv (pixel - mean) / 256. With no padding that is
                # exactly conv(weight / 256, pixel) - sum(weight * mean) / 256, which
                # saves a full pass over the input.
                if pad != 0:
                    raise ValueError("cannot fold input normalisation into a padded conv")
                bias = bias - np.einsum("fcij,c->f", weight.astype(np.float64), means) / 256
                weight = weight / 256
                first_conv = False
            x = g.node(
                "Conv",
                [x, g.const("w", weight.astype(np.float32)), g.const("b", bias.astype(np.float32))],
                kernel_shape=[layer.size, layer.size],
                strides=[layer.stride, layer.stride],
                pads=[pad] * 4,
            )
            out = 1 + (shape[1] + 2 * pad - layer.size) // layer.stride
            shape = (layer.n, out, out)
        elif layer.kind == "relu":
            x = g.node("Relu", [x])
        elif layer.kind == "avg_pool" and layer.size == 0:  # avg_pool_everything
            x = g.node("GlobalAveragePool", [x])
            shape = (shape[0], 1, 1)
        elif layer.kind in ("max_pool", "avg_pool"):
            op = "MaxPool" if layer.kind == "max_pool" else "AveragePool"
            x = g.node(op, [x], kernel_shape=[layer.size] * 2, strides=[layer.stride] * 2)
            out = 1 + (shape[1] - layer.size) // layer.stride
            shape = (shape[0], out, out)
        elif layer.kind == "tag":
            tags[layer.n] = (x, shape)
        elif layer.kind == "skip":
            x, shape = tags[layer.n]
        elif layer.kind == "add_prev":
            other, other_shape = tags[layer.n]
            target = tuple(max(a, b) for a, b in zip(shape, other_shape, strict=True))
            x = _pad_to(g, x, shape, target)
            x = g.node("Add", [x, _pad_to(g, other, other_shape, target)])
            shape = target
        elif layer.kind == "fc":
            if p["weight"].shape[0] != math.prod(shape):
                raise ValueError("fully connected layer input size does not match the network")
            x = g.node("Flatten", [x], axis=1)
            x = g.node("MatMul", [x, g.const("fc", p["weight"])], output="embeddings")
        else:  # affine layers are folded into the conv before them
            raise ValueError(f"cannot convert a {layer.kind} layer at position {i}")
        i += 1

    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["N", CHIP_SIZE, CHIP_SIZE, 3])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["N", EMBEDDING_DIM])],
        g.initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", _OPSET)], producer_name="faceatlas"
    )
    model.ir_version = 8  # readable by onnxruntime releases from 1.10 on
    checker.check_model(model)
    return model


def _convert(dat_path: Path) -> bytes:
    """Serialized ONNX model for the dlib ResNet in ``dat_path``."""
    means, parsed = _read_dat(dat_path.read_bytes())
    return _build_model(means, parsed).SerializeToString()


def onnx_model_path(dat_path: Path | None = None, cache_dir: Path | None = None) -> Path:
    """Path of the ONNX model for dlib's ResNet, converting it on first use.

    ``dat_path`` defaults to the file in ``face_recognition_models``; ``cache_dir``
    to ``platformdirs.user_cache_dir("faceatlas")``. The cache file is keyed by
    the .dat file's sha256, is written atomically, and never needs the network.
    """
    if dat_path is None:
        dat_path = weights.weight_file(weights.RESNET)
    if cache_dir is None:
        import platformdirs

        cache_dir = Path(platformdirs.user_cache_dir("faceatlas"))
    digest = hashlib.sha256(Path(dat_path).read_bytes()).hexdigest()[:16]
    path = Path(cache_dir) / f"dlib_resnet_v1-{digest}-c{_CONVERTER_VERSION}.onnx"
    if path.is_file():
        return path

    try:
        data = _convert(Path(dat_path))
    except ValueError as err:
        raise ModelError(f"cannot read the dlib face model {dat_path}: {err}") from err
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        handle.write(data)
    log.info("converted %s to %s", dat_path, path)
    return path


# --------------------------------------------------------------------------- running


class OnnxEmbedder:
    """Embeds 150x150 RGB face chips with the ONNX conversion of dlib's ResNet.

    The ONNX Runtime session is created on first use and rebuilt after
    unpickling, so the embedder can be shipped to worker processes.

    Parameters
    ----------
    model_path : Path, optional
        ONNX model; by default :func:`onnx_model_path` (converted and cached).
    threads : int, optional
        ``intra_op_num_threads`` of the session; ONNX Runtime's default if None.
    providers : list of str, optional
        Execution providers in order of preference; by default
        :data:`faceatlas.faces.onnx_session.PROVIDER_PREFERENCE`, keeping those available.
    batch_size : int
        Chips per ``session.run`` call.
    jitter : int
        dlib's ``num_jitters``: when 2 or more, each face's descriptor is the mean of the
        descriptors of this many jittered copies of its chip (see :func:`jitter_maps`), run
        in batches; 0 or 1 embed the chip as is.
    """

    name = "dlib-resnet-v1"  # the same model and vectors as DlibEmbedder: catalogs mix freely
    dim = EMBEDDING_DIM
    chip_size = CHIP_SIZE

    def __init__(
        self,
        model_path: Path | None = None,
        threads: int | None = None,
        providers: list[str] | None = None,
        *,
        batch_size: int = 32,
        jitter: int = 0,
    ) -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {threads}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if jitter < 0:
            raise ValueError(f"jitter must be >= 0, got {jitter}")
        self.model_path = model_path
        self.threads = threads
        self.providers = providers
        self.batch_size = batch_size
        self.jitter = jitter
        self._maps: np.ndarray | None = None
        self._session: onnxruntime.InferenceSession | None = None
        self._lock = threading.Lock()

    def _choose_providers(self) -> list[str]:
        return choose_providers(self.providers)

    def session(self) -> onnxruntime.InferenceSession:
        """The ONNX Runtime session, created on first call."""
        with self._lock:
            if self._session is None:
                if self.model_path is None:
                    self.model_path = onnx_model_path()
                self._session = open_session(
                    Path(self.model_path), "dlib ResNet", self.threads, self._choose_providers()
                )
            return self._session

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """Raw 128-d descriptors, float32 (N, 128), for uint8 RGB chips (N, 150, 150, 3)."""
        chips = np.asarray(chips)
        if (
            chips.dtype != np.uint8
            or chips.ndim != 4
            or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3)
        ):
            raise ValueError(
                f"chips must be uint8 of shape (N, {CHIP_SIZE}, {CHIP_SIZE}, 3), "
                f"got {chips.dtype} {chips.shape}"
            )
        if len(chips) == 0:
            return np.empty((0, EMBEDDING_DIM), dtype=np.float32)
        if self.jitter < 2:
            return self._run(chips)
        if self._maps is None:
            self._maps = jitter_maps(CHIP_SIZE, self.jitter)
        return np.stack([self._run(jitter_chips(chip, self._maps)).mean(axis=0) for chip in chips])

    def _run(self, chips: np.ndarray) -> np.ndarray:
        session = self.session()
        out = []
        for start in range(0, len(chips), self.batch_size):
            batch = np.ascontiguousarray(chips[start : start + self.batch_size])
            out.append(session.run(["embeddings"], {"chips": batch})[0])
        return np.concatenate(out)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "model_path": self.model_path,
            "threads": self.threads,
            "providers": self.providers,
            "batch_size": self.batch_size,
            "jitter": self.jitter,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]
