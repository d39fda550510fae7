"""The default architecture (issue 19 item 5): a fit that names none is the grid as big as nerv-s (at most a fifth
of a value a pixel), trained rate-aware (its recipe, tests/test_recipe.py); a segmented one hnerv; a preset of one
model picks that model; a record written before a change still means what it meant."""

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


def test_a_fit_that_names_no_architecture_is_a_grid_as_big_as_nerv_s_at_most_a_fifth_of_a_value_a_pixel():
    config = cli_config()
    assert (config.arch, config.preset, config.budget, config.size_as) == ("grid", None, None, "nerv-s")
    assert (FitConfig(video="x").arch, FitConfig(video="x").max_values_per_pixel) == ("grid", 0.2)  # the API's
    bunny = Frames(180, 320, 132)  # where the default was measured: 1.5M values, a fifth of a value a pixel
    cap = 0.2 * 132 * 180 * 320
    assert describe("nerv", bunny, preset="nerv-s").params > cap
    assert abs(stored_count(model_spec(config, bunny)) - cap) <= 0.05 * cap
    long = Frames(360, 640, 1500)  # a minute: nerv-s's count, far below the cap
    nerv_s = describe("nerv", long, preset="nerv-s").params
    assert abs(stored_count(model_spec(config, long)) - nerv_s) <= 0.05 * nerv_s
    # a clip smaller than any grid of that size: the nearest grid there is, never an error
    assert stored_count(model_spec(config, Frames(16, 16, 2))) > 0
    assert "grid (default" in build_parser().format_help()


def test_a_fit_in_segments_is_hnerv_by_default():
    assert cli_config("--segment", "8").arch == "hnerv"
    assert cli_config("--segment", "8", "--arch", "grid").arch == "grid"


def test_another_architecture_named_is_sized_as_the_default_fit():
    config = cli_config("--arch", "hnerv")
    count = stored_count(model_spec(config, FRAMES))
    assert abs(count - 0.2 * 16 * 64 * 64) <= 0.05 * 0.2 * 16 * 64 * 64, count


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
    # the default of the version before the grid: hnerv as big as nerv-s, with no cap per pixel
    yesterday = FitConfig.from_dict({"video": "clip.mp4", "arch": "hnerv", "size_as": "nerv-s"})
    nerv_s = describe("nerv", FRAMES, preset="nerv-s").params
    assert abs(stored_count(model_spec(yesterday, FRAMES)) - nerv_s) <= 0.05 * nerv_s
    new = FitConfig(video="clip.mp4")
    assert FitConfig.from_dict(new.to_dict()) == new  # today's records read back as written
