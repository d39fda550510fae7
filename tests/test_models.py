"""Every registered model plugin: sizing, shapes, training, the .nerv round trip, old files, bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from nervplayer.codec import CompressOptions, Compressor, NervVideo, nervfile
from nervplayer.codec.packing import pack_model
from nervplayer.codec.quantize import quantize
from nervplayer.model import architectures
from nervplayer.plugins import load_plugins
from nervplayer.plugins.api import Frames
from nervplayer.train import Evaluated, FitConfig, Fitter, open_run
from nervplayer.train.fit import model_spec

MODELS = load_plugins(safe_mode=True).ids("model")
DATA = Path(__file__).parent / "data"
ODD = Frames(37, 53, 8)


def test_the_built_in_models_are_registered():
    assert {"nerv", "hnerv", "grid"} <= set(MODELS)


@pytest.mark.parametrize("arch", MODELS)
def test_builds_at_odd_sizes_and_renders_exactly_that_size_forward_and_backward(arch):
    spec = architectures.resolve(arch, ODD, budget=30_000)
    model = architectures.build(spec)
    t = torch.tensor([0.0, 3 / 8, 7 / 8])
    if getattr(model, "content_adaptive", False):
        out = model(t, frames=torch.rand(3, 3, ODD.height, ODD.width))
    else:
        out = model(t)
    assert out.shape == (3, 3, 37, 53)
    out.mean().backward()
    stored = architectures.architecture(arch)[1].stored(model)
    grads = [p.grad for n, p in model.named_parameters() if n in stored]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    with torch.no_grad():
        assert model.eval()(t).shape == (3, 3, 37, 53)


@pytest.mark.parametrize("arch", MODELS)
@pytest.mark.parametrize("budget", [40_000, 150_000])
def test_parameter_budget_is_met_within_five_percent(arch, budget):
    spec = architectures.resolve(arch, Frames(90, 160, 24), budget=budget)
    assert abs(architectures.stored_count(spec) - budget) <= 0.05 * budget
    assert architectures.macs_per_pixel(spec) > 0


@pytest.mark.parametrize("params", [{}, {"spatial": 0.5, "temporal": 0.03125}])
@pytest.mark.parametrize("budget", [30_000, 60_000, 100_000, 300_000])
def test_a_grid_meets_its_budget_on_a_clip_of_few_frames(params, budget):
    """One time slice more is a large step in a short clip's grid (12 frames: 1 or 2 slices): the spatial side
    makes up the difference, and once it holds every pixel the slices take the rest."""
    spec = architectures.resolve("grid", Frames(90, 160, 12), params=params, budget=budget)
    assert abs(architectures.stored_count(spec) - budget) <= 0.05 * budget


def test_nerv_presets_keep_the_papers_parameter_counts():
    for preset, n in (("nerv-s", 3_201_905), ("nerv-m", 6_282_001), ("nerv-l", 12_524_563)):
        assert architectures.stored_count(architectures.resolve("nerv", Frames(720, 1280, 10), preset=preset)) == n


def _fit(clip, run, arch, epochs, **kw):
    cfg = FitConfig(
        video=str(clip),
        arch=arch,
        budget=kw.pop("budget", 40_000),
        epochs=epochs,
        eval_every=1,
        lr=kw.pop("lr", 3e-3),
        device="cpu",
        precision="fp32",
        **kw,
    )
    fitter = Fitter(cfg, run)
    evals = [ev.psnr for ev in fitter.run() if isinstance(ev, Evaluated)]
    return fitter, evals


@pytest.mark.parametrize("arch", MODELS)
def test_fit_raises_psnr(arch, shapes_clip, tmp_path):
    _, psnr = _fit(shapes_clip, tmp_path / "run", arch, 4)
    assert psnr[-1] > psnr[0] + 0.5


@pytest.mark.parametrize("arch", MODELS)
def test_rate_lambda_trades_size_for_quality_and_the_file_is_what_training_saw(arch, shapes_clip, tmp_path):
    from nervplayer.codec.stepquant import StepQuantizedTensor

    sizes, psnrs = [], []
    for lam in (0.0, 0.01, 0.1):  # the same epochs; only the weight of the rate term changes
        fitter, psnr = _fit(shapes_clip, tmp_path / f"run{lam}", arch, 4, lr=1e-2, qat=True, rate_lambda=lam)
        path = tmp_path / f"{lam}.nerv"
        for _ in Compressor(tmp_path / f"run{lam}", path, CompressOptions(evaluate=False, device="cpu")).run():
            pass
        video = NervVideo.open(path)
        assert all(isinstance(q, StepQuantizedTensor) for q in video.file.tensors.values())
        for idx in ([0, 5], [15]):
            assert torch.equal(video.predict(idx), fitter.predict(idx))
        assert (video.frames(0, 16) == fitter.decode(range(16))).all()
        sizes.append(path.stat().st_size)
        psnrs.append(psnr[-1])
    print(f"\n[measure] {arch}: λ 0 / 0.01 / 0.1 → {sizes} bytes, {[round(p, 2) for p in psnrs]} dB")
    assert sizes[0] > sizes[1] > sizes[2]


def _random_file(arch: str) -> nervfile.NervFile:
    torch.manual_seed(0)
    spec = architectures.resolve(arch, ODD, budget=30_000)
    model = architectures.build(spec)
    state = {k: v + torch.randn_like(v) * 0.1 for k, v in model.state_dict().items()}
    video = {
        "num_frames": ODD.num_frames,
        "fps": 25.0,
        "start": 0,
        "end": 8,
        "stride": 1,
        "size": [37, 53],
        "original_size": [37, 53],
        "crop": {"top": 0, "left": 0, "height": 37, "width": 53, "rendered": [37, 53]},
    }
    return pack_model(
        state,
        spec,
        dict.fromkeys(state, 6),
        True,
        {},
        video=video,
        activation={"id": "silu", "version": "1.0", "params": {}},
        coder="ans",
        mask_model="tensor",
        source={"name": "x.mp4", "sha256": "0" * 64},
        compression={},
    )


@pytest.mark.parametrize("arch", MODELS)
def test_nerv_round_trip_is_bit_exact_and_fractional_indices_decode_between(arch, tmp_path):
    nf = _random_file(arch)
    path = tmp_path / f"{arch}.nerv"
    nervfile.save(nf, path)
    memory, disk = NervVideo(nf), NervVideo.open(path)
    assert disk.file.model.arch == arch
    for t in (0, 3, 3.5, 7):
        assert torch.equal(memory.predict([t]), disk.predict([t]))
    assert disk.frame(3.5).shape == (37, 53, 3)
    assert torch.equal(disk.predict([3.0]), disk.predict([3]))
    assert not torch.equal(disk.predict([3.5]), disk.predict([3]))


def test_every_integer_index_of_an_hnerv_decodes_its_own_embedding_alone():
    """t = i / N in float32 times N often lands just below i: frame i decoded as a blend of embeddings i − 1 and
    i (weight 1 − 6e-8) for 1,897 of the clip lengths 2–2000. Embeddings of alternating sign ±2^23 make any
    blend visible; the forward pass is run with the decoder left out."""
    from types import SimpleNamespace

    from nervplayer.model.hnerv import HNeRV
    from nervplayer.model.render import times

    for n in range(2, 2001):
        index = torch.arange(n)
        emb = torch.where(index % 2 == 0, 2.0**23, -(2.0**23)).view(n, 1, 1, 1)
        fake = SimpleNamespace(num_frames=n, embeddings=emb, decode=lambda e: e)
        assert torch.equal(HNeRV.forward(fake, times(range(n), n, "cpu")), emb), n
    between = HNeRV.forward(fake, times([3.5, 0.25], n, "cpu")).flatten()  # fractional indices still interpolate
    assert between.tolist() == [0.0, 2.0**22]


def test_format_1_nerv_file_and_run_folder_still_open():
    expected = np.load(DATA / "format1-expected.npz")
    video = NervVideo.open(DATA / "format1-tiny.nerv")
    assert video.file.model.arch == "nerv"
    assert np.abs(video.frames(0, 16).astype(int) - expected["nerv"]).max() <= 1
    run = open_run(DATA / "run-format1")
    assert run.model_spec.arch == "nerv" and run.model_config.fc_c == 4
    # its config.json names no architecture: it still means nerv (resuming it builds the network it saved)
    assert "arch" not in run.record["fit"] and run.fit_config.arch == "nerv"
    spec = run.model_spec
    assert model_spec(run.fit_config, Frames(spec.height, spec.width, spec.num_frames)).config == spec.config
    from nervplayer.model.render import render

    frames = render(run.build_model(), list(range(16)), 16)
    assert np.abs(frames.astype(int) - expected["run"]).max() <= 1


@pytest.mark.parametrize("arch", ["grid", "hnerv"])
def test_format_2_0_files_with_latents_still_open(arch):
    """Written by the format-2.0 writer (commit b53790b): latents coded as plain symbols, ranges per frame."""
    expected = np.load(DATA / "format2.0-expected.npz")
    video = NervVideo.open(DATA / f"format2.0-{arch}.nerv")
    assert video.file.model.arch == arch
    assert np.abs(video.frames(0, 6).astype(int) - expected[arch]).max() <= 1


def test_format_2_2_and_3_0_files_still_open():
    """Written at commit bbbc170 by tests/segmented_files.py: a 2.2 file with a story, and a 3.0 file of three
    segments (frames 0:5, 5:12, 12:16)."""
    expected = np.load(DATA / "format2.2-3.0-expected.npz")
    story = NervVideo.open(DATA / "format2.2-story.nerv")
    assert len(story.file.story.frame_psnr) == 8
    assert np.abs(story.frames(0, 8).astype(int) - expected["story"]).max() <= 1
    segments = NervVideo.open(DATA / "format3.0-segments.nerv")
    assert segments.num_frames == 16 and segments.scene_cuts == []  # written before the table recorded cuts
    assert np.abs(segments.frames(0, 16).astype(int) - expected["segments"]).max() <= 1


def test_format_3_1_files_still_open():
    """Written at commit cc88714 by tests/segmented_files.py's segments: three segments (frames 0:6, 6:12, 12:16)
    that fade into each other over frames 3:8 and 10:13."""
    expected = np.load(DATA / "format3.1-expected.npz")
    video = NervVideo.open(DATA / "format3.1-fades.nerv")
    assert [(s.lead, s.trail, len(s.blend)) for s in video.file.segments] == [(0, 2, 0), (3, 1, 5), (2, 0, 3)]
    assert np.abs(video.frames(0, 16).astype(int) - expected["segments"]).max() <= 1


def _latent_bytes(nf: nervfile.NervFile) -> int:
    """Bytes of the latents' tables and streams in the encoded file."""
    from nervplayer.codec import container

    header, _ = container.unpack(nervfile.encode(nf)[0])
    return sum(e["table_bytes"] + e["weights_bytes"] for e in header["tensors"] if e["kind"] == "latents")


