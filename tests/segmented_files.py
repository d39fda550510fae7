"""Segmented .nerv files for tests, made in milliseconds: each segment a tiny NeRV with random weights (a seed per
segment, so neighbours differ), quantized and written as an ordinary 2.x file, then gathered.

    parts = write_segments(tmp_path, [0, 5, 12, 16])          # three segment files: frames 0:5, 5:12, 12:16
    path, parts = segmented_nerv(tmp_path, [0, 5, 12, 16])    # ... and the one gathered file
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from nervplayer.codec import container, nervfile
from nervplayer.codec.packing import pack_model
from nervplayer.codec.prune import global_magnitude_masks
from nervplayer.codec.segmented import SegmentPart, gather
from nervplayer.codec.story import Story
from nervplayer.model import ModelConfig, NeRV

SIZE = (24, 40)  # (height, width) of every frame
MODEL = ModelConfig(
    height=SIZE[0], width=SIZE[1], fc_h=3, fc_w=5, fc_c=8, strides=(4, 2), pe_levels=8, stem_dim=32, lower_width=8
)
SOURCE = {"name": "synthetic.mp4", "sha256": "0" * 64}


def segment_file(
    frames: int,
    start: int = 0,
    seed: int = 0,
    fps: float = 25.0,
    source: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    frame_psnr: list[float | None] | None = None,
    model: ModelConfig = MODEL,
) -> nervfile.NervFile:
    """A 2.x file of ``frames`` frames, source frames ``start:start + frames`` (what a fit of that range writes)."""
    torch.manual_seed(seed)
    net = NeRV(model, torch.nn.SiLU)
    state = net.state_dict()
    masks = global_magnitude_masks({k: state[k] for k in net.prunable_weights()}, 0.3)
    h, w = model.height, model.width
    video = {
        "num_frames": frames,
        "fps": fps,
        "start": start,
        "end": start + frames,
        "stride": 1,
        "size": [h, w],
        "original_size": [h, w],
        "crop": {"top": 0, "left": 0, "height": h, "width": w, "rendered": [h, w]},
    }
    return pack_model(
        state,
        model,
        dict.fromkeys(state, 8),
        True,
        masks,
        video=video,
        activation={"id": "silu", "version": "1.0", "params": {}},
        coder="ans",
        mask_model="tensor",
        source=dict(SOURCE if source is None else source),
        compression={"prune_ratio": 0.3, "bits": 8, "per_channel": True},
        metrics=dict(metrics or {}),
        story=Story(frame_psnr=list(frame_psnr or [])),
    )


def write_segments(folder: Path, bounds: Sequence[int], seed: int = 0, **fields: Any) -> list[SegmentPart]:
    """One 2.x file per segment ``bounds[i]:bounds[i + 1]`` in ``folder``; ``fields`` go to :func:`segment_file`
    (a callable value is called with the segment's index)."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
        kw = {k: v(i) if callable(v) else v for k, v in fields.items()}
        path = folder / f"segment-{i:03d}.nerv"
        nervfile.save(segment_file(b - a, start=a, seed=seed + i, **kw), path)
        parts.append(SegmentPart(a, b, path))
    return parts


def segmented_nerv(
    folder: Path, bounds: Sequence[int], name: str = "clip.nerv", seed: int = 0, **fields: Any
) -> tuple[Path, list[SegmentPart]]:
    """The gathered file of :func:`write_segments`' parts, and the parts."""
    parts = write_segments(folder / "segments", bounds, seed, **fields)
    out = folder / name
    gather(parts, out)
    return out, parts


def rewritten(tmp_path: Path, path: Path, change, cut: int = 0) -> Path:
    """``path`` with its header changed by ``change(header)`` (checksums fixed), less its last ``cut`` bytes."""
    contents = container.read_file(path)
    header = json.loads(json.dumps(contents.header))
    change(header)
    data = container.pack(header, list(contents.sections.items()), contents.version)
    bad = tmp_path / "bad.nerv"
    bad.write_bytes(data[: len(data) - cut])
    return bad
