"""The public API of ``import nervplayer`` (timm style), as the README shows it."""

import pytest
import torch

import nervplayer
from nervplayer.errors import ConfigError, PluginError


def test_list_models_and_plugins():
    assert nervplayer.list_models() == ["nerv-l", "nerv-m", "nerv-s", "nerv-xs"]
    assert nervplayer.list_models("nerv-x*") == ["nerv-xs"]
    assert {"silu", "gelu"} <= set(nervplayer.list_plugins("activation"))
    assert "fusion6" in nervplayer.list_plugins("loss") and "warmup-cosine" in nervplayer.list_plugins("scheduler")
    with pytest.raises(PluginError, match="kinds: activation, loss, scheduler"):
        nervplayer.list_plugins("losses")


def test_create_model_renders_frames_of_the_asked_size():
    model = nervplayer.create_model("nerv-xs", height=36, width=64, activation="gelu", stem_dim=64)
    assert model.config.stem_dim == 64 and model.config.activation == "gelu"
    with torch.no_grad():
        assert model(torch.tensor([0.0, 0.5])).shape == (2, 3, 36, 64)
    with pytest.raises(ConfigError, match="unknown preset"):
        nervplayer.create_model("nerv-xxl", 36, 64)


def test_the_version_has_one_source():
    from nervplayer.version import __version__

    assert nervplayer.__version__ == __version__
