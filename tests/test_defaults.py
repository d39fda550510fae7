"""The default architecture (issue 19 item 5): a fit that names none is hnerv as big as nerv-s; a preset of one
model picks that model; a record written before the change (no ``arch``, no ``size_as``) still means nerv."""

import pytest

from nervplayer.cli.fit import build_parser, config_from_args
from nervplayer.cli.main import main
from nervplayer.model.architectures import describe, stored_count
from nervplayer.plugins.api import Frames
from nervplayer.train import FitConfig
from nervplayer.train.fit import model_spec

FRAMES = Frames(64, 64, 16)


def cli_config(*args: str) -> FitConfig:
    return config_from_args(build_parser().parse_args(["clip.mp4", "-o", "run", *args]))


def test_a_fit_that_names_no_architecture_is_hnerv_as_big_as_nerv_s():
    config = cli_config()
    assert (config.arch, config.preset, config.budget, config.size_as) == ("hnerv", None, None, "nerv-s")
    assert (FitConfig(video="x").arch, FitConfig(video="x").size_as) == ("hnerv", "nerv-s")  # the API's default
    spec = model_spec(config, FRAMES)
    nerv_s = describe("nerv", FRAMES, preset="nerv-s").params
    assert spec.arch == "hnerv" and abs(stored_count(spec) - nerv_s) <= 0.05 * nerv_s
    assert "hnerv (default" in build_parser().format_help()


@pytest.mark.parametrize(("preset", "arch"), [("nerv-s", "nerv"), ("nerv-xs", "nerv"), ("grid-s", "grid")])
def test_a_preset_alone_picks_its_architecture(preset, arch):
    config = cli_config("--preset", preset)
    assert (config.arch, config.preset) == (arch, preset)
    assert model_spec(config, FRAMES).config == describe(arch, FRAMES, preset=preset).spec.config


def test_nerv_without_a_preset_is_the_paper_s_nerv_s():
    assert (
        model_spec(cli_config("--arch", "nerv"), FRAMES).config == describe("nerv", FRAMES, preset="nerv-s").spec.config
    )


def test_a_preset_of_another_architecture_is_one_line_exit_2(shapes_clip, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["fit", str(shapes_clip), "-o", str(run), "--arch", "grid", "--preset", "nerv-s"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "'nerv-s' is a preset of model 'nerv', not of 'grid'" in err and not run.exists()


def test_a_record_without_arch_or_size_as_means_what_it_meant_when_written():
    old = FitConfig.from_dict({"video": "clip.mp4", "preset": "nerv-xs", "epochs": 3})
    assert (old.arch, old.preset, old.size_as) == ("nerv", "nerv-xs", None)
    old_hnerv = FitConfig.from_dict({"video": "clip.mp4", "arch": "hnerv"})  # its own preset, hnerv-s, as before
    assert model_spec(old_hnerv, FRAMES).config == describe("hnerv", FRAMES).spec.config
    new = FitConfig(video="clip.mp4")
    assert FitConfig.from_dict(new.to_dict()) == new  # today's records read back as written
