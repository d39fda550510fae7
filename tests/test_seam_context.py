"""Context frames (FitConfig.context): a segment of a content-adaptive model trains on its neighbours' frames
beyond each boundary inside a scene, and stores only its own (nervplayer/segments/fit.py, train/fit.py)."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from clips import moving_shapes, write_video
from test_segments import two_scenes

from nervplayer.codec import container
from nervplayer.codec.blend import band, fade
from nervplayer.codec.pipeline import CompressOptions
from nervplayer.codec.reader import NervVideo
from nervplayer.errors import ConfigError
from nervplayer.jobs import SerialExecutor
from nervplayer.metrics import psnr
from nervplayer.model.render import to_uint8
from nervplayer.segments.fit import SegmentedFit, load_plan, plan_segments, segment_context
from nervplayer.train import FitConfig, Fitter
from nervplayer.video import iter_frames, probe

STORE = CompressOptions(prune=0.0, finetune_epochs=0, device="cpu", evaluate=False)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    one = write_video(folder / "one.mp4", moving_shapes(24, 32, 32))
    cut = write_video(folder / "cut.mp4", two_scenes(12, 24, 32, 32))
    return one, cut


def hnerv(clip, **kw):
    return FitConfig(video=str(clip), arch="hnerv", budget=12_000, loss="l2", epochs=1, eval_every=1, **kw)


def test_a_fit_trains_on_its_context_frames_and_evaluates_and_stores_its_own(clips, tmp_path):
    one, _ = clips
    fit = Fitter(hnerv(one, start=8, end=16, context=(3, 2)), tmp_path / "run")
    assert fit.num_frames == 8 and fit.train_indices == list(range(8))
    assert fit.context_indices == [-3, -2, -1, 8, 9] and sorted(fit.trained) == list(range(-3, 10))
    assert fit.steps_per_epoch == 13
    source = np.stack(list(iter_frames(probe(one), 5, 18, (32, 32))))  # uint8 [13, H, W, 3]
    got = fit.store.get(list(range(-3, 10))).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(got, source)  # index 0 is frame 8, the context around it
    finished = [ev for ev in fit.run() if type(ev).__name__ == "Finished"]
    fit.store.close()
    assert finished[0].status == "completed"
    assert fit.model.embeddings.shape[0] == 8  # latents of the range's own frames only
    assert json.loads((tmp_path / "run" / "config.json").read_text())["fit"]["context"] == [3, 2]


def test_context_needs_a_content_adaptive_model_and_frames_inside_the_clip(clips, tmp_path):
    one, _ = clips
    with pytest.raises(ConfigError, match="context frames need a model that sees its frames"):
        Fitter(FitConfig(video=str(one), arch="nerv", preset="nerv-xs", start=4, end=8, context=(2, 2)), tmp_path / "a")
    with pytest.raises(ConfigError, match="context frames after frame 24 are outside the clip"):
        Fitter(hnerv(one, start=16, context=(2, 2)), tmp_path / "b")
    with pytest.raises(ConfigError, match="context frames"):
        hnerv(one, start=1, end=8, context=(2, 0)).validate()  # before the clip's first frame


def test_segments_get_context_at_boundaries_inside_a_scene_only(clips, tmp_path):
    one, cut = clips
    plan = plan_segments(hnerv(one), tmp_path / "one", 12, "cold", STORE)
    assert plan.segments == [(0, 12), (12, 24)] and plan.context == 1  # 12-frame segments: 12 // 8
    assert [segment_context(plan, k) for k in range(2)] == [(0, 1), (1, 0)]
    plan = plan_segments(hnerv(cut), tmp_path / "cut", 12, "cold", STORE)
    assert [f for f, _ in plan.cuts] == [12] and plan.segments == [(0, 12), (12, 24), (24, 36)]
    assert [segment_context(plan, k) for k in range(3)] == [(0, 0), (0, 1), (1, 0)]  # none across the cut
    nerv = FitConfig(video=str(one), arch="nerv", preset="nerv-xs", epochs=1)
    assert plan_segments(nerv, tmp_path / "nerv", 12, "cold", STORE).context == 0  # nerv indexes frames by time


def test_a_segmented_fit_with_context_fades_across_the_boundary_and_decodes_every_other_frame_from_its_own_file(
    clips, tmp_path
):
    one, _ = clips
    measured = dataclasses.replace(STORE, evaluate=True)  # each segment's file with its per-frame PSNR
    plan = plan_segments(hnerv(one), tmp_path / "run", 12, "previous", measured)
    assert plan.fade and [(plan.lead(k), plan.trail(k)) for k in range(2)] == [(0, 1), (1, 0)]
    results = []
    out = SegmentedFit(plan, tmp_path / "run", SerialExecutor()).run(results.append)
    assert [(r.start, r.end) for r in results] == [(0, 12), (12, 24)]
    assert container.read_file(out).version == container.FADED
    video = NervVideo.open(out)
    whole = video.frames(0, 24)
    first, second = (NervVideo.open(r.nerv) for r in results)
    assert first.num_frames == 13 and second.num_frames == 13  # frame 12 in the first, 11 in the second
    # what the fit reports of each segment (the window's strip): its own 12 frames, not the neighbour's it holds
    for r, file, own in ((results[0], first.file, slice(0, 12)), (results[1], second.file, slice(1, 13))):
        per_frame = file.story.frame_psnr
        assert r.psnr == pytest.approx(sum(per_frame[own]) / 12, abs=1e-3) and r.psnr != file.metrics["psnr"]
    assert np.array_equal(whole[:11], first.frames(0, 11)) and np.array_equal(whole[13:], second.frames(2, 13))
    row = video.file.segments[1]
    assert (row.start, row.lead, len(row.blend), len(row.blend_psnr)) == (12, 1, 2, 2)
    earlier, later = first.predict([11, 12]), second.predict([0, 1])
    assert np.array_equal(whole[11:13], to_uint8(fade(earlier, later, row.blend)))
    frames = np.stack(list(iter_frames(probe(one), 11, 13, (32, 32))))
    source = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    for j, (lo, hi) in enumerate(band(2)):  # no other weight the band allows brings the frame closer to the source
        pair = earlier[j : j + 1], later[j : j + 1]
        errors = {w: float((fade(*pair, [w]) - source[j]).pow(2).mean()) for w in range(lo, hi + 1)}
        assert errors[row.blend[j]] == min(errors.values())
    assert list(row.blend_psnr) == pytest.approx(psnr(fade(earlier, later, row.blend), source).tolist(), abs=1e-3)
    records = [
        json.loads((tmp_path / "run" / "segments" / n / "config.json").read_text())["fit"]
        for n in ("0000_0012", "0012_0024")
    ]
    # each stores its context frames: they are its range now, not context
    assert [(r["start"], r["end"], r["context"]) for r in records] == [(0, 13, [0, 0]), (11, 24, [0, 0])]


def test_a_plan_written_before_context_frames_resumes_without_them(clips, tmp_path):
    one, _ = clips
    plan_segments(hnerv(one), tmp_path / "run", 12, "cold", STORE)
    path = tmp_path / "run" / "segments.json"
    record = json.loads(path.read_text())
    del record["context"]  # what the eighth session's code wrote
    path.write_text(json.dumps(record))
    old = load_plan(tmp_path / "run")
    assert old.context == 0 and [segment_context(old, k) for k in range(2)] == [(0, 0), (0, 0)]
    assert FitConfig.from_dict({k: v for k, v in hnerv(one).to_dict().items() if k != "context"}).context == (0, 0)


def test_a_plan_written_before_fades_resumes_as_it_was_planned(clips, tmp_path):
    one, _ = clips
    plan_segments(hnerv(one), tmp_path / "run", 12, "cold", STORE)
    path = tmp_path / "run" / "segments.json"
    record = json.loads(path.read_text())
    assert record["fade"] is True
    del record["fade"]  # what the tenth session's code wrote
    path.write_text(json.dumps(record))
    old = load_plan(tmp_path / "run")
    assert not old.fade and old.lead(1) == 0 and segment_context(old, 1) == (1, 0)
    fit = SegmentedFit(old, tmp_path / "run", SerialExecutor())
    tasks = [(t.config["start"], t.config["end"], t.config["context"], t.lead, t.trail) for t in fit.tasks]
    assert tasks == [(0, 12, [0, 1], 0, 0), (12, 24, [1, 0], 0, 0)]
    assert [(old.part(k, tmp_path / "x.nerv").lead, old.part(k, tmp_path / "x.nerv").trail) for k in range(2)] == [
        (0, 0),
        (0, 0),
    ]
