"""The ``.nerv`` file: a quantized model (any ``model`` plugin), the header that describes it, and the strict reader.

Sections (see docs/format.md): ``QPAR`` the quantization parameters (affine ranges, or a learned step), ``TABL``
the entropy tables, ``WGHT`` the coded symbols, ``MASK`` the coded pruning masks; each holds one piece per stored
tensor (weights and per-frame latents alike, each with its own quantizer and entropy table), in header order,
with the piece sizes in the header. Reading validates the whole header (types, ranges, the architecture's size,
the plugins it needs, every declared size against the bytes present) before allocating or decoding anything.
Format 2 adds ``plugins.model`` (the architecture) and per-tensor ``kind`` / ``scheme``; a format-1 file is a
NeRV and reads as before.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ..atomic import atomic_write_bytes
from ..errors import NervFormatError, PluginError
from ..model import ModelConfig, architectures
from ..model.config import MAX_PARAMS, MAX_SIDE, check_model_config
from ..model.spec import NERV, ModelSpec
from ..plugins import PluginEntry, get_registry
from ..plugins.api import Kind
from ..version import __version__
from . import container, context, latentcode, segtable, stepquant
from .entropy import (
    CODERS,
    MASK_MODELS,
    coder_library_version,
    decode_mask,
    encode_mask,
)
from .quantize import MAX_BITS, MIN_BITS, QuantizedTensor, channel_count
from .segtable import SegmentedFile
from .stepquant import StepQuantizedTensor
from .story import Story, parse_story

# Limits a valid file stays within; a header beyond them is rejected before anything is allocated. The model's
# limits are the ones every model config obeys (nervplayer.model.config).
MAX_FRAMES = 10_000_000
MAX_SOURCE_SIDE = 1 << 20  # pixels of the source video's side (video.original_size)
# How the file was made (header.compression): numeric fields (lo, hi, integer) and the others' types.
_COMPRESSION_NUMBERS = {
    "prune_ratio": (0, 1, False),
    "sparsity": (0, 1, False),
    "bits": (MIN_BITS, MAX_BITS, True),
    "finetune_epochs": (0, 1 << 31, True),
}
_COMPRESSION_FLAGS = {"per_channel": bool, "qat": bool, "layer_bits": bool, "learned_steps": bool, "from_run": str}
SECTIONS = ("QPAR", "TABL", "WGHT", "MASK")
PARTS = ("header", "ranges", "tables", "weights", "mask")


@dataclass
class NervFile:
    """Everything a ``.nerv`` holds, decoded (tensors stay quantized until :meth:`state_dict`)."""

    model: ModelSpec
    tensors: dict[str, QuantizedTensor | StepQuantizedTensor]  # the stored tensors, in state_dict order
    video: dict[str, Any]  # num_frames, fps, start, end, stride, size, original_size, crop
    activation: dict[str, Any]  # the plugin that shapes the decoder: id, version, params
    coder: str = "ans"
    mask_model: str = "tensor"
    source: dict[str, Any] = field(default_factory=dict)  # name, sha256
    compression: dict[str, Any] = field(default_factory=dict)  # how it was made: prune ratio, bits, fine-tuning...
    metrics: dict[str, Any] = field(default_factory=dict)  # quality at save time
    created: dict[str, Any] = field(default_factory=dict)
    story: Story = field(default_factory=Story)  # optional: curves, per-frame PSNR, recipe (format 2.2)

    @property
    def num_frames(self) -> int:
        return int(self.video["num_frames"])

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Dequantized float32 weights (identical on every machine, see :mod:`.quantize`)."""
        return {name: torch.from_numpy(q.dequantize()) for name, q in self.tensors.items()}

    def build_model(self, device: torch.device | str = "cpu") -> torch.nn.Module:
        """The decoder network in eval mode, its architecture and activation rebuilt through the plugin registry."""
        activation_factory(self.activation, "this .nerv")
        model_architecture(self.model.plugin_ref(), "this .nerv")
        model = architectures.build(self.model)
        missing, unexpected = model.load_state_dict(self.state_dict(), strict=False)
        if unexpected or set(missing) & set(self.tensors):
            raise NervFormatError("this .nerv: its tensors do not fit the model")
        return model.to(device).eval()

    def header(self) -> dict[str, Any]:
        """The JSON header without the per-tensor coding sizes (what ``nervplayer info`` shows first)."""
        return {
            "model": self.model.model_dict(),
            "plugins": {"activation": self.activation, "model": self.model.plugin_ref()},
            "video": self.video,
            "source": self.source,
            "compression": {**self.compression, "coder": self.coder, "mask_model": self.mask_model},
            "metrics": self.metrics,
            "created": self.created,
            **({"story": self.story.record()} if self.story.record() else {}),
        }


