"""What a ``.nerv`` knows about how it was made, beyond what decoding needs: the run's training curves, the PSNR of
each decoded frame, and the fit's recipe (the header's optional ``story`` key, format 2.2; docs/format.md).

The story is small (at most :data:`MAX_CURVE_POINTS` points per curve and :data:`MAX_FRAME_POINTS` PSNR values)
and optional: older files have none. Reading it never fails a file: a damaged part is dropped and named in
:attr:`Story.problems`, so the file still plays and the player says what could not be read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..train.config import FitConfig
from ..train.runfolder import read_metrics

CURVES = ("epoch", "loss", "psnr", "ms_ssim", "lr")  # x first; the run folder's metric names
MAX_CURVE_POINTS = 256
MAX_FRAME_POINTS = 4096
RECIPE_KEYS = ("epochs", "lr", "batch_size", "loss", "scheduler", "qat", "rate_lambda", "precision", "seed")
# the encoder recipe's switches (docs/models.md), stored only where a run changed them: a file pays no bytes for
# what every default run does
RECIPE_SWITCHES = {
    "soft_rounding": False,
    "hard_rounding": 0.1,
    "starts": 1,
    "optimizer": "adam",
    "rate_model": "context",
}
MAX_RECIPE_TEXT = 64

Value = float | None  # JSON has no NaN: a point that was not finite is null


@dataclass
class Story:
    """``curves``: name → values, all as long as ``curves["epoch"]`` (empty: none stored). ``frame_psnr``: the
    decoded file against its source, one value per frame, or per equal run of frames when the video has more
    than :data:`MAX_FRAME_POINTS` frames. ``problems``: what a damaged file's story could not give."""

    curves: dict[str, list[Value]] = field(default_factory=dict)
    frame_psnr: list[Value] = field(default_factory=list)
    recipe: dict[str, str | int | float | bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.curves or self.frame_psnr or self.recipe or self.problems)

    def record(self) -> dict[str, Any]:
        """The header's ``story`` entry (only the parts there are)."""
        out: dict[str, Any] = {}
        if self.curves:
            out["curves"] = self.curves
        if self.frame_psnr:
            out["frame_psnr"] = self.frame_psnr
        if self.recipe:
            out["recipe"] = self.recipe
        return out

    def lines(self, num_frames: int) -> list[str]:
        """The story as short lines of text (``nervplayer info``)."""
        out = []
        if self.recipe:
            out.append("recipe     " + ", ".join(f"{k} {v}" for k, v in self.recipe.items()))
        if self.curves:
            epochs = [e for e in self.curves["epoch"] if e is not None]
            psnr = [p for p in self.curves.get("psnr", []) if p is not None]
            best = f", best PSNR {max(psnr):.2f} dB" if psnr else ""
            last = f" up to epoch {max(epochs):g}" if epochs else ""
            out.append(f"curves     {len(self.curves['epoch'])} evaluations{last}{best}")
        known = [(p, i) for i, p in enumerate(self.frame_psnr) if p is not None]
        if known:
            n = len(self.frame_psnr)
            (low, worst), (high, _) = min(known), max(known)
            over = f"{n} frames" if n == num_frames else f"{n} runs of frames"
            lowest = worst * num_frames // n
            out.append(f"per frame  PSNR {low:.2f} to {high:.2f} dB over {over} (lowest at frame {lowest})")
        out += [f"note       {p}" for p in self.problems]
        return out


def _number(value: Any) -> Value:
    return round(float(value), 6) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _thin(n: int, keep: int) -> list[int]:
    """Up to ``keep`` indices of ``range(n)``, evenly spread, first and last included."""
    if n <= keep:
        return list(range(n))
    return sorted({round(i * (n - 1) / (keep - 1)) for i in range(keep)})


def run_curves(run_dir: Path) -> dict[str, list[Value]]:
    """The training curves of a run folder (its evaluations, :data:`MAX_CURVE_POINTS` at most, evenly spread);
    empty when it has none. Damaged lines are left out, as the study summary leaves them out."""
    rows, _ = read_metrics(run_dir)
    picked = [rows[i] for i in _thin(len(rows), MAX_CURVE_POINTS)]
    return {name: [_number(r.get(name)) for r in picked] for name in CURVES} if picked else {}


