"""`nervplayer bench` end to end on a tiny synthetic clip (seconds)."""

import json

import pytest
from torch import nn

from nervplayer.cli import bench, bench_report
from nervplayer.model import architectures
from nervplayer.plugins.api import Frames

TINY = ["--size", "48x32", "--frames", "4", "--steps", "2", "--warmup", "1", "--device", "cpu"]


def test_bench_measures_and_reports(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = bench.main(
        ["--preset", "nerv-xs", *TINY, "--decode-batch", "2", "--decode-seconds", "0.01", "--json", str(out)]
    )
    assert rc == 0
    r = json.loads(out.read_text())
    assert r["train"]["frames_per_s"] > 0 and r["train"]["steps"] >= 2
    assert set(r["phases_ms"]) == {"data", "forward", "loss", "backward", "optimizer", "rest of the loop"}
    names = [layer["name"] for layer in r["layers"]]
    assert "blocks.0.conv" in names  # the head runs inside NeRV.forward, before the last shuffle
    assert {d["batch"] for d in r["decode"]} == {1, 2}
    text = capsys.readouterr().out
    assert "### What takes the training time" in text and "### Decoding" in text and "**Answer:**" in text


@pytest.mark.parametrize("arch", ["hnerv", "grid"])
def test_the_time_table_covers_every_layer_of_the_chosen_architecture(arch, tmp_path, capsys):
    """--arch and --params size the model as a fit does; the table has a row for every layer that holds weights,
    plus the model's work outside its layers, the data, the loss and the optimizer, and their shares make the
    whole step."""
    out = tmp_path / "bench.json"
    assert bench.main(["--arch", arch, "--params", "20k", *TINY, "--no-decode", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["arch"] == arch and abs(r["params"] - 20_000) <= 1_000  # sized like `fit --params 20k`
    rows = {row["name"]: row for row in r["layers"]}
    model = architectures.build(architectures.resolve(arch, Frames(32, 48, 4), budget=20_000))
    containers = (nn.ParameterList, nn.ParameterDict)  # latent grids: read by the model's own ops (outside row)
    weighted = {
        n
        for n, m in model.named_modules()
        if n and not list(m.children()) and list(m.parameters()) and not isinstance(m, containers)
    }
    assert weighted and weighted <= set(rows)
    assert {"loss", "optimizer", "data", "(model, outside any layer)"} <= set(rows)
    assert all(row["fwd_ms"] >= 0 and row["bwd_ms"] >= 0 for row in rows.values())
    assert sum(bench_report.shares(r["layers"])) == pytest.approx(100.0)
    counted = sum(row["fwd_gflop"] + row["bwd_gflop"] for row in rows.values() if row["kind"] != "data")
    assert counted == pytest.approx(r["train_gflop_per_frame"], rel=1e-6)  # batch 1: every counted FLOP is in a row
    text = capsys.readouterr().out
    assert f"## {arch} (sized to 20,000)" in text
    for name in rows:
        assert f"| {name} |" in text


def test_bench_takes_a_whole_short_video(shapes_clip, tmp_path):
    """A video shorter than bunny's 132 frames is benchmarked whole unless --frames says otherwise."""
    out = tmp_path / "bench.json"
    args = [str(shapes_clip), "--preset", "nerv-xs", "--steps", "2", "--warmup", "1", "--device", "cpu"]
    assert bench.main([*args, "--no-layers", "--no-decode", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["frames"] == 16
