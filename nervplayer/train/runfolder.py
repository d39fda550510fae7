"""The run folder: what a fit leaves on disk, and how other commands open it.

```
RUN/config.json          FitConfig + model (ModelSpec.model_dict) + source (path, sha256, fps, range, size) +
                         plugin ids/versions (plugins.model: the architecture; absent in format-1 runs = nerv)
RUN/metrics.csv|.jsonl   one row per evaluation: epoch, step, loss, psnr, ms_ssim, lr, elapsed (+ seen/unseen);
                         a resumed run first drops the rows past its checkpoint (it evaluates those epochs again)
RUN/checkpoint.pt        last checkpoint (weights, optimizer, schedule position, RNG states, learned QAT steps)
RUN/model.safetensors    final weights (tensors only; the metadata holds the model and any learned QAT steps)
```
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_write_text
from ..errors import ConfigError, NervError
from ..model import ModelConfig, architectures
from ..model.spec import ModelSpec
from .checkpoint import load_checkpoint, load_weights, weights_metadata
from .config import FitConfig

CONFIG = "config.json"
METRICS_CSV = "metrics.csv"
METRICS_JSONL = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
WEIGHTS = "model.safetensors"
METRIC_FIELDS = (
    "epoch",
    "step",
    "loss",
    "psnr",
    "ms_ssim",
    "psnr_seen",
    "psnr_unseen",
    "ms_ssim_seen",
    "ms_ssim_unseen",
    "lr",
    "elapsed",
)


def write_config(run_dir: Path, record: dict[str, Any]) -> None:
    atomic_write_text(run_dir / CONFIG, json.dumps(record, indent=2) + "\n")


def append_metrics(run_dir: Path, row: dict[str, Any]) -> None:
    csv_path = run_dir / METRICS_CSV
    new = not csv_path.exists()
    with open(csv_path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=METRIC_FIELDS, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow(row)
    with open(run_dir / METRICS_JSONL, "a") as f:
        f.write(json.dumps({k: row.get(k) for k in METRIC_FIELDS}) + "\n")


def read_metrics(run_dir: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """The rows of ``metrics.jsonl`` and the numbers (from 1) of its lines that are no row (cut by a kill, or
    damaged): a bad line is skipped, never the end of the data."""
    path = run_dir / METRICS_JSONL
    if not path.is_file():
        return [], []
    rows, damaged = [], []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if isinstance(row, dict) and isinstance(row.get("epoch"), int):
            rows.append(row)
        else:
            damaged.append(number)
    return rows, damaged


def trim_metrics(run_dir: Path, epoch: int) -> None:
    """Keep, in both metrics files, the rows of evaluations up to ``epoch`` (the checkpoint a run resumes from):
    the resumed run evaluates the later epochs again, so each epoch keeps one row. Lines that are no row (the
    one a kill cut short) go too, or the next row would be appended to them."""
    rows, damaged = read_metrics(run_dir)
    kept = [row for row in rows if row["epoch"] <= epoch]
    if len(kept) < len(rows) or damaged:
        atomic_write_text(run_dir / METRICS_JSONL, "".join(json.dumps(row) + "\n" for row in kept))
    csv_path = run_dir / METRICS_CSV
    if not csv_path.is_file():
        return
    with open(csv_path, newline="", errors="replace") as f:
        table = list(csv.DictReader(f))
    whole = [row for row in table if None not in row and None not in row.values() and _epoch(row) is not None]
    kept_csv = [row for row in whole if (_epoch(row) or 0) <= epoch]
    if len(kept_csv) < len(table):
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(kept_csv)
        atomic_write_text(csv_path, buf.getvalue())


def _epoch(row: dict[str, str]) -> int | None:
    try:
        return int(row["epoch"])
    except (KeyError, TypeError, ValueError):
        return None


@dataclass
class Run:
    """A finished or interrupted fit, opened from its folder."""

    path: Path
    record: dict[str, Any]

    @property
    def fit_config(self) -> FitConfig:
        return FitConfig.from_dict(self.record["fit"])

    @property
    def model_spec(self) -> ModelSpec:
        src = self.record["source"]
        return ModelSpec.from_records(
            self.record["model"], self.record.get("plugins", {}).get("model"), src["end"] - src["start"]
        )

    @property
    def model_config(self) -> ModelConfig:
        """The NeRV config of a ``nerv`` run."""
        try:
            return self.model_spec.nerv_config()
        except ValueError as e:
            raise ConfigError(f"{self.path}: {e}") from None

    @property
    def source(self) -> dict[str, Any]:
        return self.record["source"]

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Final weights if the fit completed, else the last checkpoint's."""
        if (self.path / WEIGHTS).is_file():
            return load_weights(self.path / WEIGHTS)
        return load_checkpoint(self.path / CHECKPOINT)["model"]

    def quant_steps(self) -> dict[str, float] | None:
        """The learned quantization steps of a rate-aware (QAT) fit, name → step; None for a plain fit."""
        if (self.path / WEIGHTS).is_file():
            return weights_metadata(self.path / WEIGHTS).get("quant_steps")
        return load_checkpoint(self.path / CHECKPOINT).get("quant_steps")

    def build_model(self, device: torch.device | str = "cpu") -> torch.nn.Module:
        """The trained network in eval mode (float weights; a QAT run's are quantized by the codec)."""
        model = architectures.build(self.model_spec)
        model.load_state_dict(self.state_dict())
        return model.to(device).eval()


def open_run(path: str | Path) -> Run:
    path = Path(path)
    if path.is_file():
        raise ConfigError(f"{path}: is a file, not a run folder (from 'nervplayer fit')")
    if not path.is_dir():
        raise ConfigError(f"no such run folder: {path}")
    if not (path / CONFIG).is_file():
        raise ConfigError(f"{path}: not a run folder ({CONFIG} missing)")
    try:
        record = json.loads((path / CONFIG).read_text())
        run = Run(path, record)
        if run.model_spec.arch == "nerv":
            _ = run.model_config  # parsing it checks the NeRV config against the limits
        FitConfig.from_dict(record["fit"])
    except (ValueError, KeyError, TypeError) as e:
        raise NervError(f"{path / CONFIG}: unreadable run config ({e})") from None
    if not (path / WEIGHTS).is_file() and not (path / CHECKPOINT).is_file():
        raise ConfigError(f"{path}: run has no weights yet (no {WEIGHTS} or {CHECKPOINT})")
    return run
