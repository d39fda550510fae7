"""A training loop that does what the NeRV paper's public code does, to measure what nervplayer's loop saves.

Each step: a DataLoader (restarted every epoch) decodes one PNG frame with PIL; the model runs in fp32 in the
default memory layout; Fusion6 loss with pytorch-msssim's SSIM; Adam in PyTorch's default implementation;
PSNR and full MS-SSIM of the output (pytorch-msssim). Each epoch: torch.save of model and optimizer.
The model, its initialisation (same seed), the learning-rate schedule and the final evaluation are nervplayer's,
so only the loop differs.

    python benches/public_loop.py VIDEO --scale 0.25 --epochs 10 [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Generator

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim, ssim
from torch.utils.data import DataLoader, Dataset

from nervplayer.cli.options import frame_size
from nervplayer.device import resolve_device
from nervplayer.metrics import ms_ssim_settings, psnr
from nervplayer.model import NeRV, model_config
from nervplayer.model.render import times
from nervplayer.plugins import get_registry
from nervplayer.train import FitConfig, load_source
from nervplayer.train.evaluate import evaluate
from nervplayer.video import MemoryFrameStore


class PngFrames(Dataset):
    """The public code's dataset: one PNG per frame, read with PIL on every access; (frame, t = i / N)."""

    def __init__(self, folder: Path, num_frames: int) -> None:
        self.paths = [folder / f"{i:05d}.png" for i in range(num_frames)]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, float]:
        from PIL import Image

        with Image.open(self.paths[i]) as im:
            frame = torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
        return frame, i / len(self.paths)


def write_pngs(store: MemoryFrameStore, folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(store.frames.permute(0, 2, 3, 1).numpy()):
        Image.fromarray(f).save(folder / f"{i:05d}.png")


def public_epochs(config: FitConfig, workers: int, work_dir: Path) -> Generator[None, None, dict[str, Any]]:
    """Fit ``config`` (video, size, preset, epochs, lr, seed, device) with the public-code-style loop.

    Yields once when set up (clip decoded, PNGs written), then after each epoch; returns the result, whose
    ``seconds`` run from the first step to the end of the final evaluation.
    """
    device = resolve_device(config.device)
    store, _ = load_source(config, torch.device("cpu"))
    n = store.num_frames
    write_pngs(store, work_dir / "frames")
    cfg = model_config(config.preset, store.height, store.width, **config.model)
    schedule = get_registry().create("scheduler", config.scheduler, config.scheduler_params)
    torch.manual_seed(config.seed)
    model = NeRV(cfg, get_registry().factory("activation", config.activation, config.activation_params)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.5, 0.999), eps=1e-8)
    loader = DataLoader(
        PngFrames(work_dir / "frames", n),
        batch_size=1,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        pin_memory=device.type == "cuda",
    )
    win, _ = ms_ssim_settings(store.height, store.width)
    epoch_seconds = []
    yield
    for epoch in range(config.epochs):
        t0 = time.perf_counter()
        model.train()
        psnrs: list[torch.Tensor] = []
        msssims: list[torch.Tensor] = []
        for i, (frame, t) in enumerate(loader):
            frame, t = frame.to(device, non_blocking=True), t.float().to(device, non_blocking=True)
            for group in optimizer.param_groups:
                group["lr"] = schedule(epoch + i / len(loader), config.epochs, config.lr)
            out = model(t)
            loss = 0.7 * F.l1_loss(out, frame) + 0.3 * (1 - ssim(out, frame, data_range=1, size_average=True))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            psnrs.append(psnr(out.detach(), frame))
            msssims.append(ms_ssim(out.detach(), frame, data_range=1, size_average=False, win_size=win))
        # the public code reads its metric lists back when it prints
        train_psnr, train_msssim = torch.cat(psnrs).mean().item(), torch.cat(msssims).mean().item()
        torch.save(
            {"epoch": epoch, "state_dict": model.state_dict(), "optimizer": optimizer.state_dict()},
            work_dir / "model_latest.pth",
        )
        epoch_seconds.append(time.perf_counter() - t0)
        if epoch < config.epochs - 1:
            yield
    t0 = time.perf_counter()
    model.eval()
    metrics = evaluate(lambda idx: model(times(idx, n, device)), store)
    seconds = sum(epoch_seconds) + time.perf_counter() - t0
    return {
        "loop": "public-code style",
        "precision": "fp32",
        "device": str(device),
        "workers": workers,
        "epochs": config.epochs,
        "frames": n,
        "height": store.height,
        "width": store.width,
        "seconds": seconds,
        "epoch_seconds": epoch_seconds,
        "psnr": float(metrics.psnr.mean()),
        "ms_ssim": float(metrics.ms_ssim.mean()),
        "train_psnr_last_epoch": train_psnr,
        "train_ms_ssim_last_epoch": train_msssim,
    }


def train_public(config: FitConfig, workers: int, work_dir: Path) -> dict[str, Any]:
    """:func:`public_epochs` run to the end."""
    run = public_epochs(config, workers, work_dir)
    while True:
        try:
            next(run)
        except StopIteration as done:
            return done.value


def clip_parser(description: str | None, epochs: int) -> argparse.ArgumentParser:
    """The options every bench that fits a clip shares: video, size or scale, frame count, preset, epochs."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--size", type=frame_size, metavar="WxH")
    size.add_argument("--scale", type=float)
    p.add_argument("--frames", type=int, help="first N frames only")
    p.add_argument("--preset", default="nerv-s")
    p.add_argument("--epochs", type=int, default=epochs)
    return p


def build_parser() -> argparse.ArgumentParser:
    p = clip_parser(__doc__, epochs=10)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers (the public code's default is 4)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    p.add_argument("--json", type=Path)
    return p


def config_from_args(args: argparse.Namespace) -> FitConfig:
    return FitConfig(
        video=args.video,
        arch="nerv",
        preset=args.preset,
        epochs=args.epochs,
        lr=args.lr,
        seed=args.seed,
        size=args.size,
        scale=args.scale,
        end=args.frames,
        device=args.device,
    )


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nerv-public-loop-") as tmp:
        result = train_public(config_from_args(args), args.workers, Path(tmp))
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