@pytest.mark.parametrize("arch", ["grid", "hnerv"])
@pytest.mark.parametrize("qat", [False, True])
def test_latents_are_coded_as_temporal_differences_and_decode_exactly(arch, qat, shapes_clip, tmp_path, monkeypatch):
    from nervplayer.codec import container, latentcode
    from nervplayer.model.render import times

    fitter, _ = _fit(shapes_clip, tmp_path / "run", arch, 4, qat=qat, lr=1e-2)
    path = tmp_path / "f.nerv"
    options = CompressOptions(prune=0, finetune_epochs=0, bits=8, evaluate=False, device="cpu")
    for _ in Compressor(tmp_path / "run", path, options).run():
        pass
    header, _ = container.read(path)
    predicted = [e["name"] for e in header["tensors"] if e["predict"] == "time"]
    assert predicted and all(e["kind"] == "latents" for e in header["tensors"] if e["name"] in predicted)
    disk = NervVideo.open(path)
    # bit-identical to the in-memory quantized model: the training-time prediction of a rate-aware fit, else
    # the run's weights quantized (weights per channel, latents per tensor) and loaded into the network
    if qat:  # in the reader's batches of 8 (a batch's size may change a conv's summation order)
        expected = torch.cat([fitter.predict(list(range(8))), fitter.predict(list(range(8, 16)))])
    else:
        kinds = {n: k for n, (_, k) in nervfile.stored_shapes(fitter.spec).items()}
        state = {
            n: torch.from_numpy(quantize(v.numpy(), 8, kinds[n] == "weights").dequantize()) if n in kinds else v
            for n, v in fitter.model.state_dict().items()
        }
        model = architectures.build(fitter.spec)
        model.load_state_dict(state)
        t = times(list(range(16)), 16, torch.device("cpu"))
        with torch.no_grad():  # in the reader's batches of 8 (a batch's size may change a conv's summation order)
            expected = torch.cat([model.eval()(t[:8]), model(t[8:])])
    assert torch.equal(disk.predict(list(range(16))), expected)
    if arch == "hnerv":  # a few epochs leave a grid's random initial latents in place: see the next test
        with_prediction = _latent_bytes(disk.file)
        monkeypatch.setattr(latentcode, "predictable", lambda q, kind: False)
        assert with_prediction < 0.7 * _latent_bytes(disk.file)