def _installed_plugin(kind: Kind, ref: dict[str, Any], where: str) -> PluginEntry:
    """The plugin a header names, installed in a compatible (same major) version; else the error names it."""
    pid, version = str(ref.get("id")), str(ref.get("version"))
    try:
        entry = get_registry().get(kind, pid)
    except PluginError:
        raise NervFormatError(
            f"{where}: needs the {kind} plugin {pid!r} version {version}, which is not installed "
            f"(installed: {', '.join(get_registry().ids(kind))})"
        ) from None
    if entry.version.split(".")[0] != version.split(".")[0]:
        raise NervFormatError(
            f"{where}: needs the {kind} plugin {pid!r} version {version}; the installed one is "
            f"version {entry.version} ({entry.source})"
        )
    return entry


def activation_factory(ref: dict[str, Any], where: str) -> Callable[[], Any]:
    """The zero-argument activation factory a header names; missing or incompatible plugins are named."""
    entry = _installed_plugin("activation", ref, where)
    try:
        return get_registry().factory("activation", entry.id, ref.get("params") or {})
    except PluginError as e:
        raise NervFormatError(f"{where}: {e}") from None


def model_architecture(ref: dict[str, Any], where: str) -> None:
    """Check that the model plugin a header names is installed in a compatible (same major) version."""
    _installed_plugin("model", ref, where)


def stored_shapes(spec: ModelSpec) -> dict[str, tuple[tuple[int, ...], str]]:
    """What a ``.nerv`` of ``spec`` stores, in state_dict order: name → (shape, "weights" | "latents");
    computed on the meta device (nothing is allocated)."""
    all_shapes, stored = architectures.shapes(spec)
    return {name: (shape, stored[name]) for name, shape in all_shapes.items() if name in stored}


# ---------------------------------------------------------------------------------------------- writing


def encode(nf: NervFile) -> tuple[bytes, dict[str, int]]:
    """The file's bytes and the bytes of each part (:data:`PARTS`; they add up to the file size)."""
    entries: list[dict[str, Any]] = []
    pieces: dict[str, list[bytes]] = {tag: [] for tag in SECTIONS}
    kinds = {name: kind for name, (_, kind) in stored_shapes(nf.model).items()}
    for name, q in nf.tensors.items():
        table, stream, predict, entropy = latentcode.encode_tensor(q, kinds[name], nf.coder)
        mask_table, mask_stream = (b"", b"") if q.mask is None else encode_mask(q.mask, nf.mask_model, nf.coder)
        step = isinstance(q, StepQuantizedTensor)
        if isinstance(q, StepQuantizedTensor):
            pieces["QPAR"].append(q.qpar())
        else:
            pieces["QPAR"].append(q.minimum.astype("<f2").tobytes() + q.maximum.astype("<f2").tobytes())
        pieces["TABL"] += [table, mask_table]
        pieces["WGHT"].append(stream)
        pieces["MASK"].append(mask_stream)
        entries.append(
            {
                "name": name,
                "shape": list(q.shape),
                "bits": q.bits,
                "per_channel": q.per_channel,
                "masked": q.mask is not None,
                "kept": int(q.symbols.size),
                "table_bytes": len(table),
                "weights_bytes": len(stream),
                "mask_table_bytes": len(mask_table),
                "mask_bytes": len(mask_stream),
                "kind": kinds[name],
                "scheme": "step" if step else "affine",
                "predict": predict,
                **({"entropy": entropy} if entropy != "table" else {}),
            }
        )
    header = {**nf.header(), "tensors": entries}
    sections = [(tag, b"".join(pieces[tag])) for tag in SECTIONS]
    data = container.pack(header, sections)
    sizes = {
        "ranges": len(sections[0][1]),
        "tables": sum(e["table_bytes"] for e in entries),
        "weights": len(sections[2][1]),
        "mask": len(sections[3][1]) + sum(e["mask_table_bytes"] for e in entries),
    }
    sizes = {"header": len(data) - sum(sizes.values()), **sizes}
    return data, sizes


