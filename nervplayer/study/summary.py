"""A study's results: one row per run (or per evaluation, for the epochs study) as CSV, JSON and a PNG plot.

Everything is read back from the run folders, so the summary of an interrupted study shows what is finished and
can be rebuilt at any time: :func:`open_study` (``nervplayer study --show DIR``, File > Open study in the player).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_bytes, atomic_write_text
from ..errors import ConfigError
from ..train import runfolder
from .catalogue import Study, Variant, get_study

STUDY_FILE = "study.json"  # written by the runner: the study's name and every run's configuration
RUNS = "runs"  # the run folders, one per variant, under the study folder
SUMMARY_CSV = "summary.csv"
SUMMARY_JSON = "summary.json"
SUMMARY_PNG = "summary.png"
COLUMNS = (
    "run",
    "label",
    "group",
    "value",
    "status",
    "params",
    "epoch",
    "psnr",
    "ms_ssim",
    "psnr_seen",
    "psnr_unseen",
    "ms_ssim_seen",
    "ms_ssim_unseen",
    "seconds_per_epoch",
    "elapsed",
)


@dataclass(frozen=True)
class StudyOutputs:
    study: str  # the study's name
    csv: Path
    json: Path
    png: Path | None  # None when matplotlib is not installed
    rows: list[dict[str, Any]]
    damaged: list[str] = field(default_factory=list)  # metrics lines that were skipped, one message each


@dataclass
class Collected:
    """The summary's rows, and the metrics lines skipped on the way (damaged, or cut by a kill)."""

    rows: list[dict[str, Any]]
    damaged: list[str]


def _row(variant: Variant, run_dir: Path, metrics: dict[str, Any], status: str, params: int | None) -> dict[str, Any]:
    epoch = metrics.get("epoch")
    elapsed = metrics.get("elapsed")
    return {
        "run": variant.name,
        "label": variant.label,
        "group": variant.group,
        "value": variant.value,
        "status": status,
        "params": params,
        "epoch": epoch,
        **{
            k: metrics.get(k) for k in ("psnr", "ms_ssim", "psnr_seen", "psnr_unseen", "ms_ssim_seen", "ms_ssim_unseen")
        },
        "seconds_per_epoch": round(elapsed / epoch, 4) if elapsed and epoch else None,
        "elapsed": elapsed,
    }


def collect(study: Study, variants: list[Variant], runs_dir: Path) -> Collected:
    """One row per variant with its last evaluation (``status`` done / partial / pending); the epochs study
    gives one row per evaluation of its single run."""
    rows, damaged = [], []
    for variant in variants:
        run_dir = runs_dir / variant.name
        metrics, bad = runfolder.read_metrics(run_dir)
        damaged += [f"{run_dir / runfolder.METRICS_JSONL}: line {n} is unreadable, skipped" for n in bad]
        status = "done" if (run_dir / runfolder.WEIGHTS).is_file() else "partial" if metrics else "pending"
        params = None
        if (run_dir / runfolder.CONFIG).is_file():
            params = json.loads((run_dir / runfolder.CONFIG).read_text()).get("params")
        if study.name == "epochs":
            rows += [{**_row(variant, run_dir, m, status, params), "value": m["epoch"]} for m in metrics]
        else:
            rows.append(_row(variant, run_dir, metrics[-1] if metrics else {}, status, params))
    return Collected(rows, damaged)


def write_outputs(study: Study, collected: Collected, out_dir: Path) -> StudyOutputs:
    rows = collected.rows
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out_dir / SUMMARY_CSV, buf.getvalue())
    atomic_write_text(
        out_dir / SUMMARY_JSON,
        json.dumps(
            {
                "study": study.name,
                "description": study.description,
                "axis": study.axis,
                "rows": rows,
                "damaged": collected.damaged,
            },
            indent=2,
        )
        + "\n",
    )
    png: Path | None = out_dir / SUMMARY_PNG
    try:
        atomic_write_bytes(out_dir / SUMMARY_PNG, plot(study, rows, out_dir))
    except ImportError:
        png = None
    return StudyOutputs(study.name, out_dir / SUMMARY_CSV, out_dir / SUMMARY_JSON, png, rows, collected.damaged)


