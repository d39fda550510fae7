"""Small .nerv files and runs for the codec tests: a random tiny NeRV, and a run fitted for a few epochs."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from nervplayer.codec import nervfile
from nervplayer.codec.packing import pack_learned, pack_model
from nervplayer.codec.prune import global_magnitude_masks
from nervplayer.model import ModelConfig, NeRV, architectures
from nervplayer.model.spec import ModelSpec
from nervplayer.plugins.api import Frames
from nervplayer.train import FitConfig, Fitter

TINY_MODEL = ModelConfig(
    height=24, width=40, fc_h=3, fc_w=5, fc_c=8, strides=(4, 2), pe_levels=8, stem_dim=32, lower_width=8
)
ACTIVATION = {"id": "silu", "version": "1.0", "params": {}}
VIDEO = {
    "num_frames": 16,
    "fps": 25.0,
    "start": 0,
    "end": 16,
    "stride": 1,
    "size": [24, 40],
    "original_size": [48, 80],
    "crop": {"top": 0, "left": 0, "height": 24, "width": 40, "rendered": [24, 40]},
}


def tiny_nerv(
    bits: int = 8,
    prune: float = 0.4,
    per_channel: bool = True,
    coder: str = "ans",
    mask_model: str = "tensor",
    seed: int = 0,
) -> nervfile.NervFile:
    torch.manual_seed(seed)
    model = NeRV(TINY_MODEL, torch.nn.SiLU)
    state = model.state_dict()
    masks = global_magnitude_masks({k: state[k] for k in model.prunable_weights()}, prune) if prune else {}
    return pack_model(
        state,
        TINY_MODEL,
        dict.fromkeys(state, bits),
        per_channel,
        masks,
        video=dict(VIDEO),
        activation=dict(ACTIVATION),
        coder=coder,
        mask_model=mask_model,
        source={"name": "synthetic.mp4", "sha256": "0" * 64},
        compression={"prune_ratio": prune, "bits": bits, "per_channel": per_channel},
    )


def tiny_latent_nerv(coder: str = "ans") -> nervfile.NervFile:
    """A small HNeRV whose embeddings drift slowly from frame to frame, as fitted ones do, so that the file codes
    them as temporal differences."""
    torch.manual_seed(0)
    spec = architectures.resolve("hnerv", Frames(24, 40, 16), budget=12_000)
    state = architectures.build(spec).state_dict()
    emb = state["embeddings"]
    state["embeddings"] = torch.randn_like(emb[:1]) + torch.cumsum(torch.randn_like(emb) * 0.05, 0)
    return pack_model(
        state,
        spec,
        dict.fromkeys(state, 8),
        True,
        {},
        video=dict(VIDEO),
        activation=dict(ACTIVATION),
        coder=coder,
        mask_model="tensor",
        source={"name": "synthetic.mp4", "sha256": "0" * 64},
        compression={},
    )


def tiny_grid_nerv() -> nervfile.NervFile:
    """A small latent-grid file (default preset: 4 levels)."""
    torch.manual_seed(0)
    spec = architectures.resolve("grid", Frames(24, 40, 16))
    state = {k: v + torch.randn_like(v) * 0.1 for k, v in architectures.build(spec).state_dict().items()}
    return pack_model(
        state,
        spec,
        dict.fromkeys(state, 6),
        True,
        {},
        video=dict(VIDEO),
        activation=dict(ACTIVATION),
        coder="ans",
        mask_model="tensor",
        source={"name": "synthetic.mp4", "sha256": "0" * 64},
        compression={},
    )


def busy_latents(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Latents like a fitted grid's: a slow walk along time whose amplitude varies smoothly over the frame
    (flat regions near zero, busy ones wide), so a symbol's neighbours tell how wide it is likely to be."""
    gen = np.random.default_rng(seed)
    t, c, h, w = shape
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    amplitude = np.exp(-6 * ((yy - 0.3) ** 2 + (xx + 0.2) ** 2))[None, None]
    walk = np.cumsum(gen.laplace(0, 0.3, shape), axis=0) * 0.2 + gen.laplace(0, 1.0, (1, c, h, w))
    return (walk * amplitude).astype(np.float32)