def frame_values(per_frame: list[float]) -> list[Value]:
    """Per-frame PSNR as stored: as it is, or the mean of each of :data:`MAX_FRAME_POINTS` equal runs of frames."""
    n = len(per_frame)
    if n <= MAX_FRAME_POINTS:
        return [_number(round(p, 3)) for p in per_frame]
    bounds = [round(i * n / MAX_FRAME_POINTS) for i in range(MAX_FRAME_POINTS + 1)]
    return [_number(round(sum(per_frame[a:b]) / (b - a), 3)) for a, b in zip(bounds, bounds[1:])]


def recipe(config: FitConfig) -> dict[str, str | int | float | bool]:
    """How the run was fitted, in brief (the model's own shape is in the header's ``model``)."""
    d = config.to_dict()
    switches = [k for k, default in RECIPE_SWITCHES.items() if d.get(k, default) != default]
    switches = [k for k in switches if k not in ("hard_rounding", "rate_model")]
    if d.get("soft_rounding"):
        switches.append("hard_rounding")  # the share of a soft-rounding fit that rounds hard; nothing without one
    if d.get("rate_lambda") and d.get("rate_model", RECIPE_SWITCHES["rate_model"]) != RECIPE_SWITCHES["rate_model"]:
        switches.append("rate_model")  # how the rate term priced latents; nothing without one
    return {k: d[k] for k in (*RECIPE_KEYS, *switches) if isinstance(d.get(k), (str, int, float, bool))}


def parse_story(raw: Any, num_frames: int) -> Story:
    """The ``story`` of a header (``None`` when absent); never raises: damaged parts are named in ``problems``."""
    story = Story()
    if raw is None:
        return story
    if not isinstance(raw, dict):
        story.problems.append("the stored story is unreadable (not a JSON object)")
        return story
    if "curves" in raw:
        try:
            story.curves = _curves(raw["curves"])
        except ValueError as e:
            story.problems.append(f"the stored training curves are unreadable ({e})")
    if "frame_psnr" in raw:
        try:
            story.frame_psnr = _values(raw["frame_psnr"], MAX_FRAME_POINTS, "frame_psnr")
            if len(story.frame_psnr) > num_frames:
                raise ValueError(f"{len(story.frame_psnr)} values for {num_frames} frames")
        except ValueError as e:
            story.frame_psnr = []
            story.problems.append(f"the stored per-frame PSNR is unreadable ({e})")
    if "recipe" in raw:
        value = raw["recipe"]
        if isinstance(value, dict) and all(
            isinstance(k, str) and len(k) <= MAX_RECIPE_TEXT and _scalar(v) for k, v in value.items()
        ):
            story.recipe = dict(list(value.items())[: len(RECIPE_KEYS) * 2])
        else:
            story.problems.append("the stored recipe is unreadable")
    return story


def _scalar(v: Any) -> bool:
    if isinstance(v, str):
        return len(v) <= MAX_RECIPE_TEXT
    return isinstance(v, (bool, int)) or (isinstance(v, float) and math.isfinite(v))


def _values(raw: Any, limit: int, what: str) -> list[Value]:
    if not isinstance(raw, list):
        raise ValueError(f"{what} is not a list")
    if len(raw) > limit:
        raise ValueError(f"{what} has {len(raw)} values, at most {limit} are stored")
    if any(v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))) for v in raw):
        raise ValueError(f"{what} holds something other than numbers")
    return [_number(v) for v in raw]


def _curves(raw: Any) -> dict[str, list[Value]]:
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    curves = {name: _values(raw[name], MAX_CURVE_POINTS, name) for name in CURVES if name in raw}
    if curves and "epoch" not in curves:
        raise ValueError("no epochs")
    lengths = {len(v) for v in curves.values()}
    if len(lengths) > 1:
        raise ValueError("curves of different lengths")
    return curves if curves.get("epoch") else {}
