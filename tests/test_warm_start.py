"""A fit that starts from given weights (FitConfig.init_weights): every tensor whose shape matches is loaded."""

import torch

from nervplayer.train import FitConfig, Fitter
from nervplayer.train.checkpoint import load_weights

TINY = {"stem_dim": 64, "fc_c": 8, "lower_width": 8}


def _fit(clip, folder, **kw):
    cfg = FitConfig(video=str(clip), arch="nerv", preset="nerv-xs", epochs=1, eval_every=1, model=TINY, **kw)
    fitter = Fitter(cfg, folder)
    for _ in fitter.run():
        pass
    fitter.store.close()
    return fitter


def test_a_fit_starts_from_the_weights_whose_shapes_match(shapes_clip, tmp_path):
    first = _fit(shapes_clip, tmp_path / "a")
    weights = tmp_path / "a" / "model.safetensors"
    saved = load_weights(weights)
    cfg = FitConfig(
        video=str(shapes_clip), arch="nerv", preset="nerv-xs", epochs=1, model=TINY, init_weights=str(weights)
    )
    warm = Fitter(cfg, tmp_path / "b")
    state = warm.model.state_dict()
    assert all(torch.equal(state[k].float().cpu(), v.float()) for k, v in saved.items())
    cold = Fitter(FitConfig(video=str(shapes_clip), arch="nerv", preset="nerv-xs", epochs=1, model=TINY, seed=1))
    assert any(not torch.equal(cold.model.state_dict()[k], state[k]) for k in saved)
    assert first.config.init_weights is None


def test_tensors_of_another_shape_keep_their_fresh_values(shapes_clip, tmp_path):
    _fit(shapes_clip, tmp_path / "a")
    other = {**TINY, "fc_c": 12}  # the head and first block change shape, the stem does not
    cfg = FitConfig(video=str(shapes_clip), arch="nerv", preset="nerv-xs", epochs=1, model=other, seed=1)
    fresh = Fitter(cfg).model.state_dict()
    warm_cfg = FitConfig(
        video=str(shapes_clip),
        arch="nerv",
        preset="nerv-xs",
        epochs=1,
        model=other,
        init_weights=str(tmp_path / "a" / "model.safetensors"),
    )
    warm = Fitter(warm_cfg).model.state_dict()
    saved = load_weights(tmp_path / "a" / "model.safetensors")
    same = [k for k in saved if saved[k].shape == warm[k].shape]
    differ = [k for k in saved if saved[k].shape != warm[k].shape]
    assert same and differ
    assert all(torch.equal(warm[k].float().cpu(), saved[k].float()) for k in same)
    assert all(torch.equal(warm[k], fresh[k]) for k in differ)
