"""The public API of ``import nervplayer`` (timm style), as the README shows it."""

import pytest
import torch

import nervplayer
from nervplayer.errors import ConfigError, PluginError


def test_list_models_and_plugins():
    assert {"nerv", "hnerv", "grid", "nerv-l", "nerv-m", "nerv-s", "nerv-xs"} <= set(nervplayer.list_models())
    assert nervplayer.list_models("nerv-x*") == ["nerv-xs"]
    assert {"silu", "gelu"} <= set(nervplayer.list_plugins("activation"))
    assert "fusion6" in nervplayer.list_plugins("loss") and "warmup-cosine" in nervplayer.list_plugins("scheduler")
    with pytest.raises(PluginError, match="kinds: activation, loss, scheduler, model"):
        nervplayer.list_plugins("losses")


def test_create_model_renders_frames_of_the_asked_size():
    model = nervplayer.create_model("nerv-xs", height=36, width=64, activation="gelu", stem_dim=64)
    assert model.config.stem_dim == 64 and isinstance(model.blocks[0].act, torch.nn.GELU)
    with torch.no_grad():
        assert model(torch.tensor([0.0, 0.5])).shape == (2, 3, 36, 64)
    with pytest.raises(ConfigError, match="unknown model 'nerv-xxl'; available: .*hnerv"):
        nervplayer.create_model("nerv-xxl", 36, 64)


@pytest.mark.parametrize("arch", ["nerv", "hnerv", "grid"])
def test_create_model_sizes_any_architecture_to_a_budget(arch):
    from nervplayer.model import architectures
    from nervplayer.model.spec import ModelSpec  # noqa: F401  (the spec type the budget search returns)

    model = nervplayer.create_model(arch, height=90, width=160, num_frames=8, params=100_000)
    stored = sum(
        p.numel() for name, p in model.state_dict().items() if name in architectures.architecture(arch)[1].stored(model)
    )
    assert abs(stored - 100_000) <= 5_000


def test_the_version_has_one_source():
    from nervplayer.version import __version__

    assert nervplayer.__version__ == __version__