def save(nf: NervFile, path: str | os.PathLike) -> dict[str, int]:
    """Write ``nf`` atomically; returns the bytes per part."""
    if not nf.created:
        nf.created = {
            "by": f"nervplayer {__version__}",
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "constriction": coder_library_version(),
        }
    data, sizes = encode(nf)
    atomic_write_bytes(path, data)
    return sizes


# ---------------------------------------------------------------------------------------------- reading


def load(path: str | os.PathLike) -> NervFile:
    """Open and fully validate a one-model ``.nerv`` file (formats 1, 2); any problem, a segmented file
    included (:func:`load_any` opens those), is a :class:`NervFormatError`."""
    nf = load_any(path)
    if isinstance(nf, SegmentedFile):
        raise NervFormatError(f"{path}: holds {len(nf.segments)} segments, not one model")
    return nf


def load_any(path: str | os.PathLike) -> NervFile | SegmentedFile:
    """Open and fully validate a ``.nerv`` file, one model (formats 1, 2) or several segments (format 3, each
    segment validated as a 2.x file, the segment table before anything is read); any problem is a
    :class:`NervFormatError`."""
    name = str(path)
    tables: list[list[segtable.Segment]] = []

    def before_sections(version: tuple[int, int], header: dict[str, Any], after_header: int) -> None:
        if version[0] == container.SEGMENTED[0]:
            video = _Validator(name).clip_video(header)
            tables.append(segtable.check_table(header, video["num_frames"], after_header, name))

    contents = container.read_file(path, before_sections)
    if not tables:
        return decode(contents.header, contents.sections, name)
    return _decode_segmented(contents.header, contents.sections[segtable.TAG], tables[0], name)


def _decode_segmented(
    header: dict[str, Any], payload: bytes, table: list[segtable.Segment], name: str
) -> SegmentedFile:
    v = _Validator(name)
    video = header["video"]
    parts: list[NervFile] = []
    for i, s in enumerate(table):
        where = f"{name}: segment {i} (frames {s.start}:{s.end})"
        inner = container.unpack_file(payload[s.offset : s.offset + s.bytes], where)
        if inner.version[0] == container.SEGMENTED[0]:
            raise NervFormatError(f"{where}: is itself a segmented file")
        nf = decode(inner.header, inner.sections, where)
        if nf.num_frames != s.stored_frames:
            lead = f" ({s.lead} before its own, {s.trail} after)" if s.lead or s.trail else ""
            raise NervFormatError(
                f"{where}: holds {nf.num_frames} frames, the segment table says {s.stored_frames}{lead}"
            )
        if nf.video["size"] != video["size"] or float(nf.video["fps"]) != float(video["fps"]):
            raise NervFormatError(
                f"{where}: its frames are {nf.video['size']} at {nf.video['fps']:g} fps, "
                f"the video's {video['size']} at {video['fps']:g} fps"
            )
        parts.append(nf)
    return SegmentedFile(
        video=video,
        segments=table,
        parts=parts,
        source=v.source(v.optional_dict(header, "source")),
        created=v.optional_dict(header, "created"),
        metrics=v.metrics(v.optional_dict(header, "metrics")),
    )


