"""The compression pipeline on a run fitted to the synthetic clip: stages, the report, resuming, QAT, bit search."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nervplayer.codec import Compressed, CompressOptions, Compressor, NervVideo, Stage, nervfile
from nervplayer.codec.evaluate import evaluate_nerv
from nervplayer.errors import ConfigError, VideoError
from nervplayer.train import Finished, Started, Step


def run_all(compressor, stop_after_steps: int | None = None):
    events = []
    for ev in compressor.run():
        events.append(ev)
        if stop_after_steps and isinstance(ev, Step) and ev.step >= stop_after_steps:
            compressor.cancel()
    return events


def test_compress_end_to_end(run_copy, tmp_path, shapes_clip):
    out = tmp_path / "clip.nerv"
    events = run_all(Compressor(run_copy, out, CompressOptions(prune=0.4, finetune_epochs=1, device="cpu")))
    stages = [e.name for e in events if isinstance(e, Stage)]
    assert stages == ["prune", "finetune", "quantize", "evaluate", "write"]
    assert any(isinstance(e, Started) for e in events) and any(isinstance(e, Step) for e in events)
    report = events[-1]
    assert isinstance(report, Compressed)
    assert report.file_bytes == out.stat().st_size == sum(report.sizes.values())
    assert list(report.sizes) == ["header", "ranges", "tables", "weights", "mask"]
    assert report.bpp == pytest.approx(report.file_bytes * 8 / (16 * 64 * 64))
    assert report.sparsity == pytest.approx(0.4, abs=1e-4)
    assert 1.0 <= report.weight_bits / report.weight_entropy < 1.01
    assert report.estimates["paper_bits"] == 8 * report.kept
    m = report.metrics
    assert m["psnr"] > 10 and 0 < m["ms_ssim"] <= 1 and m["psnr_vs_model"] > m["psnr"]
    nf = nervfile.load(out)
    assert nf.compression["prune_ratio"] == 0.4 and nf.compression["sparsity"] == pytest.approx(0.4, abs=1e-4)
    assert nf.metrics == pytest.approx(m)
    assert nf.source["name"] == "shapes.mp4" and nf.video["num_frames"] == 16
    metrics, seen, first = evaluate_nerv(out, str(shapes_clip), "cpu")
    assert float(np.mean(metrics.psnr)) == pytest.approx(m["psnr"], abs=1e-4)
    assert seen == list(range(16)) and first == 0


def test_finetune_resumes_then_is_reused(run_copy, tmp_path):
    opts = CompressOptions(prune=0.5, finetune_epochs=2, evaluate=False, device="cpu")
    first = run_all(Compressor(run_copy, tmp_path / "a.nerv", opts), stop_after_steps=5)
    assert not any(isinstance(e, Compressed) for e in first)
    assert [e.status for e in first if isinstance(e, Finished)] == ["cancelled"]
    assert not (tmp_path / "a.nerv").exists()
    second = run_all(Compressor(run_copy, tmp_path / "a.nerv", opts))
    started = next(e for e in second if isinstance(e, Started))
    assert started.start_epoch > 0
    assert isinstance(second[-1], Compressed)
    third = run_all(Compressor(run_copy, tmp_path / "b.nerv", opts))
    assert not any(isinstance(e, Started) for e in third)  # the finished fine-tune is reused
    a, b = NervVideo.open(tmp_path / "a.nerv"), NervVideo.open(tmp_path / "b.nerv")
    assert (a.frames(0, 16) == b.frames(0, 16)).all()


def test_qat_with_per_layer_bits(run_copy, tmp_path):
    opts = CompressOptions(prune=0.3, finetune_epochs=1, bits=6, qat=True, layer_bits=True, device="cpu")
    events = run_all(Compressor(run_copy, tmp_path / "q.nerv", opts))
    assert "allocate" in [e.name for e in events if isinstance(e, Stage)]
    report = events[-1]
    assert all(2 <= b <= 8 for b in report.bits.values())
    layers = {name.rsplit(".", 1)[0] for name in report.bits}
    assert all(report.bits[f"{layer}.weight"] == report.bits[f"{layer}.bias"] for layer in layers)
    assert nervfile.load(tmp_path / "q.nerv").compression["qat"] is True


def test_no_pruning_and_other_coders(run_copy, tmp_path):
    for coder in ("range", "raw"):
        opts = CompressOptions(
            prune=0.0, finetune_epochs=0, bits=10, per_channel=False, coder=coder, evaluate=False, device="cpu"
        )
        events = run_all(Compressor(run_copy, tmp_path / f"{coder}.nerv", opts))
        assert [e.name for e in events if isinstance(e, Stage)] == ["prune", "quantize", "write"]
        assert events[-1].sizes["mask"] == 0 and events[-1].sparsity == 0
        assert NervVideo.open(tmp_path / f"{coder}.nerv").frame(3).shape == (64, 64, 3)


def test_refuses_another_video(run_copy, tmp_path):
    other = tmp_path / "other.mp4"
    other.write_bytes(b"not the same")
    with pytest.raises(VideoError, match="is not the video"):
        run_all(Compressor(run_copy, tmp_path / "x.nerv", CompressOptions(device="cpu"), source=str(other)))


@pytest.mark.parametrize(
    "bad",
    [dict(prune=1.0), dict(prune=-0.1), dict(bits=1), dict(bits=17), dict(coder="huffman"), dict(finetune_epochs=-1)],
)
def test_option_validation(bad):
    with pytest.raises(ConfigError):
        CompressOptions(**bad).validate()


def test_options_round_trip_through_a_plans_json_old_records_included():
    from nervplayer.codec.ratecontrol import size_target

    options = CompressOptions(prune=0.2, bits=6, target=size_target("200KB"), fixed=("bits",))
    record = json.loads(json.dumps(options.to_dict()))
    assert record["target"] == {"kind": "size", "value": 200_000}
    assert CompressOptions.from_dict(record) == options
    old = {k: v for k, v in CompressOptions().to_dict().items() if k not in ("target", "fixed")}
    assert CompressOptions.from_dict(old) == CompressOptions()
    with pytest.raises(ConfigError, match="not a rate target"):
        CompressOptions.from_dict({**record, "target": {"kind": "speed", "value": 1}})
