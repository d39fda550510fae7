import json
import threading

import pytest
import torch

from nervplayer.errors import ConfigError, ResumeError
from nervplayer.train import Checkpointed, Evaluated, Finished, FitConfig, Fitter, Paused, Resumed, Started, Step
from nervplayer.train.runfolder import open_run

TINY = {"stem_dim": 64, "fc_c": 8, "lower_width": 8}


def collect(fitter, on_event=None):
    events = []
    for ev in fitter.run():
        events.append(ev)
        if on_event:
            on_event(fitter, ev)
    return events


def test_fits_synthetic_clip_to_30_db(shapes_clip):
    cfg = FitConfig(video=str(shapes_clip), arch="nerv", preset="nerv-xs", epochs=50, lr=5e-3, eval_every=25)
    events = collect(Fitter(cfg))
    evals = [e for e in events if isinstance(e, Evaluated)]
    assert [e.epoch for e in evals] == [25, 50]
    assert evals[0].psnr < evals[-1].psnr
    assert evals[-1].psnr >= 30.0, evals[-1].psnr
    assert 0.9 < evals[-1].ms_ssim <= 1.0
    steps = [e for e in events if isinstance(e, Step)]
    assert len(steps) == 50 * 16 and steps[-1].step == 800
    assert isinstance(events[0], Started) and isinstance(events[-1], Finished)
    assert events[-1].status == "completed"


def test_run_folder_contents(shapes_clip, tmp_path):
    run = tmp_path / "run"
    cfg = FitConfig(
        video=str(shapes_clip), arch="nerv", preset="nerv-xs", epochs=4, eval_every=2, checkpoint_every=1, model=TINY
    )
    events = collect(Fitter(cfg, run))
    assert sum(isinstance(e, Checkpointed) for e in events) == 4
    record = json.loads((run / "config.json").read_text())
    assert record["fit"]["epochs"] == 4 and record["model"]["fc_c"] == 8
    assert record["plugins"]["activation"] == {"id": "silu", "version": "1.0", "params": {}}
    assert len(record["source"]["sha256"]) == 64
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [2, 4]
    assert (run / "metrics.csv").read_text().startswith("epoch,step,loss,psnr,ms_ssim")
    rebuilt = open_run(run).build_model()
    assert rebuilt(torch.tensor([0.0])).shape == (1, 3, 64, 64)
    # The final weights are the model's, in safetensors (tensors only).
    assert (run / "model.safetensors").read_bytes()[8:9] == b"{"


def test_resume_equals_a_straight_run(shapes_clip, tmp_path):
    cfg = FitConfig(
        video=str(shapes_clip),
        arch="nerv",
        preset="nerv-xs",
        epochs=4,
        eval_every=2,
        checkpoint_every=1,
        model=TINY,
        lr=1e-3,
    )
    straight = Fitter(cfg, tmp_path / "straight")
    collect(straight)

    def stop_mid_epoch(fitter, ev):
        if isinstance(ev, Step) and ev.step == 37:  # in the middle of epoch 3 (16 steps each)
            fitter.cancel()

    first = Fitter(cfg, tmp_path / "split")
    events = collect(first, stop_mid_epoch)
    assert events[-1].status == "cancelled" and events[-1].step == 37
    resumed = Fitter(cfg, tmp_path / "split", resume=True)
    events = collect(resumed)
    assert events[0].start_epoch == pytest.approx(37 / 16)
    assert [e.step for e in events if isinstance(e, Step)][0] == 38
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k


def test_a_rate_aware_checkpoint_with_one_parameter_group_resumes(shapes_clip, tmp_path):
    """Rate-aware checkpoints written before the learned steps had their own learning rate hold one Adam group."""
    from nervplayer.train.rate import STEP_LR
    from nervplayer.train.runfolder import CHECKPOINT

    cfg = FitConfig(
        video=str(shapes_clip), arch="nerv", preset="nerv-xs", epochs=2, model=TINY, lr=1e-3, rate_lambda=0.01, qat=True
    )
    first = Fitter(cfg, tmp_path / "run")
    collect(first, lambda fitter, ev: fitter.cancel() if isinstance(ev, Step) and ev.step == 5 else None)
    path = tmp_path / "run" / CHECKPOINT
    state = torch.load(path, weights_only=False)
    model_group, steps_group = state["optimizer"]["param_groups"]
    assert steps_group["lr_scale"] == STEP_LR / 1e-3
    merged = {k: v for k, v in model_group.items() if k != "lr_scale"}
    state["optimizer"]["param_groups"] = [merged | {"params": model_group["params"] + steps_group["params"]}]
    torch.save(state, path)
    resumed = Fitter(cfg, tmp_path / "run", resume=True)
    assert [g.get("lr_scale", 1.0) for g in resumed.optimizer.param_groups] == [1.0, STEP_LR / 1e-3]
    assert collect(resumed)[-1].status == "completed"


