"""Bad input to `nervplayer fit` (issue: each one a test): one clear line on stderr, exit 2, no traceback, and
nothing in an existing run folder destroyed."""

import shutil

import numpy as np
import pytest
import torch
from clips import moving_shapes, write_png_folder, write_video

from nervplayer.cli.main import main


@pytest.fixture(scope="module")
def existing_run(tmp_path_factory, shapes_clip):
    run = tmp_path_factory.mktemp("existing") / "run"
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
                "1",
                "--model",
                "stem_dim=32",
                "--model",
                "fc_c=4",
                "--model",
                "lower_width=4",
            ]
        )
        == 0
    )
    return run


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def run_fit(args, capsys):
    code = main(["fit", *args])
    err = capsys.readouterr().err
    return code, err


def bad_inputs(tmp, shapes_clip):
    text = tmp / "notes.mp4"
    text.write_text("this is not a video\n")
    truncated = tmp / "truncated.mp4"
    truncated.write_bytes(shapes_clip.read_bytes()[: shapes_clip.stat().st_size // 3])
    empty_dir = tmp / "empty"
    empty_dir.mkdir()
    (empty_dir / "readme.txt").write_text("no frames here")
    one = write_video(tmp / "one.mp4", moving_shapes(1, 32, 32))
    faststart = _faststart_copy(shapes_clip, tmp / "faststart.mp4")
    cut = tmp / "cut.mp4"
    cut.write_bytes(faststart.read_bytes()[: faststart.stat().st_size * 2 // 3])
    audio_only = tmp / "audio.wav"
    _write_audio_only(audio_only)
    return {
        "missing path": ([str(tmp / "nope.mp4")], "no such file"),
        "folder without images": ([str(empty_dir)], "no PNG or JPEG"),
        "text file renamed .mp4": ([str(text)], "not a video"),
        "truncated mp4": ([str(truncated)], "truncated.mp4: not a video PyAV can read"),
        "truncated faststart mp4": ([str(cut)], "truncated or damaged: the container lists 16 frames"),
        "no decodable frames": ([str(audio_only)], "no video stream"),
        "one-frame video": ([str(one)], "at least 2 frames"),
        "frame range outside": ([str(shapes_clip), "--frames", "10:40"], "outside the clip"),
        "unknown preset": ([str(shapes_clip), "--preset", "nerv-xxl"], "unknown preset 'nerv-xxl'; available"),
        "unknown activation": ([str(shapes_clip), "--activation", "mish"], "unknown activation 'mish'; available"),
        "unknown loss": ([str(shapes_clip), "--loss", "fusion13"], "unknown loss 'fusion13'; available"),
        "unknown scheduler": ([str(shapes_clip), "--scheduler", "poly"], "unknown scheduler 'poly'; available"),
        "zero epochs": ([str(shapes_clip), "--epochs", "0"], "epochs must be at least 1"),
        "negative epochs": ([str(shapes_clip), "--epochs", "-5"], "epochs must be at least 1"),
        "cuda without cuda": ([str(shapes_clip), "--device", "cuda"], "CUDA is not available"),
    }


def _faststart_copy(src, dst):
    """Remux with the index (moov) first, so a cut file still opens but lacks frames."""
    import av

    with av.open(str(src)) as i, av.open(str(dst), "w", options={"movflags": "faststart"}) as o:
        s = o.add_stream_from_template(i.streams.video[0])
        for p in i.demux(i.streams.video[0]):
            if p.dts is not None:
                p.stream = s
                o.mux(p)
    return dst


def _write_audio_only(path):
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for p in stream.encode(frame):
            out.mux(p)
        for p in stream.encode():
            out.mux(p)


CASES = [
    "missing path",
    "folder without images",
    "text file renamed .mp4",
    "truncated mp4",
    "truncated faststart mp4",
    "no decodable frames",
    "one-frame video",
    "frame range outside",
    "unknown preset",
    "unknown activation",
    "unknown loss",
    "unknown scheduler",
    "zero epochs",
    "negative epochs",
    "cuda without cuda",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_clear_line_and_exit_2(case, tmp_path, shapes_clip, existing_run, capsys):
    if case == "cuda without cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    args, message = bad_inputs(tmp_path, shapes_clip)[case]
    before = snapshot(existing_run)
    code, err = run_fit([*args, "-o", str(existing_run / "new")], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nervplayer: error: ") and message in lines[0], lines[0]
    assert "Traceback" not in err
    assert snapshot(existing_run) == before
    # Also when aimed at the existing run folder itself.
    code, err = run_fit([*args, "-o", str(existing_run)], capsys)
    assert code == 2 and snapshot(existing_run) == before


def test_resume_with_another_video_or_config(tmp_path, shapes_clip, existing_run, capsys):
    run = tmp_path / "run"
    shutil.copytree(existing_run, run)
    before = snapshot(run)
    other = write_video(tmp_path / "other.mp4", moving_shapes(16, 64, 64)[::-1].copy())
    code, err = run_fit([str(other), "-o", str(run), "--resume"], capsys)
    assert code == 2 and "made from another video" in err and len(err.strip().splitlines()) == 1
    code, err = run_fit(["-o", str(run), "--resume", "--lr", "0.1"], capsys)
    assert code == 2 and "other options (lr differ)" in err
    assert snapshot(run) == before


def test_fit_into_an_existing_run_without_resume_is_refused(existing_run, shapes_clip, capsys):
    before = snapshot(existing_run)
    code, err = run_fit([str(shapes_clip), "-o", str(existing_run)], capsys)
    assert code == 2 and "already holds a run" in err
    assert snapshot(existing_run) == before


def test_png_and_jpeg_folders_fit(tmp_path, capsys):
    frames = moving_shapes(4, 32, 48)
    for suffix in (".png", ".jpg"):
        folder = write_png_folder(tmp_path / suffix[1:], frames, suffix)
        run = tmp_path / f"run{suffix}"
        assert (
            main(
                [
                    "fit",
                    str(folder),
                    "-o",
                    str(run),
                    "--preset",
                    "nerv-xs",
                    "--epochs",
                    "1",
                    "--model",
                    "stem_dim=16",
                    "--model",
                    "fc_c=4",
                    "--model",
                    "lower_width=4",
                ]
            )
            == 0
        )
    assert "done" in capsys.readouterr().out
