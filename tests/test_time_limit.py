"""A fit with a time limit stops at it (within 5 %), with its result saved, and its LR schedule has annealed; the
work after the fit that the limit also holds is reserved at the fit's own step time."""

import dataclasses
import time

from nervplayer.train import Evaluated, Finished, FitConfig, Fitter, Step

TINY = {"stem_dim": 32, "fc_c": 4, "lower_width": 4}


def test_fit_stops_at_its_time_limit_with_the_result_saved(shapes_clip, tmp_path, one_thread):
    limit = 6.0
    config = FitConfig(
        video=str(shapes_clip),
        arch="nerv",
        preset="nerv-xs",
        model=TINY,
        epochs=100_000,  # far more than the time allows: the limit is what stops it
        time_limit=limit,
        eval_every=100_000,
        precision="fp32",
        device="cpu",
        lr=5e-4,
    )
    fitter = Fitter(config, tmp_path / "run")
    events, arrivals = [], []
    for event in fitter.run():
        events.append(event)
        arrivals.append(time.perf_counter())
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.status == "completed"
    steps = [t for t, e in zip(arrivals, events) if isinstance(e, Step)]
    longest_step = max(b - a for a, b in zip(steps, steps[1:]))
    # within 5 %, or within one step where a loaded machine made one step longer than that
    assert abs(finished.elapsed - limit) <= max(0.05 * limit, longest_step), (finished.elapsed, longest_step)
    assert 1 < finished.epoch < 100_000
    assert finished.weights_path and (tmp_path / "run" / "model.safetensors").is_file()
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    assert finished.last_eval is not None and any(isinstance(e, Evaluated) for e in events)
    lrs = [e.lr for e in events if isinstance(e, Step)]
    assert max(lrs) == config.lr or max(lrs) > 0.9 * config.lr  # the warmup reached the peak
    assert lrs[-1] < 0.25 * config.lr  # cut by the time, the schedule has annealed all the same


def test_without_a_time_limit_the_schedule_follows_the_epochs(shapes_clip, tmp_path):
    config = FitConfig(
        video=str(shapes_clip),
        arch="nerv",
        preset="nerv-xs",
        model=TINY,
        epochs=2,
        eval_every=2,
        precision="fp32",
        device="cpu",
        lr=5e-4,
    )
    events = list(Fitter(config, tmp_path / "run").run())
    assert events[-1].status == "completed" and events[-1].epoch == 2
    lrs = [e.lr for e in events if isinstance(e, Step)]
    assert lrs[len(lrs) // 2] > 0.5 * config.lr  # mid-run: not annealed by any clock


def test_the_work_after_the_fit_is_reserved_at_the_measured_step_time(shapes_clip, tmp_path, one_thread):
    """A planned fit's limit also holds its evaluation and compression (``time_after_steps`` training steps a
    frame): the fit trains for the limit less that work at the step time it measures, whatever the probe said."""
    limit = 6.0
    config = FitConfig(
        video=str(shapes_clip),
        arch="nerv",
        preset="nerv-xs",
        model=TINY,
        epochs=1,
        eval_every=100_000,
        precision="fp32",
        device="cpu",
    )
    probe = Fitter(config, tmp_path / "probe")
    measured = list(probe.run())[-1]  # this machine's step time, now
    # ~25 % of the limit at that step: a first step a few times slower than the probe's (a busy machine) still
    # leaves the fit time to train
    after = 0.25 * limit / (probe.num_frames * measured.elapsed / measured.step)
    config = dataclasses.replace(config, epochs=100_000, time_limit=limit, time_after_steps=after)
    fitter = Fitter(config, tmp_path / "run")
    finished = list(fitter.run())[-1]
    assert isinstance(finished, Finished) and finished.status == "completed"
    step = finished.elapsed / finished.step
    reserved = after * fitter.num_frames * step
    assert reserved > 0.1 * limit and finished.elapsed < 0.9 * limit  # a real share was left for what follows
    assert abs(finished.elapsed + reserved - limit) <= max(0.05 * limit, 2 * step), (finished.elapsed, reserved)