def context_grid_nerv(coder: str = "ans") -> nervfile.NervFile:
    """A grid file whose finest levels hold :func:`busy_latents` (the file codes them with contexts)."""
    # the shape tests/data/format2.3-laplace.nerv was written with (the grid's default shape until it changed)
    spec = architectures.resolve("grid", Frames(24, 40, 16), {"spatial": 0.125, "temporal": 0.25}, budget=21_000)
    torch.manual_seed(0)  # after sizing, which may build models (once: its result is cached)
    state = {k: v + torch.randn_like(v) * 0.1 for k, v in architectures.build(spec).state_dict().items()}
    for name in ("grids.0", "grids.1"):
        state[name] = torch.from_numpy(busy_latents(tuple(state[name].shape)))
    return pack_model(
        state,
        spec,
        dict.fromkeys(state, 8),
        True,
        {},
        video=dict(VIDEO),
        activation=dict(ACTIVATION),
        coder=coder,
        mask_model="tensor",
        source={"name": "synthetic.mp4", "sha256": "0" * 64},
    )


def tiny_step_nerv() -> nervfile.NervFile:
    """The tiny NeRV quantized with learned steps, as a rate-aware fit writes it."""
    torch.manual_seed(0)
    state = NeRV(TINY_MODEL, torch.nn.SiLU).state_dict()
    spec = ModelSpec.from_nerv(TINY_MODEL, VIDEO["num_frames"])
    return pack_learned(
        state,
        spec,
        dict.fromkeys(state, 0.01),
        video=dict(VIDEO),
        activation=dict(ACTIVATION),
        coder="ans",
        mask_model="tensor",
        source={"name": "synthetic.mp4", "sha256": "0" * 64},
        compression={"learned_steps": True, "from_run": "run"},
        metrics={"psnr": 30.5, "ms_ssim": None},
    )


@pytest.fixture(scope="session")
def tiny_file(tmp_path_factory):
    """(NervFile, path, bytes) of a valid tiny file."""
    nf = tiny_nerv()
    path = tmp_path_factory.mktemp("nerv") / "tiny.nerv"
    nervfile.save(nf, path)
    return nf, path, path.read_bytes()


@pytest.fixture(scope="session")
def fitted_run(tmp_path_factory, shapes_clip):
    """A run folder: nerv-xs (narrowed) fitted 3 epochs to the 16-frame 64×64 synthetic clip."""
    run = tmp_path_factory.mktemp("runs") / "run"
    cfg = FitConfig(
        video=str(shapes_clip),
        arch="nerv",
        preset="nerv-xs",
        epochs=3,
        lr=5e-3,
        eval_every=3,
        model={"stem_dim": 64, "fc_c": 8, "lower_width": 8},
        device="cpu",
    )
    for _ in Fitter(cfg, run).run():
        pass
    return run


@pytest.fixture
def run_copy(fitted_run, tmp_path):
    """A private copy of the fitted run (compression writes its fine-tunes inside the run folder)."""
    return shutil.copytree(fitted_run, tmp_path / "run")


# A valid 4096x4096 file whose every weight is pruned (and every bias zero): a few KB on disk, but one conv
# output of 96x32x32 channels at 128x128 (6 GiB in float32) when decoded whole.
HUGE_MODEL = ModelConfig(
    height=4096,
    width=4096,
    fc_h=128,
    fc_w=128,
    fc_c=2,
    strides=(32,),
    pe_levels=8,
    stem_dim=8,
    expansion=48.0,
    lower_width=1,
)


def huge_all_pruned_nerv() -> nervfile.NervFile:
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in NeRV(HUGE_MODEL, torch.nn.SiLU).state_dict().items()}
    state = {k: torch.zeros(shape) for k, shape in shapes.items()}
    masks = {k: torch.zeros(shape, dtype=torch.bool) for k, shape in shapes.items() if k.endswith("weight")}
    video = dict(
        VIDEO,
        size=[4096, 4096],
        original_size=[4096, 4096],
        crop={"top": 0, "left": 0, "height": 4096, "width": 4096, "rendered": [4096, 4096]},
    )
    return pack_model(
        state,
        HUGE_MODEL,
        dict.fromkeys(state, 8),
        False,
        masks,
        video=video,
        activation=dict(ACTIVATION),
        coder="ans",
        mask_model="tensor",
        source={"name": "synthetic.mp4", "sha256": "0" * 64},
        compression={"prune_ratio": 1.0, "bits": 8, "per_channel": False},
    )