def test_temporally_smooth_grid_latents_cost_less_than_as_plain_symbols(tmp_path, monkeypatch):
    from nervplayer.codec import latentcode

    nf = _random_file("grid")
    gen = np.random.default_rng(0)
    for name, q in nf.tensors.items():
        if name.startswith("grids") and q.shape[0] > 1:  # a slow random walk along time, like a fitted grid
            walk = np.cumsum(gen.normal(0, 0.02, q.shape), axis=0)
            nf.tensors[name] = quantize(walk + gen.normal(0, 0.1, q.shape[1:]), 8, per_channel=False)
    path = tmp_path / "g.nerv"
    nervfile.save(nf, path)
    disk = NervVideo.open(path)
    for name, q in nf.tensors.items():
        assert np.array_equal(disk.file.tensors[name].dequantize(), q.dequantize())
    with_prediction = _latent_bytes(nf)
    monkeypatch.setattr(latentcode, "predictable", lambda q, kind: False)
    assert with_prediction < 0.8 * _latent_bytes(nf)


def test_bad_nerv_files_name_the_problem(tmp_path):
    from codec.test_container import repack_header

    from nervplayer.errors import NervFormatError

    nf = _random_file("hnerv")
    path = tmp_path / "h.nerv"
    nervfile.save(nf, path)
    data = path.read_bytes()

    def fewer_frames(h):
        h["video"]["num_frames"] = 6

    def missing_plugin(h):
        h["plugins"]["model"] = {"id": "hinerv-xl", "version": "3.1"}

    bad = tmp_path / "bad.nerv"
    bad.write_bytes(repack_header(data, fewer_frames))
    with pytest.raises(NervFormatError, match="holds latents for 8 frames, the video has 6"):
        NervVideo.open(bad)
    bad.write_bytes(repack_header(data, missing_plugin))
    with pytest.raises(NervFormatError, match="needs the model plugin 'hinerv-xl' version 3.1, which is not inst"):
        NervVideo.open(bad)