def plot(study: Study, rows: list[dict[str, Any]], out_dir: Path) -> bytes:
    """PSNR and MS-SSIM by variant (a curve over numeric values, bars for categories; seen and unseen frames
    apart when some frames were held out), and PSNR over epochs for every run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    scored = [r for r in rows if r["psnr"] is not None]
    for ax, key, label in ((axes[0], "psnr", "RGB PSNR (dB)"), (axes[1], "ms_ssim", "MS-SSIM (RGB)")):
        series = [(key, "all frames")]
        if any(r.get(f"{key}_unseen") is not None for r in scored):
            series = [(key, "all frames"), (f"{key}_seen", "seen"), (f"{key}_unseen", "unseen")]
        groups = sorted({r["group"] for r in scored})
        numeric = {
            g: study.numeric or all(isinstance(r["value"], (int, float)) for r in scored if r["group"] == g)
            for g in groups
        }
        # bars for categories; a curve over numbers, on its own x axis (top) when bars share the panel
        curve_ax = ax.twiny() if any(numeric.values()) and not all(numeric.values()) else ax
        for group in groups:
            part = [r for r in scored if r["group"] == group]
            for k, name in series:
                pts = [(r["value"], r[k]) for r in part if r.get(k) is not None]
                tag = " · ".join(t for t in (group, name if len(series) > 1 else "") if t)
                if numeric[group]:
                    pts.sort()
                    style = {"color": "C1"} if curve_ax is not ax else {}  # apart from the bars' colour
                    curve_ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=tag or None, **style)
                    if curve_ax is not ax:
                        curve_ax.set_xlabel(group, color="C1")
                else:
                    bars = ax.bar([str(p[0]) for p in pts], [p[1] for p in pts], label=tag or None, alpha=0.8)
                    ax.bar_label(bars, fmt="%.2f" if key == "psnr" else "%.4f", fontsize=8)
        if study.log_axis:
            ax.set_xscale("log")
        if not study.numeric and scored:
            lows = [r[key] for r in scored if r[key] is not None]
            ax.set_ylim(min(lows) - (1.0 if key == "psnr" else 0.02), max(lows) + (0.5 if key == "psnr" else 0.01))
        ax.set_xlabel(study.axis)
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if curve_ax is not ax:
            more = curve_ax.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        if handles:
            ax.legend(handles, labels, fontsize=8)
    ax = axes[2]
    for run in dict.fromkeys(r["run"] for r in rows):
        metrics = runfolder.read_metrics(out_dir / RUNS / run)[0]
        if metrics:
            label = next(r["label"] for r in rows if r["run"] == run)
            ax.plot([m["epoch"] for m in metrics], [m["psnr"] for m in metrics], ".-", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("RGB PSNR (dB)")
    ax.set_title("training curves", fontsize=10)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.suptitle(f"study '{study.name}': PSNR and MS-SSIM by {study.axis}", fontsize=11)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def open_study(folder: str | Path) -> StudyOutputs:
    """A study folder's summary, rebuilt from its run folders (so it shows runs finished since it was written)."""
    folder = Path(folder)
    try:
        record = json.loads((folder / STUDY_FILE).read_text())
        study, runs = get_study(record["study"]), record["runs"]
        previous = (
            {r["run"]: r for r in json.loads((folder / SUMMARY_JSON).read_text())["rows"]}
            if (folder / SUMMARY_JSON).is_file()
            else {}
        )
    except FileNotFoundError:
        raise ConfigError(f"{folder}: not a study folder ({STUDY_FILE} missing)") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{folder / STUDY_FILE}: unreadable study record ({e})") from None
    variants = [
        Variant(
            name,
            previous.get(name, {}).get("label", name),
            previous.get(name, {}).get("value", name),
            group=previous.get(name, {}).get("group", ""),
        )
        for name in runs
    ]
    return write_outputs(study, collect(study, variants, folder / RUNS), folder)
