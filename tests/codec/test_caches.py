"""Caches that must not go stale: the fine-tune follows the run's weights and every option that shapes it, QAT
trains at the bit widths finally written, and a fit's disk frame cache is gone when the fit ends."""

from nervplayer.cli.main import main as cli_main
from nervplayer.codec import Compressed, CompressOptions, Compressor, nervfile, pipeline
from nervplayer.train.checkpoint import load_weights, save_weights


def run_all(compressor):
    return list(compressor.run())


def test_finetune_key_follows_weights_and_shaping_options():
    opts = CompressOptions(prune=0.3, finetune_epochs=5, bits=6, qat=True)
    bits = {"a": 6, "b": 6}
    key = opts.finetune_key("w1", bits)
    assert key != opts.finetune_key("w2", bits)  # a re-fitted run
    assert key != opts.finetune_key("w1", {"a": 5, "b": 7})  # QAT at other widths
    assert key != CompressOptions(prune=0.3, finetune_epochs=5, bits=6, qat=True, per_channel=False).finetune_key(
        "w1", bits
    )
    plain = CompressOptions(prune=0.3, finetune_epochs=5, bits=6)
    assert plain.finetune_key("w1", bits) == plain.finetune_key("w1", {"a": 4})  # without QAT bits do not matter
    assert plain.finetune_key("w1", bits) == CompressOptions(
        prune=0.3, finetune_epochs=5, bits=8, coder="raw"
    ).finetune_key("w1", bits)


def test_a_refitted_run_does_not_reuse_the_old_finetune(run_copy, tmp_path):
    opts = CompressOptions(prune=0.3, finetune_epochs=1, device="cpu", evaluate=False)
    run_all(Compressor(run_copy, tmp_path / "a.nerv", opts))
    weights = run_copy / "model.safetensors"
    state = {k: v + 0.01 for k, v in load_weights(weights).items()}  # "re-fitted": other weights
    save_weights(weights, state, {})
    events = run_all(Compressor(run_copy, tmp_path / "b.nerv", opts))
    assert any(type(e).__name__ == "Started" for e in events)  # a new fine-tune, not the stale one
    assert len(list((run_copy / "compress").iterdir())) == 2


def test_qat_trains_at_the_bit_widths_written(run_copy, tmp_path, monkeypatch):
    seen = {}
    real = pipeline.enable_fake_quant

    def spy(model, bits, per_channel, masks=None):
        seen.update(bits)
        return real(model, bits, per_channel, masks)

    monkeypatch.setattr(pipeline, "enable_fake_quant", spy)
    opts = CompressOptions(
        prune=0.3, finetune_epochs=1, bits=6, qat=True, layer_bits=True, device="cpu", evaluate=False
    )
    events = run_all(Compressor(run_copy, tmp_path / "q.nerv", opts))
    assert isinstance(events[-1], Compressed)
    written = {name: q.bits for name, q in nervfile.load(tmp_path / "q.nerv").tensors.items()}
    assert seen == written


def test_the_disk_frame_cache_is_removed_when_the_fit_ends(tmp_path, shapes_clip):
    run = tmp_path / "run"
    assert (
        cli_main(
            [
                "fit",
                str(shapes_clip),
                "-o",
                str(run),
                "--epochs",
                "1",
                "--cache-budget",
                "0",
                "--preset",
                "nerv-xs",
                "--model",
                "stem_dim=16",
                "--model",
                "fc_c=4",
                "--model",
                "lower_width=4",
            ]
        )
        == 0
    )
    assert (run / "model.safetensors").is_file() and not (run / "cache").exists()
