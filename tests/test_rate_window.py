"""Rate-aware steps of a grid that quantize and rate only the time slices a batch reads (train/window.py): the
frames are the whole grid's, the rate gradient over an epoch is the whole tensor's, a resumed fit repeats an
uninterrupted one, the file decodes what the fit's last evaluation saw, and a fit whose frames leave a slice
unread keeps the whole-tensor step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_fitter import collect

from nervplayer.codec import CompressOptions, Compressor, NervVideo
from nervplayer.train import FitConfig, Fitter, Step
from nervplayer.train.window import REFRESH, LatentWindows


def _config(clip: Path, **kw) -> FitConfig:
    base = dict(
        video=str(clip),
        arch="grid",
        budget=21_000,
        epochs=3,
        eval_every=3,
        checkpoint_every=1,
        lr=1e-2,
        loss="l2",
        device="cpu",
        precision="fp32",
        qat=True,
        rate_lambda=0.01,
    )
    return FitConfig(**{**base, **kw})


def test_a_grid_fit_trains_on_windows_and_they_give_the_whole_grids_frames(shapes_clip):
    fitter = Fitter(_config(shapes_clip, batch_size=3))
    net = fitter.network
    assert isinstance(net.windows, LatentWindows)
    assert set(net.windows.counts) == {f"grids.{i}" for i in range(len(fitter.model.grids))}
    for idx in ([0], [15], [3, 9, 14], [7]):
        target = net.to_float(fitter.store.get(idx))
        windowed = net.forward(idx, target)
        net.quantizer.clear()
        windows, net.windows = net.windows, None
        whole = net.forward(idx, target)
        net.quantizer.clear()
        net.windows = windows
        assert torch.equal(windowed, whole), idx


def _rate_gradients(fitter: Fitter, windowed: bool) -> tuple[float, dict[str, torch.Tensor]]:
    """The rate term's bits and gradients: of the whole tensors, or averaged over an epoch of windowed steps."""
    net, quantizer = fitter.network, fitter.network.quantizer
    params = {**dict(fitter.model.named_parameters()), **dict(quantizer.named_parameters())}
    for p in params.values():
        p.grad = None
    frames = fitter.trained
    if not windowed:
        quantizer.quantized_parameters(fitter.model)
        bits = quantizer.take_rate_bits()
        bits.backward()
        return float(bits.detach()), {n: p.grad.clone() for n, p in params.items()}
    total = 0.0
    for i in frames:
        net.windows.quantized(quantizer, [i], rate=True)
        bits = quantizer.take_rate_bits() / len(frames)
        bits.backward()
        total += float(bits)
    return total, {n: p.grad.clone() for n, p in params.items()}


@pytest.mark.parametrize("rate_model", ["context", "laplace"])
def test_over_an_epoch_the_windowed_rate_is_the_whole_tensors_rate_in_value_and_gradient(shapes_clip, rate_model):
    fitter = Fitter(_config(shapes_clip, rate_model=rate_model))
    collect(fitter, lambda f, ev: f.cancel() if isinstance(ev, Step) and ev.step == 20 else None)  # trained latents
    whole_bits, whole = _rate_gradients(fitter, windowed=False)
    fitter.network.windows.calls = 0  # read the codings from these weights
    bits, windowed = _rate_gradients(fitter, windowed=True)
    assert bits == pytest.approx(whole_bits, rel=1e-4)
    assert any(name.startswith("grids.") for name in whole)
    for name, g in whole.items():
        assert torch.allclose(windowed[name], g, rtol=1e-3, atol=1e-6 * float(g.abs().max()) + 1e-12), name


def test_the_codings_are_read_from_the_whole_tensor_every_few_steps(shapes_clip):
    fitter = Fitter(_config(shapes_clip))
    windows = fitter.network.windows
    reads = []
    original = windows.refresh
    windows.refresh = lambda *a: (reads.append(windows.calls), original(*a))[1]
    collect(fitter)
    assert reads == list(range(0, fitter.step, REFRESH))


def test_a_cancelled_windowed_fit_resumes_to_the_uninterrupted_result(shapes_clip, tmp_path):
    config = _config(shapes_clip, epochs=4)
    straight = Fitter(config, tmp_path / "straight")
    collect(straight)
    assert straight.step > REFRESH + 5
    split = Fitter(config, tmp_path / "split")
    events = collect(split, lambda f, ev: f.cancel() if isinstance(ev, Step) and ev.step == REFRESH + 5 else None)
    assert events[-1].status == "cancelled"
    resumed = Fitter(config, tmp_path / "split", resume=True)
    assert resumed.network.windows.calls == REFRESH + 5
    collect(resumed)
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert straight.quantizer.steps() == resumed.quantizer.steps()


def test_the_file_of_a_windowed_fit_decodes_what_its_last_evaluation_saw(shapes_clip, tmp_path):
    fitter = Fitter(_config(shapes_clip), tmp_path / "run")
    collect(fitter)
    path = tmp_path / "f.nerv"
    for _ in Compressor(tmp_path / "run", path, CompressOptions(evaluate=False, device="cpu")).run():
        pass
    video = NervVideo.open(path)
    assert torch.equal(video.predict([0, 5, 15]), fitter.predict([0, 5, 15]))


def test_frames_that_leave_a_slice_unread_keep_the_whole_tensor_step(shapes_clip):
    # every 8th frame of 16 is read by two frames; the finest level has more slices than that
    fitter = Fitter(_config(shapes_clip, stride=8, budget=40_000, model={"temporal": 1.0}))
    assert fitter.network.windows is None
    assert collect(fitter)[-1].status == "completed"
    plain = Fitter(_config(shapes_clip, qat=False, rate_lambda=None))
    assert plain.network.windows is None  # no quantizer: nothing to window


def test_a_checkpoint_written_before_windows_resumes_reading_the_codings_afresh(shapes_clip, tmp_path):
    from nervplayer.train.runfolder import CHECKPOINT

    config = _config(shapes_clip)
    first = Fitter(config, tmp_path / "run")
    collect(first, lambda f, ev: f.cancel() if isinstance(ev, Step) and ev.step == 5 else None)
    path = tmp_path / "run" / CHECKPOINT
    state = torch.load(path, weights_only=False)
    assert state["windows"]["calls"] == 5
    del state["windows"]
    torch.save(state, path)
    resumed = Fitter(config, tmp_path / "run", resume=True)
    assert resumed.network.windows.calls == 0 and not resumed.network.windows.codings
    assert collect(resumed)[-1].status == "completed"
