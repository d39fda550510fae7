"""Argument parsing helpers shared by subcommands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NoReturn

from ..errors import ConfigError
from ..jobs import Executor
from ..jobs.factory import executor_for

if TYPE_CHECKING:  # the codec (and torch) are imported by the commands that take a target
    from ..codec.ratecontrol import Target


def key_values(items: list[str] | None, what: str) -> dict[str, Any]:
    """``["alpha=0.5", "name=x"]`` → ``{"alpha": 0.5, "name": "x"}`` (values parsed as JSON when they can be)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{what} must look like KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def frame_range(text: str) -> tuple[int, int | None]:
    """``"10:50"`` → (10, 50); ``"10:"`` → (10, None)."""
    start, sep, end = text.partition(":")
    try:
        return int(start or 0), (int(end) if end else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"frame range must look like START:END, got {text!r}") from None


def frame_size(text: str) -> tuple[int, int]:
    """``"320x180"`` (width × height) → (180, 320) as (height, width)."""
    w, sep, h = text.lower().partition("x")
    try:
        width, height = int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like WIDTHxHEIGHT, got {text!r}") from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return height, width


def parameter_count(text: str) -> int:
    """``"300k"``, ``"1.5M"`` → a parameter budget (``--params``)."""
    from ..errors import NervError
    from ..model.architectures import parse_count

    try:
        return parse_count(text)
    except NervError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_model_size(p: argparse.ArgumentParser, default: str = "default: the model's own, nerv-s for nerv") -> None:
    """``--preset`` and ``--params``: how big a model is, as ``fit``, ``bench`` and ``study`` take it."""
    p.add_argument("--preset", help=f"a preset of the model, e.g. nerv-xs | nerv-s | nerv-m | nerv-l ({default})")
    p.add_argument(
        "--params",
        dest="budget",
        type=parameter_count,
        metavar="N",
        help="size the model to this many stored values (weights + latents), ±5 %%: 300k, 1.5M",
    )


def output_file(text: str) -> Path:
    """A file to write: its folder must exist (checked before any work, so a typo costs nothing)."""
    path = Path(text)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text}: {folder} is not an existing folder")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text}: it is a folder")
    return path


def memory_size(text: str) -> int:
    """``"512M"``, ``"4G"``, ``"2048"`` (MiB) → bytes."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    scale = units.get(t[-1:], 1 << 20)
    try:
        value = float(t[:-1] if t[-1:] in units else t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"memory budget must look like 512M or 4G, got {text!r}") from None
    if not value > 0 or value * scale > 1 << 50:
        raise argparse.ArgumentTypeError(f"memory budget must be positive, got {text!r}")
    return int(value * scale)


def add_memory_budget(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--memory-budget",
        type=memory_size,
        metavar="SIZE",
        help="memory decoding may use, e.g. 512M or 4G (default: half the available memory); "
        "larger frames are decoded in bands of rows",
    )


def _target_type(parse: Callable[[str], Target]) -> Callable[[str], Target]:
    def convert(text: str) -> Target:
        try:
            return parse(text)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return convert


def add_targets(p: argparse.ArgumentParser, how: str) -> None:
    """``--target-size`` | ``--target-bpp`` | ``--target-psnr`` (one of them), into ``args.target``."""
    from ..codec.ratecontrol import SIZE_HELP, bpp_target, psnr_target, size_target

    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--target-size",
        dest="target",
        type=_target_type(size_target),
        metavar="SIZE",
        help=f"a cap on the file: it lands within 3%% under it; {SIZE_HELP}; {how}",
    )
    g.add_argument(
        "--target-bpp",
        dest="target",
        type=_target_type(bpp_target),
        metavar="BPP",
        help="a cap in bits per pixel of the clip (file bytes x 8 / frames x height x width), as --target-size",
    )
    g.add_argument(
        "--target-psnr",
        dest="target",
        type=_target_type(psnr_target),
        metavar="DB",
        help="the smallest file whose PSNR on the clip reaches this many dB",
    )


def target_outcome(target: Target, nerv: Path) -> str:
    """A written file against the target it was asked for: ``requested X · achieved Y (…)``."""
    from ..codec.nervfile import load_any
    from ..codec.ratecontrol import summary

    nf = load_any(nerv)
    h, w = nf.video["size"]
    size = nerv.stat().st_size
    return summary(target, size, size * 8 / (nf.num_frames * h * w), nf.metrics.get("psnr"))


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line and exit status 2 (its own convention), without the usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def worker_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--workers must be a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"--workers must be at least 1, got {n}")
    return n


def add_executor(p: argparse.ArgumentParser) -> None:
    """``--workers`` and ``--cluster``: where independent jobs (segments, the clips of a batch) run."""
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--workers",
        type=worker_count,
        metavar="N",
        help="jobs at once on this machine, each in its own process (default: one per GPU, else one per CPU core)",
    )
    g.add_argument(
        "--cluster",
        metavar="auto|ADDRESS",
        help="run the jobs on a Ray cluster: auto (the one `ray start --head` started here) or HOST:PORT of its "
        'head (default: $RAY_ADDRESS when set); needs pip install "nervplayer[cluster]"',
    )


def executor_from_args(args: argparse.Namespace) -> Executor:
    """The executor ``--workers`` / ``--cluster`` ask for (a cluster is reached now: a bad address fails here)."""
    return executor_for(args.workers, args.cluster)
