"""The MAC count of nervplayer.model.complexity against the paper's figures (nerv.md) and torch's counter."""

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nervplayer.model import NeRV, count_parameters, model_config
from nervplayer.model.complexity import layer_costs, macs_per_frame, train_flops_per_frame


def test_nerv_s_720p_matches_the_paper_derivation():
    cfg = model_config("nerv-s", 720, 1280)
    layers = layer_costs(cfg)
    total = macs_per_frame(cfg)
    assert abs(total / 1e9 - 100.9) < 0.05
    assert layers[-2].name == "blocks.4.conv" and layers[-2].in_shape == (96, 360, 640)
    assert layers[-2].out_shape == (384, 360, 640)
    assert round(layers[-2].macs / total, 2) == 0.76
    assert round((layers[-2].macs + layers[-3].macs) / total, 2) == 0.95
    assert train_flops_per_frame(cfg) == 6 * total


def test_presets_differ_little_in_compute():
    m = {p: macs_per_frame(model_config(p, 720, 1280)) / 1e9 for p in ("nerv-s", "nerv-m", "nerv-l")}
    assert [round(v, 1) for v in m.values()] == [100.9, 101.4, 102.4]


def test_layers_match_the_built_model():
    cfg = model_config("nerv-s", 180, 320)
    model = NeRV(cfg, nn.SiLU)
    layers = layer_costs(cfg)
    modules = dict(model.named_modules())
    assert sum(layer.params for layer in layers) == count_parameters(model)
    for layer in layers:
        assert sum(p.numel() for p in modules[layer.name].parameters()) == layer.params
    assert layers[-1].in_shape[1:] == cfg.padded_size


def test_counts_agree_with_torch_flop_counter():
    """The count is the network's; the head that runs before the last shuffle (NeRV.head_before_shuffle) also
    multiplies by the zeros of its block-diagonal weight, which torch's counter counts too."""
    cfg = model_config("nerv-s", 90, 160)
    model = NeRV(cfg, nn.SiLU)
    s, (h, w) = cfg.strides[-1], cfg.padded_size
    zeros = 3 * cfg.stage_widths()[-1] * (s * s - 1) * h * w
    with FlopCounterMode(display=False) as fwd, torch.no_grad():
        model(torch.tensor([0.5]))
    assert fwd.get_total_flops() == 2 * (macs_per_frame(cfg) + zeros)
    with FlopCounterMode(display=False) as train:
        model(torch.tensor([0.5])).mean().backward()
    assert abs(train.get_total_flops() / (train_flops_per_frame(cfg) + 6 * zeros) - 1) < 1e-3
