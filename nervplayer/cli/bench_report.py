"""The Markdown report of ``nervplayer bench`` (:func:`report`), and its per-layer table of what takes the
training time (:func:`layer_table`, :func:`time_answer`; docs/studies.md quotes them)."""

from __future__ import annotations

from typing import Any


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def shares(layers: list[dict[str, Any]]) -> list[float]:
    """Each row's percentage of the step the rows make up together."""
    total = sum(row["fwd_ms"] + row["bwd_ms"] for row in layers) or 1.0
    return [100 * (row["fwd_ms"] + row["bwd_ms"]) / total for row in layers]


def layer_table(layers: list[dict[str, Any]], top: int | None = None) -> str:
    """The per-layer rows as Markdown, longest first (the ``top`` ones, the rest summed in one row)."""
    ranked = sorted(zip(layers, shares(layers)), key=lambda pair: -pair[1])
    shown, rest = ranked[:top] if top else ranked, ranked[top:] if top else []

    def tflops(gflop: float, ms: float) -> str:
        return f"{gflop / ms:.2f}" if gflop and ms > 0 else ""

    rows = [
        [
            row["name"],
            f"{row['fwd_ms']:.2f}",
            f"{row['bwd_ms']:.2f}",
            f"{row['fwd_gflop']:.3g}",
            f"{row['bwd_gflop']:.3g}",
            tflops(row["fwd_gflop"], row["fwd_ms"]),
            tflops(row["bwd_gflop"], row["bwd_ms"]),
            f"{share:.1f}%",
        ]
        for row, share in shown
    ]
    if rest:
        ms = [sum(row[k] for row, _ in rest) for k in ("fwd_ms", "bwd_ms", "fwd_gflop", "bwd_gflop")]
        rows.append([f"{len(rest)} other rows", *(f"{v:.2f}" for v in ms[:2]), *(f"{v:.3g}" for v in ms[2:]), "", ""])
        rows[-1].append(f"{sum(share for _, share in rest):.1f}%")
    header = ["row", "fwd ms", "bwd ms", "fwd GFLOP", "bwd GFLOP", "fwd TFLOP/s", "bwd TFLOP/s", "share"]
    return _table(header, rows)


def time_answer(layers: list[dict[str, Any]]) -> str:
    """One line: where the step goes (forward, backward, loss, optimizer, data) and its longest row."""
    share = dict(zip((row["name"] for row in layers), shares(layers)))
    total = sum(row["fwd_ms"] + row["bwd_ms"] for row in layers) or 1.0
    fwd = 100 * sum(row["fwd_ms"] for row in layers if row["kind"] in ("layer", "outside")) / total
    bwd = 100 * sum(row["bwd_ms"] for row in layers if row["kind"] in ("layer", "outside")) / total
    top = max(share, key=lambda name: share[name])
    return (
        f"**Answer:** the model's backward takes {bwd:.0f}% of the step and its forward {fwd:.0f}%, the loss "
        f"(forward and backward) "
        f"{share['loss']:.0f}%, the optimizer {share['optimizer']:.0f}%, the data {share['data']:.0f}%; the "
        f"longest row is {top} ({share[top]:.0f}%)."
    )


def report(r: dict[str, Any]) -> str:
    """The result of :func:`run_bench` as Markdown."""
    tr, peak = r["train"], r["matmul_peak_tflops"]
    step_ms = tr["median_ms_per_step"] or tr["ms_per_step"]
    dev = r["device"] + (f" ({r['device_name']})" if r["device_name"] else f", {r['threads']} threads")
    size = r["preset"] or (f"sized to {r['budget']:,}" if r["budget"] else "default size")
    parts = [
        f"## {r['arch']} ({size}) at {r['width']}x{r['height']} on {dev}, {r['precision']}"
        f"{' + channels_last' if r['channels_last'] else ''}, batch {r['batch_size']}, torch {r['torch']}",
        f"`{r.get('command', '')}`",
        f"Model: {r['params']:,} stored parameters; per training frame {r['fwd_gflop_per_frame']:.3f} GFLOP "
        f"forward, {r['train_gflop_per_frame']:.3f} GFLOP forward + loss + backward (counted); decoding "
        f"{r['decode_gflop_per_frame']:.3f} GFLOP per frame. Clip: {r['frames']} frames. "
        f"Matmul peak measured in {r['precision']}: {peak:.2f} TFLOP/s.",
        "### Training (the real fit loop)",
        _table(
            [
                "frames/s",
                "ms/step",
                "median ms/step",
                f"s/epoch ({r['frames']} frames)",
                "TFLOP/s",
                "% of matmul peak",
                r["memory_what"],
            ],
            [
                [
                    f"{tr['frames_per_s']:.2f}",
                    f"{tr['ms_per_step']:.1f}",
                    f"{tr['median_ms_per_step']:.1f}" if tr["median_ms_per_step"] else "",
                    f"{tr['s_per_epoch']:.2f}",
                    f"{tr['tflops']:.3f}",
                    f"{100 * tr['tflops'] / peak:.1f}%",
                    f"{r['memory_bytes'] / 2**20:.0f} MiB",
                ]
            ],
        ),
        "### Where a training step goes (median of each phase)",
        _table(
            ["phase", "ms/step", "share"],
            [[k, f"{v:.2f}", f"{100 * v / step_ms:.0f}%"] for k, v in r["phases_ms"].items()],
        ),
    ]
    if "layers" in r:
        parts += [
            "### What takes the training time: one step, layer by layer (median; sorted by time)",
            "FLOPs counted on one step: matmuls and convolutions (elementwise work counts none). A layer's backward "
            "runs from its output's gradient to its input's; the loss's backward until the model's output has its "
            "gradient; the model's own ops (tanh, crop, latent grids) and the first layer's weight gradient are in "
            "the row outside any layer.",
            layer_table(r["layers"]),
            time_answer(r["layers"]),
        ]
    if "decode" in r:
        parts += [
            "### Decoding (forward alone, no grad, after warm-up)",
            _table(
                ["precision", "layout", "batch", "frames/s", "ms/frame", "TFLOP/s"],
                [
                    [
                        d["precision"],
                        "channels_last" if d["channels_last"] else "contiguous",
                        d["batch"],
                        f"{d['frames_per_s']:.1f}",
                        f"{d['ms_per_frame']:.2f}",
                        f"{d['tflops']:.3f}",
                    ]
                    for d in r["decode"]
                ],
            ),
        ]
    return "\n\n".join(parts)
