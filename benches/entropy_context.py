"""Entropy models of a fitted run's stored tensors, compared without refitting: the bytes of the same symbols
under today's per-tensor tables and under per-channel and context models, side information included, as a
Markdown table (docs/models.md, "Entropy models that know their context").

    python benches/entropy_context.py RUN [RUN ...] --bits 8 --prune 0

Each run is quantized as ``nervplayer compress --prune P --finetune-epochs 0`` does (a rate-aware run with its
learned steps). Rows, each a sum over the run's tensors (latents, weights), in bytes:

* ``table``: today's coding, the tensor's histogram (``predict`` = time where smaller), coded bytes + table;
* ``channel tables``: one histogram per channel (weights: output channel; latents: axis 1), ideal bits + tables;
* ``channel laplace``: a discretised Laplace per channel at its median, ideal bits + 4 bytes per channel;
  (every row but ``table`` pays the header's naming of its model, 22 bytes per tensor);
* ``laplace``: the file's ``laplace`` model without contexts (one centre and decay, 7 bytes), coded bytes;
* ``context tables``: latents, a histogram per activity context (4 contexts of the neighbours the file uses);
* ``context laplace``: the file's ``laplace`` model with up to 8 contexts (latents), coded bytes;
* ``+ left``: the same contexts with the left neighbour in the activity too (ideal bits: needs symbol-by-symbol
  decoding, which the file does not do);
* ``ARM-like``: a linear predictor of each latent from its causal neighbours (slice before, left, up, up-left;
  coefficients in 1/64, 8 bytes) with a Laplace per activity context around the prediction (ideal bits);
* ``best``: per tensor, the smallest the writer chooses (table or laplace, with or without time prediction).

The whole file before and after is written by ``nervfile.encode`` with and without the laplace model.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from nervplayer.codec import context, latentcode, nervfile
from nervplayer.codec.entropy import entropy_bits, pack_counts
from nervplayer.codec.packing import activation_ref, pack_learned, pack_model, video_record
from nervplayer.codec.prune import global_magnitude_masks
from nervplayer.model import architectures
from nervplayer.train import open_run

THETAS = 1 - np.exp(-np.geomspace(1e-3, 8, 128))
LATENTS_ONLY = ("context laplace", "context tables", "+ left", "ARM-like")
KEY = len(', "entropy": "laplace"')  # the header's naming of a laplace tensor


def laplace_bits(d: np.ndarray, lo: np.ndarray | int, hi: np.ndarray | int) -> float:
    """Ideal bits of integer offsets ``d`` under the best two-sided geometric P(k) ∝ θ^|k| on [lo, hi]."""
    a = np.abs(d).astype(np.float64)
    lo_, hi_ = np.broadcast_to(lo, d.shape), np.broadcast_to(hi, d.shape)
    best = np.inf
    for th in THETAS:
        z = (2 - th ** (hi_ + 1) - th ** (-lo_ + 1)) / (1 - th) - 1
        best = min(best, float((-a * np.log2(th) + np.log2(z)).sum()))
    return best


def table_bytes(x: np.ndarray, alphabet: int) -> float:
    return entropy_bits(x) / 8 + len(pack_counts(np.bincount(x, minlength=alphabet))) if x.size else 0.0


def shifted(a: np.ndarray, axis: int, by: int = 1) -> np.ndarray:
    """``a`` moved ``by`` along ``axis`` (positive: the earlier neighbour), zeros where there is none."""
    out = np.zeros_like(a)
    src = [slice(None)] * a.ndim
    dst = [slice(None)] * a.ndim
    src[axis], dst[axis] = (slice(None, -by), slice(by, None)) if by > 0 else (slice(-by, None), slice(None, by))
    out[tuple(dst)] = a[tuple(src)]
    return out


def contexts(activity: np.ndarray, k: int) -> np.ndarray:
    cuts = np.unique(np.quantile(activity, np.arange(1, k) / k, method="higher"))
    return np.searchsorted(cuts[cuts >= 1], activity, side="right")


def context_models(x: np.ndarray, alphabet: int, shape: tuple[int, ...]) -> dict[str, float]:
    """The latents-only rows for coded symbols ``x`` (viewed as [T, C, H, W])."""
    centre = int(np.median(x))
    grid = x.reshape(context.layout(shape))
    dev = np.abs(grid - centre)
    up = shifted(dev, 2)
    activity = shifted(dev, 0) + up + shifted(up, 3, 1) + shifted(up, 3, -1)
    ctx = contexts(activity, 4)
    rows = {"context tables": sum(table_bytes(grid[ctx == k], alphabet) for k in np.unique(ctx))}
    left = contexts(activity + shifted(dev, 3), 8)
    d = grid - centre
    rows["+ left"] = 15 + sum(laplace_bits(d[left == k], -centre, alphabet - 1 - centre) / 8 for k in np.unique(left))
    z = grid.astype(np.float64) - centre  # ARM-like: a causal linear prediction, a Laplace per context around it
    feats = np.stack([shifted(z, 0), shifted(z, 3), shifted(z, 2), shifted(shifted(z, 2), 3)], -1).reshape(-1, 4)
    coef = np.round(np.linalg.lstsq(feats, z.ravel(), rcond=None)[0] * 64) / 64
    pred = np.rint(feats @ coef).astype(np.int64).reshape(grid.shape)
    err = np.abs(z.astype(np.int64) - pred)
    act = contexts(shifted(err, 0) + shifted(err, 2) + shifted(err, 3), 4)
    lo, hi = -centre - pred, alphabet - 1 - centre - pred
    rows["ARM-like"] = (
        8
        + 15
        + sum(
            laplace_bits((z.astype(np.int64) - pred)[act == k], lo[act == k], hi[act == k]) / 8 for k in np.unique(act)
        )
    )
    return rows


def measure(path: str, bits: int, prune: float) -> dict[str, Any]:
    run = open_run(path)
    spec = run.model_spec
    state = {k: v.float() for k, v in run.state_dict().items()}
    fields: dict[str, Any] = dict(video=video_record(run), activation=activation_ref(run), coder="ans")
    steps = run.quant_steps()
    if steps is not None:
        nf = pack_learned(state, spec, steps, **fields)
    else:
        with torch.device("meta"):
            prunable = architectures.architecture(spec.arch)[1].prunable(architectures.build(spec))
        masks = global_magnitude_masks({k: state[k] for k in prunable}, prune) if prune else {}
        nf = pack_model(state, spec, dict.fromkeys(state, bits), True, masks, **fields)
    kinds = {n: k for n, (_, k) in nervfile.stored_shapes(spec).items()}
    rows: dict[str, dict[str, float]] = {}

    def add(row: str, kind: str, value: float) -> None:
        rows.setdefault(row, {"latents": 0.0, "weights": 0.0})[kind] += value

    for name, q in nf.tensors.items():
        kind = kinds[name]
        table, stream, predict, _ = _today(q, kind)
        add("table", kind, len(table) + len(stream))
        b = q.bits + (predict == "time")
        x = q.symbols.astype(np.int64)
        if predict == "time":
            x = latentcode.residuals(q.symbols, q.shape, q.bits, latentcode.zero_symbol(q))
        alphabet = 1 << b
        ax = 0 if kind == "weights" else 1
        if len(q.shape) >= 2 and q.shape[ax] > 1:
            if q.mask is None:
                per = list(np.moveaxis(x.reshape(q.shape), ax, 0).reshape(q.shape[ax], -1))
            else:  # kept symbols, row-major: split by each output channel's kept count
                per = np.split(x, np.cumsum(q.mask.reshape(q.shape[0], -1).sum(axis=1))[:-1])
            add("channel tables", kind, KEY + sum(table_bytes(r, alphabet) for r in per))
            add("channel laplace", kind, KEY + sum(4 + _laplace_at_median(r, alphabet) for r in per))
        else:
            add("channel tables", kind, len(table) + len(stream))
            add("channel laplace", kind, KEY + 4 + _laplace_at_median(x, alphabet))
        add("laplace", kind, _laplace_bytes(x, alphabet, q.shape, False))
        if kind == "latents":
            add("context laplace", kind, _laplace_bytes(x, alphabet, q.shape, latentcode.contextual(q, kind)))
        for row, value in (context_models(x, alphabet, q.shape) if kind == "latents" else {}).items():
            add(row, kind, value)
        best = latentcode.encode_tensor(q, kind, "ans")
        add("best", kind, len(best[0]) + len(best[1]) + (best[3] == "laplace") * KEY)
    t0 = time.perf_counter()
    after = nervfile.encode(nf)[0]
    t1 = time.perf_counter()
    nervfile.decode(*_unpack(after))
    t2 = time.perf_counter()
    with _tables_only():
        before = nervfile.encode(nf)[0]
        t3 = time.perf_counter()
        nervfile.decode(*_unpack(before))
        t4 = time.perf_counter()
    return {
        "rows": rows,
        "file": (len(before), len(after)),
        "seconds": {"encode": (t3 - t2, t1 - t0), "decode": (t4 - t3, t2 - t1)},
    }


@contextlib.contextmanager
def _tables_only() -> Iterator[None]:
    """The writer as it was before the laplace model: its estimate never beats a table."""
    fit = context.fit
    context.fit = lambda *args: (context.Laplace(0, (), (1,)), math.inf)  # type: ignore[assignment]
    try:
        yield
    finally:
        context.fit = fit


def _today(q: Any, kind: str) -> tuple[bytes, bytes, str, str]:
    with _tables_only():
        return latentcode.encode_tensor(q, kind, "ans")


def _laplace_bytes(x: np.ndarray, alphabet: int, shape: tuple[int, ...], contextual: bool) -> int:
    """Parameters, stream and the header's naming of the model."""
    params, _ = context.fit(x, alphabet, shape, contextual)
    return len(params.pack()) + len(context.encode(x, alphabet, shape, params, "ans")) + KEY


