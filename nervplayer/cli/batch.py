"""``nervplayer batch CLIP_OR_FOLDER... -o DIR [fit options]``: fit and compress many clips, one job per clip.

Each clip is fitted in ``DIR/runs/<clip>/`` (any ``nervplayer fit`` option applies to every clip) and compressed
to ``DIR/<clip>.nerv``, as a job on the executor ``--workers`` / ``--cluster`` choose (nervplayer/jobs), so clips
run side by side on every core, GPU or node. A rerun of the same command skips the finished clips and resumes an
interrupted one from its checkpoint. The summary (PSNR, MS-SSIM, size, bpp, time per clip) is printed and written
to ``DIR/summary.csv`` and ``DIR/summary.json``, with every clip on one rate–distortion plot (``DIR/summary.png``,
with the ``plot`` extra).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..codec import Compressed, CompressOptions, Compressor
from ..codec.rd import RDPoint, RDResult, plot
from ..errors import Cancelled, ConfigError
from ..jobs import Job, JobDone, JobsCancelled, stop_requested
from ..train import Finished, FitConfig, Fitter, runfolder
from ..video import probe
from ..video.reader import IMAGE_SUFFIXES
from . import fit
from .errors import quiet_ffmpeg
from .interrupt import cancel_on_ctrl_c
from .options import Parser, add_executor, executor_from_args

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".y4m", ".m4v")
RUNS = "runs"
RESULT = "batch.json"  # in a clip's run folder, written once its .nerv is: the clip is finished
SUMMARY_CSV, SUMMARY_JSON, SUMMARY_PNG = "summary.csv", "summary.json", "summary.png"
COLUMNS = ("clip", "frames", "width", "height", "params", "psnr", "ms_ssim", "bytes", "bpp", "seconds")


def build_parser() -> Parser:
    p = Parser(
        prog="nervplayer batch",
        description="Fit and compress every clip: one job per clip on this machine's workers or a Ray cluster; "
        "resumable (rerun the same command); a summary table and an RD plot. Every 'nervplayer fit' option "
        "(--arch, --params, --epochs, --size, ...), given after the clips, applies to each clip.",
    )
    p.add_argument("clips", nargs="+", metavar="CLIP_OR_FOLDER", help="videos, frame folders, or folders of videos")
    p.add_argument("-o", "--output", required=True, type=Path, help="folder for the .nerv files and the summary")
    p.add_argument("--prune", type=float, default=CompressOptions.prune, help="as in compress (default %(default)s)")
    p.add_argument("--bits", type=int, default=CompressOptions.bits, help="as in compress (default %(default)s)")
    p.add_argument(
        "--finetune-epochs",
        type=int,
        default=CompressOptions.finetune_epochs,
        help="as in compress (default %(default)s)",
    )
    add_executor(p)
    return p


def find_clips(paths: list[str]) -> list[Path]:
    """Each argument: a video, a folder of frames (one clip), or a folder whose videos are the clips."""
    clips: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_file():
            clips.append(path)
        elif path.is_dir():
            entries = sorted(path.iterdir())
            if any(e.suffix.lower() in IMAGE_SUFFIXES for e in entries):
                clips.append(path)
            else:
                videos = [e for e in entries if e.is_file() and e.suffix.lower() in VIDEO_SUFFIXES]
                if not videos:
                    raise ConfigError(f"{path}: holds neither frames nor videos ({', '.join(VIDEO_SUFFIXES)})")
                clips += videos
        else:
            raise ConfigError(f"{path}: no such file or folder")
    names = [clip_name(c) for c in clips]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"two clips would share the name {twice[0]!r} in the output folder: rename one")
    return clips


def clip_name(clip: Path) -> str:
    return clip.stem if clip.is_file() else clip.name


def clip_job(video: str, folder: str, config: FitConfig, options: CompressOptions) -> dict[str, Any]:
    """One clip, start to end (a job: runs in a worker): fit in ``folder/runs/<clip>`` (resumed from its checkpoint
    when there is one), compress to ``folder/<clip>.nerv``; returns the clip's summary row."""
    quiet_ffmpeg()  # a worker process of its own: FFmpeg's log lines stay off the terminal here too
    name = clip_name(Path(video))
    run_dir, nerv = Path(folder) / RUNS / name, Path(folder) / f"{name}.nerv"
    began = time.perf_counter()
    if not (run_dir / runfolder.WEIGHTS).is_file():
        resume = (run_dir / runfolder.CHECKPOINT).is_file()
        if not resume and run_dir.exists():
            shutil.rmtree(run_dir)  # started, but killed before its first checkpoint: nothing to keep
        fitter = Fitter(replace(config, video=video), run_dir, resume=resume)
        try:
            for ev in fitter.run():
                if stop_requested():
                    fitter.cancel()
                if isinstance(ev, Finished) and ev.status == "cancelled":
                    raise Cancelled(f"{name}: stopped at epoch {ev.epoch:.2f}, checkpoint kept")
        finally:
            fitter.store.close()
    compressor = Compressor(run_dir, nerv, options)
    report = None
    for event in compressor.run():
        if stop_requested():
            compressor.cancel()
        if isinstance(event, Compressed):
            report = event
    if report is None:
        raise Cancelled(f"{name}: stopped while compressing, fine-tune checkpoint kept")
    source = json.loads((run_dir / runfolder.CONFIG).read_text())["source"]
    row = {
        "clip": name,
        "frames": source["num_frames"],
        "width": source["size"][1],
        "height": source["size"][0],
        "params": report.params,
        "psnr": report.metrics.get("psnr"),
        "ms_ssim": report.metrics.get("ms_ssim"),
        "bytes": report.file_bytes,
        "bpp": report.bpp,
        "seconds": round(time.perf_counter() - began, 2),
    }
    atomic_write_text(run_dir / RESULT, json.dumps(row, indent=2) + "\n")
    return row