def test_predicted_latents_out_of_range_or_on_weights_are_refused(tmp_path, monkeypatch):
    from codec.conftest import tiny_latent_nerv
    from codec.test_container import repack_header

    from nervplayer.codec import latentcode
    from nervplayer.errors import NervFormatError

    data = nervfile.encode(tiny_latent_nerv())[0]

    def predicted_weights(h):
        next(e for e in h["tensors"] if e["kind"] == "weights")["predict"] = "time"

    bad = tmp_path / "bad.nerv"
    bad.write_bytes(repack_header(data, predicted_weights))
    with pytest.raises(NervFormatError, match="only unmasked latents with one range"):
        NervVideo.open(bad)
    with monkeypatch.context() as m:  # residuals written from the wrong start: the sums leave the 8-bit range
        m.setattr(latentcode, "zero_symbol", lambda q: 255)
        bad.write_bytes(nervfile.encode(tiny_latent_nerv())[0])
    with pytest.raises(NervFormatError, match="embeddings: predicted latents leave the 8-bit range"):
        NervVideo.open(bad)


def test_cli_bad_model_input_is_one_line_before_the_clip_is_decoded(shapes_clip, tmp_path, capsys, monkeypatch):
    from nervplayer.cli.main import main
    from nervplayer.train import fit

    def no_decoding(*a, **k):
        raise AssertionError("the clip was decoded")

    monkeypatch.setattr(fit, "iter_frames", no_decoding)
    cases = {
        "unknown arch": (["--arch", "hinerv"], "unknown model 'hinerv'; available: grid, hnerv, nerv"),
        "budget too small": (["--arch", "hnerv", "--params", "500"], "is too small: the smallest 'hnerv' model"),
        "budget too large": (["--arch", "grid", "--params", "1G"], "is too large: the largest 'grid' model"),
        "param out of range": (["--arch", "hnerv", "--model", "reduction=9"], "'reduction' must be in [1.0, 4.0]"),
        "unknown param": (["--arch", "grid", "--model", "fc_c=3"], "model 'grid' has no parameter 'fc_c'"),
        "bad count": (["--params", "lots"], "300k, 1.5M"),
        "wrong preset": (
            ["--arch", "hnerv", "--preset", "nerv-s"],
            "'nerv-s' is a preset of model 'nerv', not of 'hnerv'",
        ),
        "too many strides": (["--arch", "hnerv", "--model", f"strides={[2] * 13}"], "a list of 1 to 12 integers"),
    }
    for name, (args, message) in cases.items():
        try:
            code = main(["fit", str(shapes_clip), "-o", str(tmp_path / name), *args])
        except SystemExit as e:  # argparse's own usage errors
            code = e.code
        err = capsys.readouterr().err
        assert code == 2, name
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (name, err)


