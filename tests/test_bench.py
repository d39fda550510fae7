"""`nervplayer bench` end to end on a tiny synthetic clip (seconds)."""

import json

from nervplayer.cli import bench


def test_bench_measures_and_reports(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = bench.main(
        [
            "--preset",
            "nerv-xs",
            "--size",
            "40x24",
            "--frames",
            "4",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--decode-batch",
            "2",
            "--decode-seconds",
            "0.01",
            "--device",
            "cpu",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    r = json.loads(out.read_text())
    assert r["train"]["frames_per_s"] > 0 and r["train"]["steps"] >= 2
    assert set(r["phases_ms"]) == {"data", "forward", "loss", "backward", "optimizer", "rest of the loop"}
    names = [layer["name"] for layer in r["layers"]]
    assert "blocks.0.conv" in names  # the head runs inside NeRV.forward, before the last shuffle
    assert {d["batch"] for d in r["decode"]} == {1, 2}
    text = capsys.readouterr().out
    assert "### Per layer" in text and "### Decoding" in text
