"""The run folder: what a fit leaves on disk (:class:`RunFolder`, as the fit writes it), and how other commands
open it (:func:`open_run`).

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
from typing import TYPE_CHECKING, Any

import torch

from ..atomic import atomic_write_text
from ..errors import ConfigError, NervError, ResumeError
from ..model import ModelConfig, architectures
from ..model.spec import ModelSpec
from ..plugins import Registry
from ..version import __version__
from ..video import file_hash
from .checkpoint import check_weights, load_checkpoint, load_weights, save_checkpoint, save_weights, weights_metadata
from .config import FitConfig
from .events import Evaluated

if TYPE_CHECKING:
    from .distributed import World

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
        """Final weights if the fit completed, else the last checkpoint's (checked against the run's model)."""
        if (self.path / WEIGHTS).is_file():
            path, state = self.path / WEIGHTS, load_weights(self.path / WEIGHTS)
        else:
            path, state = self.path / CHECKPOINT, load_checkpoint(self.path / CHECKPOINT)["model"]
        check_weights(path, state, architectures.shapes(self.model_spec)[0])
        return state

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


class RunFolder:
    """The run folder as a fit writes it: under torchrun only rank 0 writes, and a fit without a folder
    (``path`` None) writes nothing (:attr:`writes`)."""

    def __init__(self, path: Path | None, world: World) -> None:
        self.path, self.world = path, world
        self.writes = path is not None and world.main

    def prepare(self, config: FitConfig, resume: bool) -> dict[str, Any] | None:
        """A new run: create its folder, refusing one that holds a run. A resumed run: check that the folder was
        made with ``config``'s options from the same video, drop its metrics past the checkpoint, and return the
        checkpoint (killed between its final checkpoint and its weights, the run resumes only to write them)."""
        if self.path is None:
            if resume:
                raise ResumeError("--resume needs a run folder")
            return None
        if not resume:
            if self.writes:
                self._create()
            return None
        previous = open_run(self.path)
        old, new = previous.fit_config.to_dict(), config.to_dict()
        changed = sorted(
            k
            for k in new
            if k not in FitConfig.RESUMABLE_CHANGES and old.get(k) != new[k] and k not in ("video", "epochs")
        )
        if changed:
            raise ResumeError(
                f"{self.path} was made with other options ({', '.join(changed)} differ); "
                "resume with the same options or start a new run folder"
            )
        if file_hash(config.video) != previous.source["sha256"]:
            raise ResumeError(
                f"{self.path} was made from another video ({previous.source['name']}, "
                f"sha256 {previous.source['sha256'][:12]}…), not {config.video}"
            )
        state = load_checkpoint(self.path / CHECKPOINT)
        done = int(state["epoch"])
        unwritten = done == config.epochs == old["epochs"] and not (self.path / WEIGHTS).exists()
        if done >= config.epochs and not unwritten:
            what = "is complete" if done >= old["epochs"] else "is further along"
            raise ResumeError(
                f"{self.path} {what}: {done} of {old['epochs']} epochs done; to train longer, "
                f"pass --resume --epochs N with N above {done}"
            )
        if self.writes:
            trim_metrics(self.path, done)
        return state

    def _create(self) -> None:
        assert self.path is not None
        if (self.path / CONFIG).exists():
            raise ConfigError(
                f"{self.path} already holds a run; pass --resume to continue it, or choose another output folder"
            )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(
                f"cannot create the run folder {self.path}: {(e.strerror or type(e).__name__).lower()}"
            ) from None

    @property
    def cache_dir(self) -> Path | None:
        """Where a clip too large for memory is cached (one folder per process under torchrun)."""
        if self.path is None:
            return None
        return self.path / "cache" / f"rank{self.world.rank}" if self.world.distributed else self.path / "cache"

    def write_config(self, record: dict[str, Any]) -> None:
        if self.writes and self.path is not None:
            atomic_write_text(self.path / CONFIG, json.dumps(record, indent=2) + "\n")

    def append_metrics(self, ev: Evaluated, loss: float | None, lr: float) -> None:
        """One row of both metrics files for evaluation ``ev``; ``loss``: the mean training loss since the last."""
        if not self.writes or self.path is None:
            return
        row = {
            "epoch": ev.epoch,
            "step": ev.step,
            "loss": loss,
            "psnr": ev.psnr,
            "ms_ssim": ev.ms_ssim,
            "psnr_seen": ev.psnr_seen,
            "psnr_unseen": ev.psnr_unseen,
            "ms_ssim_seen": ev.ms_ssim_seen,
            "ms_ssim_unseen": ev.ms_ssim_unseen,
            "lr": lr,
            "elapsed": round(ev.elapsed, 3),
        }
        csv_path = self.path / METRICS_CSV
        new = not csv_path.exists()
        with open(csv_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=METRIC_FIELDS, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)
        with open(self.path / METRICS_JSONL, "a") as f:
            f.write(json.dumps({k: row.get(k) for k in METRIC_FIELDS}) + "\n")

    def save_checkpoint(self, state: dict[str, Any]) -> Path:
        assert self.path is not None
        save_checkpoint(self.path / CHECKPOINT, state)
        return self.path / CHECKPOINT

    def save_weights(self, state_dict: dict[str, torch.Tensor], metadata: dict[str, Any]) -> Path:
        assert self.path is not None
        save_weights(self.path / WEIGHTS, state_dict, metadata)
        return self.path / WEIGHTS


def fit_record(
    config: FitConfig,
    spec: ModelSpec,
    plugins: Registry,
    source: dict[str, Any],
    params: int,
    train_frames: list[int],
    unseen_frames: list[int],
) -> dict[str, Any]:
    """What config.json holds: enough to rerun the fit and to rebuild the model."""
    used = {
        kind: {
            "id": plugins.get(kind, getattr(config, kind)).id,
            "version": plugins.get(kind, getattr(config, kind)).version,
            "params": plugins.resolve_params(kind, getattr(config, kind), getattr(config, f"{kind}_params")),
        }
        for kind in ("activation", "loss", "scheduler")
    }
    entry = plugins.get("model", spec.arch)
    used["model"] = {"id": entry.id, "version": entry.version, "params": dict(config.model)}
    return {
        "nervplayer": __version__,
        "fit": config.to_dict(),
        "model": spec.model_dict(),
        "source": source,
        "plugins": used,
        "params": params,
        "macs_per_pixel": architectures.macs_per_pixel(spec, plugins),
        "train_frames": train_frames,
        "unseen_frames": unseen_frames,
    }