def _doc_example() -> str:
    text = (Path(__file__).parent.parent / "docs" / "models.md").read_text()
    return re.search(r"```python\n(# plugin: tinygrid.*?)```", text, re.S).group(1)


def test_the_documented_model_plugin_loads_and_fits(shapes_clip, tmp_path, monkeypatch):
    from nervplayer import plugins

    user = tmp_path / "user"
    user.mkdir()
    (user / "tinygrid.py").write_text(_doc_example())
    monkeypatch.setattr(plugins, "_options", {"safe_mode": False, "user_dir": user})
    monkeypatch.setattr(plugins, "_registry", None)
    reg = plugins.get_registry()
    assert reg.get("model", "tinygrid").source.startswith("user:"), [r for r in reg.report if r.status != "ok"]
    _, psnr = _fit(shapes_clip, tmp_path / "run", "tinygrid", 3, budget=20_000, lr=1e-2)
    assert psnr[-1] > psnr[0]


def test_rd_puts_several_runs_on_one_plot_with_bd_rates_against_x264(shapes_clip, tmp_path, capsys):
    import json

    from nervplayer.cli.main import main

    _fit(shapes_clip, tmp_path / "nerv", "nerv", 1, budget=20_000)
    _fit(shapes_clip, tmp_path / "hq", "hnerv", 1, budget=20_000, qat=True, rate_lambda=0.05)
    out = tmp_path / "rd.json"
    assert (
        main(
            [
                "rd",
                str(tmp_path / "nerv"),
                str(tmp_path / "hq"),
                "-o",
                str(out),
                "--prunes",
                "0",
                "--bits",
                "4,6,8",
                "--finetune-epochs",
                "0",
                "--device",
                "cpu",
                "--codecs",
            ]
        )
        == 0
    )
    data = json.loads(out.read_text())
    names = [c["name"] for c in data["curves"]]
    assert names[:2] == ["nerv (nerv)", "hnerv (hq)"] and set(names[2:]) == {"libx264", "libx265", "libsvtav1"}
    assert len(data["curves"][1]["points"]) == 1  # a rate-aware run: its learned-step file
    bd = data["bd_rate_vs_x264_medium"]
    assert {"nerv (nerv)", "hnerv (hq)", "libx265", "libsvtav1"} == set(bd)
    for entry in bd.values():
        assert entry["bd_rate_percent"] is not None or "overlap" in entry["note"] or "two points" in entry["note"]
    assert "BD-rate of nerv (nerv) against x264 medium" in capsys.readouterr().out
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("arch", MODELS)
def test_every_architecture_decodes_within_the_memory_budget_or_refuses(arch):
    from nervplayer.errors import MemoryBudgetError

    nf = _random_file(arch)
    need = architectures.frame_bytes(nf.model)  # from a meta-device dry run: nothing allocated
    assert 37 * 53 * 3 * 4 <= need < 1 << 26  # at least the output frame in fp32, far below a whole budget
    whole = NervVideo(nf, batch_size=8, memory_budget=1 << 30)
    assert whole.plan.batch == 8 and not whole.plan.banded
    if arch != "nerv":  # NeRV bands its rows instead (tests/codec/test_memory_budget.py)
        tight = NervVideo(nf, batch_size=8, memory_budget=2 * need)
        assert tight.plan.batch == 2
        assert np.array_equal(tight.frames(0, 4), whole.frames(0, 4))
        with pytest.raises(MemoryBudgetError, match="over the memory budget"):
            NervVideo(nf, memory_budget=need // 2)


def test_an_open_nerv_names_its_architecture(tmp_path):
    from nervplayer.opening import describe_nerv

    path = tmp_path / "grid.nerv"
    nervfile.save(_random_file("grid"), path)
    summary, lines = describe_nerv(str(path), NervVideo.open(path), path.stat().st_size)
    assert " · grid · " in summary and "a grid network (model plugin version 1.0)" in lines
