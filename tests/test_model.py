import math

import pytest
import torch
from torch import nn

from nervplayer.errors import ConfigError
from nervplayer.model import ModelConfig, NeRV, count_parameters, fit_grid, model_config
from nervplayer.model.nerv import PositionalEncoding


@pytest.mark.parametrize("preset,params", [("nerv-s", 3_201_905), ("nerv-m", 6_282_001), ("nerv-l", 12_524_563)])
def test_paper_presets_have_the_papers_parameter_counts_at_720p(preset, params):
    cfg = model_config(preset, 720, 1280)
    assert (cfg.fc_h, cfg.fc_w, cfg.strides) == (9, 16, (5, 2, 2, 2, 2))
    assert count_parameters(NeRV(cfg, nn.SiLU)) == params


def test_nerv_s_stage_widths_follow_the_channel_rule():
    assert model_config("nerv-s", 720, 1280).stage_widths() == [26, 26, 96, 96, 96, 96]


def test_positional_encoding_matches_the_formula():
    pe = PositionalEncoding(1.25, 40)
    t = torch.tensor([0.0, 0.37, 131 / 132])
    out = pe(t)
    assert out.shape == (3, 80)
    f32 = lambda x: torch.tensor(x, dtype=torch.float32).item()  # noqa: E731  the model computes in float32
    for row, tv in enumerate(t.tolist()):
        for i in range(40):
            arg = f32(f32(1.25**i * math.pi) * tv)
            assert out[row, 2 * i].item() == pytest.approx(math.sin(arg), abs=2e-5)
            assert out[row, 2 * i + 1].item() == pytest.approx(math.cos(arg), abs=2e-5)


@pytest.mark.parametrize(
    "h,w,grid",
    [
        (720, 1280, (9, 16, (5, 2, 2, 2, 2))),
        (180, 320, (9, 16, (5, 2, 2))),
        (90, 160, (9, 16, (5, 2))),
        (480, 853, (12, 22, (5, 2, 2, 2))),
        (1080, 1920, (14, 24, (5, 2, 2, 2, 2))),
        (64, 64, (13, 13, (5,))),
    ],
)
def test_size_rule(h, w, grid):
    assert fit_grid(h, w, (5, 2, 2, 2, 2)) == grid


@pytest.mark.parametrize("h,w", [(64, 64), (90, 160), (37, 53), (480, 853)])
def test_model_output_has_the_exact_frame_size(h, w):
    cfg = model_config("nerv-xs", h, w, stem_dim=32, fc_c=4, lower_width=4)
    out = NeRV(cfg, nn.SiLU)(torch.tensor([0.0, 0.5]))
    assert out.shape == (2, 3, h, w)
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("h,w", [(90, 160), (37, 53)])
def test_head_before_the_last_shuffle_is_the_papers_network(h, w):
    """NeRV.forward runs the 1×1 head before the last PixelShuffle: same values as the paper's order, and the
    gradients of every parameter too."""
    torch.manual_seed(0)
    cfg = model_config("nerv-xs", h, w, stem_dim=32, fc_c=8, lower_width=4)
    model = NeRV(cfg, nn.SiLU)
    t = torch.tensor([0.0, 0.3, 0.9])

    def papers(t):
        x = model.stem(model.pe(t)).view(-1, cfg.fc_c, cfg.fc_h, cfg.fc_w)
        for block in model.blocks:
            x = block(x)
        return ((torch.tanh(model.head(x)) + 1) * 0.5)[:, :, :h, :w]

    ours, reference = model(t), papers(t)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-6)
    grads = []
    for out in (ours, reference):
        model.zero_grad()
        (out * torch.linspace(0, 1, out.numel()).view_as(out)).sum().backward(retain_graph=True)
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-6, msg=name)


def test_model_config_round_trips_through_json_dict():
    cfg = model_config("nerv-s", 180, 320, activation="gelu", activation_params={"approximate": "tanh"})
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(ConfigError, match="nerv-s"):
        model_config("nerv-xxl", 720, 1280)