def _laplace_at_median(x: np.ndarray, alphabet: int) -> float:
    c = int(np.median(x)) if x.size else 0
    return laplace_bits(x - c, -c, alphabet - 1 - c) / 8 if x.size else 0.0


def _unpack(data: bytes) -> tuple[Any, Any]:
    from nervplayer.codec import container

    return container.unpack(data)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--bits", type=int, default=8)
    p.add_argument("--prune", type=float, default=0.0)
    args = p.parse_args()
    results = {path: measure(path, args.bits, args.prune) for path in args.runs}
    names = list(results)
    print("| entropy model | " + " | ".join(f"{n}: latents | weights" for n in names) + " |")
    print("|---|" + "---:|---:|" * len(names))
    for row in next(iter(results.values()))["rows"]:
        cells = []
        for n in names:
            r = results[n]["rows"][row]
            base = results[n]["rows"]["table"]
            cells += [
                "—" if row in LATENTS_ONLY and k == "weights" else f"{r[k]:,.0f} ({(r[k] / base[k] - 1) * 100:+.1f} %)"
                for k in ("latents", "weights")
            ]
        print(f"| {row} | " + " | ".join(cells) + " |")
    for n in names:
        before, after = results[n]["file"]
        s = results[n]["seconds"]
        print(
            f"\n{n}: whole file {before:,} → {after:,} bytes ({(after / before - 1) * 100:+.2f} %); "
            f"encode {s['encode'][0] * 1e3:.0f} → {s['encode'][1] * 1e3:.0f} ms, "
            f"decode {s['decode'][0] * 1e3:.0f} → {s['decode'][1] * 1e3:.0f} ms"
        )


if __name__ == "__main__":
    main()
