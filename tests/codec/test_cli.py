"""The codec subcommands through the real entry point: exit codes, output, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from nervplayer.cli.main import main


@pytest.fixture(scope="module")
def compressed(fitted_run, tmp_path_factory):
    import shutil

    work = tmp_path_factory.mktemp("cli")
    run = shutil.copytree(fitted_run, work / "run")
    out = work / "clip.nerv"
    assert (
        main(["compress", str(run), "-o", str(out), "--finetune-epochs", "1", "--device", "cpu", "--compare-coders"])
        == 0
    )
    return run, out


def test_compress_prints_the_report(compressed, capsys):
    run, out = compressed
    assert (
        main(
            [
                "compress",
                str(run),
                "-o",
                str(out.with_name("b.nerv")),
                "--finetune-epochs",
                "1",
                "--device",
                "cpu",
                "--bits",
                "6",
                "--per-tensor",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    for needle in (
        "bpp",
        "sparsity",
        "header",
        "ranges",
        "tables",
        "weights",
        "mask",
        "empirical entropy",
        "decoded vs source",
        "decoded vs uncompressed model",
        "paper's estimate",
    ):
        assert needle in text


def test_info(compressed, capsys):
    _, out = compressed
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "activation silu (plugin version 1.0)" in text and "16 frames" in text and "stem.2.weight" in text
    assert main(["info", str(out), "--json"]) == 0
    header = json.loads(capsys.readouterr().out)
    assert header["compression"]["prune_ratio"] == 0.4 and header["sections"] == ["QPAR", "TABL", "WGHT", "MASK"]


def test_decode_whole_and_fractional(compressed, tmp_path):
    _, out = compressed
    for n in ("3", "3.5"):
        png = tmp_path / f"f{n}.png"
        assert main(["decode", str(out), "--frame", n, "-o", str(png)]) == 0
        assert np.asarray(Image.open(png)).shape == (64, 64, 3)


def test_export_video_and_png_folder(compressed, tmp_path):
    import av

    _, out = compressed
    mp4 = tmp_path / "out.mp4"
    assert main(["export", str(out), "-o", str(mp4), "--crf", "20", "--device", "cpu"]) == 0
    with av.open(str(mp4)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 16
    folder = tmp_path / "pngs/"
    assert main(["export", str(out), "-o", f"{folder}/", "--frames", "2:5", "--device", "cpu"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["000002.png", "000003.png", "000004.png"]


def test_eval_of_a_nerv_file(compressed, shapes_clip, capsys):
    _, out = compressed
    assert main(["eval", str(out), str(shapes_clip), "--device", "cpu"]) == 0
    assert "PSNR" in capsys.readouterr().out


@pytest.mark.parametrize("content", [b"", b"garbage" * 10, None])
def test_bad_files_exit_2_with_one_line(tmp_path, capsys, content):
    bad = tmp_path / "bad.nerv"
    if content is None:
        bad.mkdir()
    else:
        bad.write_bytes(content)
    for cmd in (["info", str(bad)], ["decode", str(bad), "--frame", "0", "-o", str(tmp_path / "x.png")]):
        assert main(cmd) == 2
        err = capsys.readouterr().err
        assert err.startswith("nervplayer: error: ") and err.count("\n") == 1


def test_frame_out_of_range_exits_2(compressed, tmp_path, capsys):
    _, out = compressed
    assert main(["decode", str(out), "--frame", "99", "-o", str(tmp_path / "x.png")]) == 2
    assert "outside the video" in capsys.readouterr().err


def test_rd_with_codecs(compressed, tmp_path, capsys):
    run, _ = compressed
    out = tmp_path / "rd.json"
    assert (
        main(
            [
                "rd",
                str(run),
                "-o",
                str(out),
                "--prunes",
                "0,0.4",
                "--bits",
                "4,8",
                "--finetune-epochs",
                "1",
                "--device",
                "cpu",
                "--codecs",
            ]
        )
        == 0
    )
    data = json.loads(out.read_text())
    assert set(data["results"]) == {"bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"}
    bpp, ps = data["results"]["bpp"], data["results"]["psnr-rgb"]
    assert bpp == sorted(bpp) and ps == sorted(ps)  # a Pareto front
    assert len(data["points"]) == 4 and "crossings" in data and "rate_at_equal_psnr" in data
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    for codec in ("libx264", "libx265", "libsvtav1"):
        assert len(json.loads(out.with_suffix(f".{codec}.json").read_text())["results"]["bpp"]) >= 4
