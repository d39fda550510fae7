"""Loss-proof under ``kill -9``: a fit killed mid-epoch resumes from its last checkpoint, and a compress killed
while writing leaves the earlier ``.nerv`` as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from nervplayer.cli.main import main as cli_main
from nervplayer.codec import nervfile

REPO = Path(__file__).resolve().parent.parent
SMALL = ["--preset", "nerv-xs", "--model", "stem_dim=16", "--model", "fc_c=4", "--model", "lower_width=4"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _wait_for(predicate, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, "the process ended before it could be killed"
        assert time.monotonic() < deadline, "timed out waiting for the process"
        time.sleep(0.02)


def test_fit_killed_mid_epoch_resumes_from_the_checkpoint(tmp_path, shapes_clip):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nervplayer",
            "fit",
            str(shapes_clip),
            "-o",
            str(run),
            "--epochs",
            "6",
            "--checkpoint-every",
            "1",
            "--eval-every",
            "100",
            *SMALL,
        ],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(lambda: (run / "checkpoint.pt").is_file(), 300, proc)
        os.set_blocking(proc.stderr.fileno(), False)
        proc.stderr.read()  # what was printed up to the checkpoint; new progress means a step of the next epoch
        _wait_for(lambda: bool(proc.stderr.read()), 120, proc)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (run / "model.safetensors").exists()
    assert cli_main(["fit", "--resume", "-o", str(run)]) == 0
    assert (run / "model.safetensors").is_file()
    from nervplayer.train import open_run
    from nervplayer.train.checkpoint import load_checkpoint

    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 6
    assert open_run(run).build_model() is not None


def test_compress_killed_while_writing_keeps_the_earlier_file(tmp_path, shapes_clip):
    run = tmp_path / "run"
    assert cli_main(["fit", str(shapes_clip), "-o", str(run), "--epochs", "1", *SMALL]) == 0
    out = tmp_path / "clip.nerv"
    assert (
        cli_main(
            ["compress", str(run), "-o", str(out), "--prune", "0", "--finetune-epochs", "0", "--no-eval", "--bits", "6"]
        )
        == 0
    )
    before = out.read_bytes()
    # The second compress stops for good when it flushes the new file to disk, before the rename: kill it there.
    code = (
        "import os, sys, time\n"
        "def stall(fd):\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(600)\n"
        "os.fsync = stall\n"
        "from nervplayer.cli.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "compress",
            str(run),
            "-o",
            str(out),
            "--prune",
            "0",
            "--finetune-epochs",
            "0",
            "--no-eval",
            "--bits",
            "8",
        ],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "writing"
        partial = [p for p in tmp_path.iterdir() if p.name.startswith(".clip.nerv.")]
        assert partial and partial[0].stat().st_size > 0  # the new file was being written beside the old one
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert out.read_bytes() == before
    assert nervfile.load(out).compression["bits"] == 6


def test_a_run_killed_after_an_evaluation_past_its_checkpoint_keeps_one_row_per_epoch(tmp_path, shapes_clip):
    """Killed (SIGKILL, by itself, deterministically) right after its 5th evaluation with checkpoints every 3
    epochs, and in the middle of writing a 6th row: the resumed run evaluates epochs 4 and 5 again, and both
    metrics files end with one row per epoch."""
    run = tmp_path / "run"
    code = (
        "import os, signal, sys\n"
        "from nervplayer.train import Evaluated, FitConfig, Fitter\n"
        "model = {'stem_dim': 16, 'fc_c': 4, 'lower_width': 4}\n"
        "cfg = FitConfig(video=sys.argv[1], arch='nerv', preset='nerv-xs', model=model, epochs=8, end=4,\n"
        "                eval_every=1, checkpoint_every=3, precision='fp32')\n"
        "for ev in Fitter(cfg, sys.argv[2]).run():\n"
        "    if isinstance(ev, Evaluated) and ev.epoch == 5:\n"
        "        with open(os.path.join(sys.argv[2], 'metrics.jsonl'), 'a') as f:\n"
        '            f.write(\'{"epoch": 6, "st\')\n'
        "        with open(os.path.join(sys.argv[2], 'metrics.csv'), 'a') as f:\n"
        "            f.write('6,24,0.0')\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(shapes_clip), str(run)], env=_env(), timeout=300)
    assert proc.returncode == -signal.SIGKILL
    from nervplayer.train.checkpoint import load_checkpoint

    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 3
    assert cli_main(["fit", "--resume", "-o", str(run)]) == 0
    import csv
    import json

    jsonl = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in jsonl] == list(range(1, 9))
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(row["epoch"]) for row in rows] == list(range(1, 9))
    assert all(None not in row and row["psnr"] for row in rows)
