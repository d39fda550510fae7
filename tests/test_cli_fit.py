import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from nervplayer.cli.main import main
from nervplayer.train.checkpoint import load_checkpoint

TINY = ["--model", "stem_dim=32", "--model", "fc_c=4", "--model", "lower_width=4"]


def test_fit_eval_frame(shapes_clip, tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "fit",
                str(shapes_clip),
                "-o",
                str(run),
                "--preset",
                "nerv-xs",
                "--epochs",
                "3",
                "--stride",
                "2",
                "--eval-every",
                "3",
                *TINY,
            ]
        )
        == 0
    )
    out = capsys.readouterr()
    assert "Results in" in out.out and "epoch 3: PSNR" in out.err and "unseen" in out.err
    assert main(["eval", str(run), str(shapes_clip)]) == 0
    text = capsys.readouterr().out
    assert "seen frames" in text and "unseen frames" in text and text.count("unseen") >= 9
    assert main(["eval", str(run), str(shapes_clip), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["frames"]) == 16 and report["frames"][1]["metrics"]["seen"] is False
    assert {"psnr", "ms_ssim", "psnr_seen", "psnr_unseen"} <= set(report["pooled_metrics"])
    assert main(["frame", str(run), "5", "-o", str(tmp_path / "f.png")]) == 0
    assert np.asarray(Image.open(tmp_path / "f.png")).shape == (64, 64, 3)
    assert main(["frame", str(run), "16", "-o", str(tmp_path / "g.png")]) == 2


def test_ctrl_c_checkpoints_and_resume_finishes(shapes_clip, tmp_path):
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "nervplayer.cli.main",
        "fit",
        str(shapes_clip),
        "-o",
        str(run),
        "--preset",
        "nerv-xs",
        "--epochs",
        "150",
        "--precision",
        "fp32",
        *TINY,
    ]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.time() + 60
    while not (run / "config.json").exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "nervplayer fit --resume -o" in err and "Traceback" not in err
    assert (run / "checkpoint.pt").exists() and not (run / "model.safetensors").exists()
    finish = str(load_checkpoint(run / "checkpoint.pt")["epoch"] + 2)  # two epochs more: the resume, not a long fit
    resumed = subprocess.run(
        [sys.executable, "-m", "nervplayer.cli.main", "fit", "--resume", "-o", str(run), "--epochs", finish],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert (run / "model.safetensors").exists()