def test_stride_reports_unseen_frames_apart(shapes_clip):
    cfg = FitConfig(video=str(shapes_clip), arch="nerv", preset="nerv-xs", epochs=30, lr=1e-3, eval_every=30, stride=2)
    fitter = Fitter(cfg)
    ev = [e for e in collect(fitter) if isinstance(e, Evaluated)][-1]
    assert fitter.train_indices == list(range(0, 16, 2)) and fitter.unseen_indices == list(range(1, 16, 2))
    assert ev.psnr_unseen is not None and ev.psnr_seen > ev.psnr_unseen
    per = torch.tensor(ev.per_frame_psnr)
    assert ev.psnr_seen == pytest.approx(per[0::2].mean().item(), rel=1e-5)
    assert ev.psnr_unseen == pytest.approx(per[1::2].mean().item(), rel=1e-5)


def test_pause_resume_cancel_from_another_thread(shapes_clip):
    # far more steps than a pause needs to land (the fit is cancelled below): a loaded machine cannot finish it first
    cfg = FitConfig(video=str(shapes_clip), arch="nerv", preset="nerv-xs", epochs=5000, model=TINY)
    fitter = Fitter(cfg)
    kinds = []
    paused = threading.Event()

    def consume():
        for ev in fitter.run():
            kinds.append(type(ev))
            if isinstance(ev, Paused):
                paused.set()

    worker = threading.Thread(target=consume)
    worker.start()
    while Step not in kinds:
        pass
    fitter.pause()
    assert paused.wait(10)
    steps_when_paused = kinds.count(Step)
    threading.Event().wait(0.2)
    assert kinds.count(Step) == steps_when_paused  # no step runs while paused
    fitter.resume()
    fitter.cancel()
    worker.join(10)
    assert Resumed in kinds and kinds[-1] is Finished


def test_decode_returns_frames_of_the_clip_size(shapes_clip):
    fitter = Fitter(FitConfig(video=str(shapes_clip), arch="nerv", preset="nerv-xs", epochs=1, model=TINY))
    frames = fitter.decode([0, 3, 7.5])
    assert frames.shape == (3, 64, 64, 3) and frames.dtype.name == "uint8"


def test_disk_frame_store_trains_like_memory(shapes_clip, tmp_path):
    base = dict(video=str(shapes_clip), arch="nerv", preset="nerv-xs", epochs=2, model=TINY, eval_every=2)
    mem = Fitter(FitConfig(**base))
    disk = Fitter(FitConfig(**base, cache_budget_mb=0), tmp_path / "run")
    assert disk.store.kind == "disk" and mem.store.kind == "memory"
    assert torch.equal(disk.store.get([3, 5]), mem.store.get([3, 5]))
    pm = [e for e in collect(mem) if isinstance(e, Evaluated)][-1].psnr
    pd = [e for e in collect(disk) if isinstance(e, Evaluated)][-1].psnr
    assert pm == pytest.approx(pd, abs=1e-4)


def test_existing_run_folder_is_never_overwritten(shapes_clip, tmp_path):
    cfg = FitConfig(video=str(shapes_clip), arch="nerv", preset="nerv-xs", epochs=1, model=TINY)
    collect(Fitter(cfg, tmp_path / "run"))
    before = (tmp_path / "run" / "model.safetensors").read_bytes()
    with pytest.raises(ConfigError, match="already holds a run"):
        Fitter(cfg, tmp_path / "run")
    with pytest.raises(ResumeError, match="other options"):
        Fitter(FitConfig(**{**cfg.to_dict(), "lr": 1e-2, "size": None}), tmp_path / "run", resume=True)
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == before