def decode(header: dict[str, Any], sections: dict[str, bytes], name: str = "<bytes>") -> NervFile:
    v = _Validator(name)
    for tag in SECTIONS:
        if tag not in sections:
            raise NervFormatError(f"{name}: section {tag} is missing")
    model = v.get(header, "model", dict)
    for key in ("height", "width"):
        v.number(model, key, 1, MAX_SIDE, "model")
    plugins = v.get(header, "plugins", dict)
    activation = v.get(plugins, "activation", dict, "plugins")
    v.get(activation, "id", str, "plugins.activation")
    v.get(activation, "version", str, "plugins.activation")
    v.get(activation, "params", dict, "plugins.activation")
    declared = activation["params"]
    act_params = v.get(model, "activation_params", dict, "model")
    if activation["id"] != v.get(model, "activation", str, "model") or any(
        k not in declared or declared[k] != val for k, val in act_params.items()
    ):
        raise NervFormatError(f"{name}: the activation plugin entry does not match the model's activation")
    activation_factory(activation, name)  # the activation plugin must be installed
    ref = plugins.get("model", {"id": NERV, "version": "1.0"})  # format 1: always a NeRV
    if not isinstance(ref, dict) or not isinstance(ref.get("id"), str) or not isinstance(ref.get("version"), str):
        raise NervFormatError(f"{name}: plugins.model must name an id and a version")
    model_architecture(ref, name)
    video = v.video(v.get(header, "video", dict), model)
    source, metrics = v.source(v.optional_dict(header, "source")), v.metrics(v.optional_dict(header, "metrics"))
    comp = v.compression(v.get(header, "compression", dict))
    coder = v.choice(comp, "coder", CODERS, "compression")
    mask_model = v.choice(comp, "mask_model", MASK_MODELS, "compression")
    if ref["id"] == NERV:
        cfg = v.model_config(model)
        spec = ModelSpec.from_nerv(cfg, video["num_frames"], ref["version"])
    else:
        spec = ModelSpec.from_records(model, ref, video["num_frames"])
    shapes = v.stored(spec)
    entries = v.tensor_entries(v.get(header, "tensors", list), shapes, spec.num_frames)

    offsets = dict.fromkeys(SECTIONS, 0)

    def take(tag: str, size: int) -> bytes:
        start = offsets[tag]
        offsets[tag] = start + size
        return sections[tag][start : start + size]

    for tag, sizes in (
        ("QPAR", [_qpar_bytes(e) for e in entries]),
        ("TABL", [e["table_bytes"] + e["mask_table_bytes"] for e in entries]),
        ("WGHT", [e["weights_bytes"] for e in entries]),
        ("MASK", [e["mask_bytes"] for e in entries]),
    ):
        if sum(sizes) != len(sections[tag]):
            raise NervFormatError(
                f"{name}: section {tag} holds {len(sections[tag])} bytes, the header accounts for {sum(sizes)}"
            )
    tensors: dict[str, QuantizedTensor | StepQuantizedTensor] = {}
    for e in entries:
        what = f"{name}: tensor {e['name']}"
        shape = tuple(e["shape"])
        if e["scheme"] == "step":
            sq = stepquant.from_qpar(take("QPAR", stepquant.QPAR_BYTES), shape, e["bits"], np.zeros(0, np.uint16))
            if not sq.valid:
                raise NervFormatError(
                    f"{what}: quantization step {sq.step:g} and offset {sq.offset} decode beyond "
                    f"±{stepquant.MAX_VALUE:g}"
                )
            table, stream = take("TABL", e["table_bytes"]), take("WGHT", e["weights_bytes"])
            symbols = latentcode.decode_tensor(
                e["predict"], e["entropy"], sq, e["kind"], table, stream, e["kept"], coder, what
            )
            tensors[e["name"]] = dataclasses.replace(sq, symbols=symbols)
            continue
        c = channel_count(shape, e["per_channel"])
        ranges = np.frombuffer(take("QPAR", 4 * c), dtype="<f2")
        minimum, maximum = ranges[:c].astype(np.float16), ranges[c:].astype(np.float16)
        if not (np.isfinite(minimum).all() and np.isfinite(maximum).all() and (maximum >= minimum).all()):
            raise NervFormatError(f"{what}: invalid quantization range")
        table, mask_table = take("TABL", e["table_bytes"]), take("TABL", e["mask_table_bytes"])
        stream = take("WGHT", e["weights_bytes"])
        mask_stream = take("MASK", e["mask_bytes"])
        mask = decode_mask(mask_table, mask_stream, shape, e["kept"], mask_model, coder, what) if e["masked"] else None
        q = QuantizedTensor(shape, e["bits"], e["per_channel"], minimum, maximum, np.zeros(0, np.uint16), mask)
        symbols = latentcode.decode_tensor(
            e["predict"], e["entropy"], q, e["kind"], table, stream, e["kept"], coder, what
        )
        tensors[e["name"]] = dataclasses.replace(q, symbols=symbols)
    return NervFile(
        model=spec,
        tensors=tensors,
        video=video,
        activation=activation,
        coder=coder,
        mask_model=mask_model,
        source=source,
        compression={k: val for k, val in comp.items() if k not in ("coder", "mask_model")},
        metrics=metrics,
        created=v.optional_dict(header, "created"),
        story=parse_story(header.get("story"), video["num_frames"]),  # never fails the file: see codec/story.py
    )


