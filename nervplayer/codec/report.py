"""Readable summaries: a file's header (``nervplayer info``) and the coder comparison (``compress
--compare-coders``)."""

from __future__ import annotations

import lzma
import time
import zlib
from typing import Any, Callable, TypeVar

import numpy as np

from .entropy import CODERS, MASK_MODELS, decode_symbols, encode_mask, encode_symbols, entropy_bits
from .nervfile import NervFile

T = TypeVar("T")


def describe(header: dict[str, Any], file_bytes: int) -> str:
    """The header of a validated file, as text."""
    m, v, c = header["model"], header["video"], header["compression"]
    act = header["plugins"]["activation"]
    pixels = v["num_frames"] * m["height"] * m["width"]
    lines = [
        f"video      {v['num_frames']} frames at {v['fps']:g} fps, {m['width']}x{m['height']} "
        f"(source {v.get('original_size', ['?', '?'])[1]}x{v.get('original_size', ['?', '?'])[0]}, "
        f"frames {v.get('start', 0)}:{v.get('end', '?')}, trained on every {v.get('stride', 1)})",
        f"source     {header.get('source', {}).get('name', '?')}  sha256 {header.get('source', {}).get('sha256', '?')}",
        _model_line(m, header["plugins"].get("model", {"id": "nerv", "version": "1.0 (format 1)"})),
        f"activation {act['id']} (plugin version {act['version']}) {act.get('params') or ''}".rstrip(),
        "compression " + ", ".join(f"{k} {val}" for k, val in c.items()),
        f"size       {file_bytes:,} bytes, {file_bytes * 8 / pixels:.4f} bpp",
    ]
    if header.get("metrics"):
        lines.append(
            "metrics    "
            + ", ".join(
                f"{k} {val:.4f}" if isinstance(val, float) else f"{k} {val}" for k, val in header["metrics"].items()
            )
        )
    if header.get("created"):
        lines.append("created    " + ", ".join(f"{k} {val}" for k, val in header["created"].items()))
    lines.append(
        f"{'tensor':<22} {'kind':<10} {'shape':<18} {'bits':>4} {'kept':>9} {'weights B':>10} "
        f"{'mask B':>8} {'table B':>8}"
    )
    for t in header["tensors"]:
        kind = t.get("kind", "weights")[:7] + ("*" if t.get("scheme") == "step" else "")
        kind += "^" if t.get("predict") == "time" else ""
        kind += "~" if t.get("entropy") == "laplace" else ""
        lines.append(
            f"{t['name']:<22} {kind:<10} {'x'.join(map(str, t['shape'])):<18} {t['bits']:>4} "
            f"{t['kept']:>9,} {t['weights_bytes']:>10,} {t['mask_bytes'] + t['mask_table_bytes']:>8,} "
            f"{t['table_bytes']:>8,}"
        )
    if any(t.get("scheme") == "step" for t in header["tensors"]):
        lines.append("* quantized with the step learned in training")
    if any(t.get("predict") == "time" for t in header["tensors"]):
        lines.append("^ coded as differences of consecutive frames / time slices")
    if any(t.get("entropy") == "laplace" for t in header["tensors"]):
        lines.append("~ coded with laplace models, their parameters in 'table B' (docs/format.md)")
    return "\n".join(lines)


def _model_line(m: dict[str, Any], arch: dict[str, Any]) -> str:
    name = f"model      {arch['id']} (plugin version {arch['version']})"
    if arch["id"] == "nerv":
        return (
            f"{name}: fc {m['fc_h']}x{m['fc_w']}x{m['fc_c']}, strides {m['strides']}, stem {m['stem_layers']}x"
            f"{m['stem_dim']}, PE {m['pe_base']}^{m['pe_levels']}, lower width {m['lower_width']}"
        )
    config = {k: val for k, val in m.items() if k not in ("height", "width", "activation", "activation_params")}
    return f"{name}: " + ", ".join(f"{k} {val}" for k, val in config.items())


def _timed(fn: Callable[..., T], *args: Any) -> tuple[T, float]:
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def coder_comparison(nf: NervFile) -> str:
    """Every coder on the file's weight symbols, every mask model on its masks, against the entropy."""
    tensors = list(nf.tensors.items())
    entropy = sum(entropy_bits(q.symbols) for _, q in tensors)
    lines = [
        f"weight symbols: {sum(q.symbols.size for _, q in tensors):,}, empirical entropy "
        f"{entropy / 8:,.0f} bytes (per-tensor histograms)",
        f"{'coder':<8} {'stream B':>10} {'table B':>8} {'stream/entropy':>15} {'encode ms':>10} {'decode ms':>10}",
    ]
    for coder in CODERS:
        stream = table = 0
        t_enc = t_dec = 0.0
        for name, q in tensors:
            (tab, st), te = _timed(encode_symbols, q.symbols, q.bits, coder)
            _, td = _timed(decode_symbols, tab, st, q.symbols.size, q.bits, coder, name)
            stream, table, t_enc, t_dec = stream + len(st), table + len(tab), t_enc + te, t_dec + td
        lines.append(
            f"{coder:<8} {stream:>10,} {table:>8,} {stream * 8 / entropy:>15.4f} {t_enc * 1e3:>10.1f} "
            f"{t_dec * 1e3:>10.1f}"
        )
    for name, compress, decompress in (
        ("zlib-9", lambda b: zlib.compress(b, 9), zlib.decompress),
        ("lzma-9e", lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME), lzma.decompress),
    ):
        stream, t_enc, t_dec = 0, 0.0, 0.0
        for _, q in tensors:
            raw = q.symbols.astype(np.uint8 if q.bits <= 8 else "<u2").tobytes()
            packed, te = _timed(compress, raw)
            _, td = _timed(decompress, packed)
            stream, t_enc, t_dec = stream + len(packed), t_enc + te, t_dec + td
        lines.append(
            f"{name:<8} {stream:>10,} {0:>8,} {stream * 8 / entropy:>15.4f} {t_enc * 1e3:>10.1f} {t_dec * 1e3:>10.1f}"
        )
    masks = [q.mask for _, q in tensors if q.mask is not None]
    if masks:
        n = sum(mask.size for mask in masks)
        h = sum(mask.size * _h2(mask.mean()) for mask in masks)
        lines.append(f"masks: {n:,} entries, per-tensor binary entropy {h / 8:,.0f} bytes")
        lines.append(f"{'mask model':<16} {'bytes':>10} {'(table)':>8} {'bits/entry':>11}")
        for label, model, coder in [("bitmap (raw)", "tensor", "raw")] + [(m, m, "ans") for m in MASK_MODELS]:
            total = table = 0
            for mask in masks:
                tab, st = encode_mask(mask, model, coder)
                total, table = total + len(tab) + len(st), table + len(tab)
            lines.append(f"{label:<16} {total:>10,} {table:>8,} {total * 8 / n:>11.4f}")
    return "\n".join(lines)


def _h2(p: float) -> float:
    return 0.0 if p <= 0 or p >= 1 else float(-(p * np.log2(p) + (1 - p) * np.log2(1 - p)))
