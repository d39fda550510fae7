"""``nervplayer rd`` of a segmented run (issue 18 item 3): each point is the gathered file of the segments
compressed alike, and carries that file's seam table (PSNR either side of each boundary, and the flicker there)."""

import json
from pathlib import Path

import pytest
from clips import write_video
from test_segments import two_scenes

from nervplayer.cli.main import main
from nervplayer.codec.nervfile import load_any
from nervplayer.codec.pipeline import CompressOptions
from nervplayer.codec.segtable import SegmentedFile
from nervplayer.jobs import SerialExecutor
from nervplayer.segments.fit import SegmentedFit, plan_segments
from nervplayer.train import FitConfig

TINY = {"stem_dim": 32, "fc_c": 4, "lower_width": 4}
STORE = CompressOptions(prune=0.0, finetune_epochs=0, device="cpu", evaluate=False)


@pytest.fixture(scope="module")
def segmented_run(tmp_path_factory):
    """A fitted segmented run of a 16-frame clip with a cut at frame 6: segments 0:6, 6:11, 11:16."""
    root = tmp_path_factory.mktemp("segrd")
    clip = write_video(root / "cut.mp4", two_scenes(6, 10, 32, 32))
    config = FitConfig(video=str(clip), arch="nerv", preset="nerv-xs", model=TINY, loss="l2", epochs=2, eval_every=2)
    plan = plan_segments(config, root / "run", 5, "cold", STORE)
    SegmentedFit(plan, root / "run", SerialExecutor()).run()
    return root / "run", clip, plan


def test_rd_of_a_segmented_run_gives_gathered_files_each_with_its_seam_table(segmented_run, tmp_path, capsys):
    run, clip, plan = segmented_run
    out = tmp_path / "rd.json"
    argv = ["rd", str(run), "-o", str(out), "--prunes", "0,0.4", "--bits", "6", "--finetune-epochs", "0"]
    assert main([*argv, "--device", "cpu"]) == 0
    report = json.loads(out.read_text())
    points = report["points"]
    assert [p["label"] for p in points] == ["p0.00 b6", "p0.40 b6"]
    for p in points:
        gathered = load_any(p["params"]["file"])
        assert isinstance(gathered, SegmentedFile)
        assert [(s.start, s.end) for s in gathered.segments] == plan.segments
        assert p["bytes"] == Path(p["params"]["file"]).stat().st_size
        table = p["params"]["seams"]
        assert [s["frame"] for s in table] == [6, 11]
        for s in table:
            assert s["psnr_before"] is not None and s["mean_after"] is not None
            assert {"decoded", "source", "added", "within", "flagged"} <= set(s["flicker"])
        assert p["params"]["segments"] == 3
    assert out.with_suffix(".png").is_file()
    assert "2 seams" in capsys.readouterr().err
    # each point's table is its own file's: what `eval` measures of that file
    for p in points:
        assert main(["eval", p["params"]["file"], str(clip), "--device", "cpu", "--json"]) == 0
        evaluated = json.loads(capsys.readouterr().out)["seams"]
        for mine, theirs in zip(p["params"]["seams"], evaluated):
            assert mine["psnr_before"] == pytest.approx(theirs["psnr_before"], abs=1e-3)
            assert mine["mean_after"] == pytest.approx(theirs["mean_after"], abs=1e-3)
            assert mine["flicker"]["added"] == pytest.approx(theirs["flicker"]["added"], abs=1e-3)


def test_a_segmented_run_is_measured_alone(segmented_run, tmp_path, capsys):
    run, _, _ = segmented_run
    assert main(["rd", f"{run},{run}", "-o", str(tmp_path / "rd.json"), "--device", "cpu"]) == 2
    assert "a segmented run is measured alone" in capsys.readouterr().err