def finished_row(folder: Path, name: str) -> dict[str, Any] | None:
    """The row of a clip an earlier call finished (its .nerv and its result are there), else None."""
    try:
        if (folder / f"{name}.nerv").is_file():
            row: dict[str, Any] = json.loads((folder / RUNS / name / RESULT).read_text())
            return row
    except (OSError, ValueError):
        pass
    return None


def write_summary(folder: Path, rows: list[dict[str, Any]]) -> Path | None:
    """summary.csv, summary.json and (with matplotlib) summary.png: each clip one point of one RD plot."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(folder / SUMMARY_CSV, buf.getvalue())
    atomic_write_text(folder / SUMMARY_JSON, json.dumps({"clips": rows}, indent=2) + "\n")
    points = [
        RDResult(r["clip"], "", [RDPoint(r["clip"], r["bpp"], r["psnr"], r["ms_ssim"], r["seconds"], 0.0, r["bytes"])])
        for r in rows
        if r.get("psnr") is not None and r.get("ms_ssim") is not None
    ]
    if not points:
        return None
    try:
        plot(points, [], folder / SUMMARY_PNG, f"nervplayer batch: {len(rows)} clips")
    except ImportError:
        return None
    return folder / SUMMARY_PNG


def table(rows: list[dict[str, Any]]) -> str:
    def num(value: Any, fmt: str) -> str:
        return format(value, fmt) if isinstance(value, (int, float)) else "–"

    width = max([4, *(len(r["clip"]) for r in rows)])
    lines = [f"{'clip':<{width}}  {'PSNR dB':>7}  {'MS-SSIM':>7}  {'bytes':>10}  {'bpp':>7}  {'time s':>7}"]
    for r in rows:
        lines.append(
            f"{r['clip']:<{width}}  {num(r.get('psnr'), '7.2f')}  {num(r.get('ms_ssim'), '7.4f')}  "
            f"{num(r.get('bytes'), '10,d')}  {num(r.get('bpp'), '7.4f')}  {num(r.get('seconds'), '7.1f')}"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    clips = find_clips(args.clips)
    # every fit option, parsed and checked by fit's own parser before any work
    fit_args = fit.build_parser().parse_args([str(clips[0]), "-o", str(args.output), *rest])
    if fit_args.segment is not None or fit_args.warm_start is not None:
        raise ConfigError("batch fits each clip whole: --segment and --warm-start are for nervplayer fit")
    config = fit.config_from_args(fit_args)
    options = CompressOptions(prune=args.prune, bits=args.bits, finetune_epochs=args.finetune_epochs)
    options.validate()
    for clip in clips:  # a clip that cannot be read fails now, not in a worker minutes later
        replace(config, video=str(clip)).validate()
        probe(clip)
    executor = executor_from_args(args)
    args.output.mkdir(parents=True, exist_ok=True)
    names = [clip_name(c) for c in clips]
    rows = {n: row for n in names if (row := finished_row(args.output, n)) is not None}
    jobs = [
        Job(clip_name(c), clip_job, (str(c.resolve()), str(args.output.resolve()), config, options))
        for c in clips
        if clip_name(c) not in rows
    ]
    print(
        f"batch: {len(clips)} clips ({len(rows)} finished before) on {executor.name}; results in {args.output}/",
        file=sys.stderr,
    )

    def done(d: JobDone) -> None:
        rows[d.key] = d.result
        retried = f", {d.attempts} attempts" if d.attempts > 1 else ""
        r = d.result
        print(
            f"[{len(rows)}/{len(clips)}] {d.key}: PSNR {r['psnr']:.2f} dB, {r['bpp']:.4f} bpp, "
            f"{r['bytes']:,} bytes in {d.seconds:.1f} s{retried}",
            file=sys.stderr,
        )

    status = 0
    try:
        with cancel_on_ctrl_c(executor.cancel):
            executor.run(jobs, done)
    except JobsCancelled:
        print("stopped; finished clips are kept: rerun the same command to continue", file=sys.stderr)
        status = 130
    ordered = [rows[n] for n in names if n in rows]
    png = write_summary(args.output, ordered)
    print(table(ordered))
    print(
        f"summary: {args.output / SUMMARY_CSV}, {args.output / SUMMARY_JSON}"
        + (f", {png}" if png else " (no plot: no clip finished, or no matplotlib: pip install 'nervplayer[plot]')")
    )
    return status