def _qpar_bytes(entry: dict[str, Any]) -> int:
    if entry["scheme"] == "step":
        return stepquant.QPAR_BYTES
    return 4 * channel_count(tuple(entry["shape"]), entry["per_channel"])


class _Validator:
    """Checks of header values; every failure names the file and the offending key."""

    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, msg: str) -> NervFormatError:
        return NervFormatError(f"{self.name}: {msg}")

    def get(self, d: dict, key: str, kind: type | tuple[type, ...], where: str = "header") -> Any:
        if key not in d:
            raise self.fail(f"{where} has no {key!r}")
        value = d[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise self.fail(f"{where}.{key} has the wrong type ({type(value).__name__})")
        return value

    def number(self, d: dict, key: str, lo: float, hi: float, where: str, integer: bool = True) -> Any:
        value = self.get(d, key, int if integer else (int, float), where)
        if not lo <= value <= hi:
            raise self.fail(f"{where}.{key} = {value} is outside [{lo}, {hi}]")
        return value

    def choice(self, d: dict, key: str, options: tuple[str, ...], where: str) -> str:
        value = self.get(d, key, str, where)
        if value not in options:
            raise self.fail(f"{where}.{key} = {value!r} is not one of {', '.join(options)}")
        return value

    def optional_dict(self, d: dict, key: str) -> dict[str, Any]:
        value = d.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(f"header.{key} has the wrong type ({type(value).__name__})")
        return value

    def model_config(self, d: dict) -> ModelConfig:
        missing = [f for f in ModelConfig.__dataclass_fields__ if f not in d]
        if missing:
            raise self.fail(f"model has no {missing[0]!r}")
        try:
            return check_model_config(d)
        except ValueError as e:
            raise self.fail(str(e)) from None

    def stored(self, spec: ModelSpec) -> dict[str, tuple[tuple[int, ...], str]]:
        """Shapes and kinds of the stored tensors, computed without allocating; checks the parameter limit. The
        config is checked against the plugin's limits first, so building the declared model is cheap."""
        try:
            architectures.check_stored(spec)
        except (ValueError, PluginError) as e:
            raise self.fail(str(e)) from None
        try:
            shapes = stored_shapes(spec)
        except Exception as e:  # a plugin failing on construction with these values
            raise self.fail(f"cannot build the declared {spec.arch!r} model ({type(e).__name__}: {e})") from None
        total = sum(int(np.prod(s, dtype=np.int64)) for s, _ in shapes.values())
        if total > MAX_PARAMS:
            raise self.fail(f"model declares {total} stored values (limit {MAX_PARAMS})")
        return shapes

    def clip_video(self, header: dict) -> dict[str, Any]:
        """The ``video`` of a segmented file (no model of its own: ``size`` is checked as such)."""
        d = self.get(header, "video", dict)
        size = self.get(d, "size", list, "video")
        if len(size) != 2 or not all(type(x) is int and 1 <= x <= MAX_SIDE for x in size):
            raise self.fail(f"video.size must be [height, width] in pixels, got {size}")
        return self.video(d, {"height": size[0], "width": size[1]})

    def video(self, d: dict, model: dict) -> dict[str, Any]:
        w = "video"
        self.number(d, "num_frames", 1, MAX_FRAMES, w)
        self.number(d, "fps", 1e-3, 1e4, w, integer=False)
        self.number(d, "stride", 1, MAX_FRAMES, w)
        size = self.get(d, "size", list, w)
        if size != [model["height"], model["width"]]:
            raise self.fail(f"video.size {size} differs from the model's {model['height']}x{model['width']}")
        start = self.number(d, "start", 0, MAX_FRAMES, w) if "start" in d else 0
        if "end" in d:
            self.number(d, "end", start + 1, 2 * MAX_FRAMES, w)
        if "original_size" in d:
            original = self.get(d, "original_size", list, w)
            if len(original) != 2 or not all(type(x) is int and 1 <= x <= MAX_SOURCE_SIDE for x in original):
                raise self.fail(f"video.original_size must be [height, width] in pixels, got {original}")
        if "crop" in d:
            self.get(d, "crop", dict, w)
        return d

    def source(self, d: dict) -> dict[str, Any]:
        """``name`` is the base name of the source video (a player looks for it beside the file); ``sha256``
        its digest."""
        name = self.get(d, "name", str, "source") if "name" in d else ""
        if name in (".", "..") or any(c in name for c in "/\\\0"):
            raise self.fail(f"source.name must be a file name, got {name!r}")
        if "sha256" in d:
            self.get(d, "sha256", str, "source")
        return d

    def metrics(self, d: dict) -> dict[str, Any]:
        """Every quality figure is a finite number, or null where it could not be measured."""
        for key, value in d.items():
            if value is not None and not (
                isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            ):
                raise self.fail(f"metrics.{key} must be a number or null, got {value!r}")
        return d

    def compression(self, d: dict) -> dict[str, Any]:
        """The fields a writer records about how the file was made (others, from a newer minor format, pass)."""
        w = "compression"
        for key, (lo, hi, integer) in _COMPRESSION_NUMBERS.items():
            if key in d:
                self.number(d, key, lo, hi, w, integer)
        for key, kind in _COMPRESSION_FLAGS.items():
            if key in d:
                self.get(d, key, kind, w)
        return d

    def tensor_entries(
        self, entries: list, shapes: dict[str, tuple[tuple[int, ...], str]], num_frames: int
    ) -> list[dict[str, Any]]:
        names = [e.get("name") if isinstance(e, dict) else None for e in entries]
        if names != list(shapes):
            raise self.fail("the tensor list does not match the model's parameters")
        for e in entries:
            w = f"tensor {e['name']}"
            shape = self.get(e, "shape", list, w)
            need, kind = shapes[e["name"]]
            if tuple(shape) != need:
                if kind == "latents" and need[:1] == (num_frames,) and shape[1:] == list(need[1:]):
                    raise self.fail(f"{w} holds latents for {shape[0]} frames, the video has {num_frames}")
                raise self.fail(f"{w} has shape {shape}, the model needs {list(need)}")
            e["shape"] = list(need)  # canonical ints (JSON 3.0 == 3 passes the comparison)
            if e.setdefault("kind", kind) != kind:  # before format 2: no kind
                raise self.fail(f"{w} is stored as {e['kind']!r}, the model's {kind!r}")
            e.setdefault("scheme", "affine")  # format 1
            self.choice(e, "scheme", ("affine", "step"), w)
            e.setdefault("predict", "none")  # before format 2.1
            if self.choice(e, "predict", latentcode.PREDICTORS, w) == "time" and (
                kind != "latents"
                or e.get("masked")
                or len(need) < 2
                or need[0] < 2
                or e.get("bits") == MAX_BITS
                or (e.get("per_channel") and e["scheme"] == "affine")
            ):
                raise self.fail(f"{w}: only unmasked latents with one range below {MAX_BITS} bits are predicted")
            e.setdefault("entropy", "table")  # before format 2.3
            self.choice(e, "entropy", context.ENTROPY_MODELS, w)
            if e["scheme"] == "step" and (e.get("masked") or e.get("per_channel")):
                raise self.fail(f"{w}: a step-quantized tensor has no mask and one step")
            self.number(e, "bits", MIN_BITS, MAX_BITS, w)
            self.get(e, "per_channel", bool, w)
            masked = self.get(e, "masked", bool, w)
            numel = int(np.prod(shape, dtype=np.int64))
            kept = self.number(e, "kept", 0, numel, w)
            if not masked and kept != numel:
                raise self.fail(f"{w} keeps {kept} of {numel} entries but has no mask")
            for key in ("table_bytes", "weights_bytes", "mask_table_bytes", "mask_bytes"):
                self.number(e, key, 0, container.MAX_FILE_BYTES, w)
            if not masked and (e["mask_table_bytes"] or e["mask_bytes"]):
                raise self.fail(f"{w}: mask data for a tensor without a mask")
        return entries
