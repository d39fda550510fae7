"""Each architecture's training recipe (train/recipe.py): the grid trains rate-aware on MSE at lr 5e-3 where the user
sets nothing, the others with the paper's recipe; what the user sets wins; a plugin's bad recipe is one clear error."""

from __future__ import annotations

import dataclasses
import json

import pytest

from nervplayer.cli.fit import build_parser, config_from_args
from nervplayer.cli.main import main
from nervplayer.errors import PluginError
from nervplayer.plugins import get_registry
from nervplayer.plugins.registry import Registry
from nervplayer.train import FitConfig
from nervplayer.train.recipe import recipe_defaults, resolve_recipe


def resolved(*args: str) -> FitConfig:
    return resolve_recipe(config_from_args(build_parser().parse_args(["clip.mp4", "-o", "run", *args])))


def recipe(config: FitConfig) -> tuple:
    return config.lr, config.qat, config.rate_lambda, config.loss


@pytest.mark.parametrize(
    ("arch", "expected"),
    [
        ("grid", (5e-3, True, 0.002, "l2")),
        ("hnerv", (5e-4, False, 0.0, "fusion6")),
        ("nerv", (5e-4, False, 0.0, "fusion6")),
    ],
)
def test_each_architecture_trains_with_its_own_recipe_where_nothing_is_set(arch, expected):
    assert recipe(resolve_recipe(FitConfig(video="x", arch=arch))) == expected
    assert recipe(resolved("--arch", arch)) == expected
    # a config derived for another model (a study's variant, a plan's choice) takes that model's recipe
    other = "hnerv" if arch == "grid" else "grid"
    assert recipe(resolve_recipe(dataclasses.replace(FitConfig(video="x", arch=other), arch=arch))) == expected


def test_what_the_user_sets_wins_over_the_recipe():
    assert recipe(resolved("--lr", "3e-3", "--loss", "fusion6")) == (3e-3, True, 0.002, "fusion6")
    assert recipe(resolved("--rate-lambda", "0")) == (5e-3, True, 0.0, "l2")  # quantization-aware, no rate term
    assert recipe(resolved("--no-qat")) == (5e-3, False, 0.0, "l2")  # plain: no rate term from the recipe either
    assert recipe(resolved("--rate-lambda", "0.3")) == (5e-3, True, 0.3, "l2")
    assert recipe(resolved("--arch", "hnerv", "--rate-lambda", "0.05")) == (5e-4, True, 0.05, "fusion6")
    assert recipe(resolved("--arch", "hnerv", "--soft-rounding")) == (5e-4, True, 0.0, "fusion6")
    with pytest.raises(Exception, match="needs quantization-aware training"):
        resolved("--no-qat", "--rate-lambda", "0.1")
    # a target is met by rate control after the fit, with the most room on a plain one: no recipe of QAT and rate
    assert recipe(resolved("--target-size", "200KB")) == (5e-3, False, 0.0, "l2")
    assert recipe(resolved("--target-size", "200KB", "--rate-lambda", "0.05")) == (5e-3, True, 0.05, "l2")


def test_a_record_without_the_recipe_fields_means_the_paper_s_recipe():
    old = FitConfig.from_dict({"video": "clip.mp4", "arch": "grid", "lr": 1e-3})  # before qat and the rate term
    assert recipe(resolve_recipe(old)) == (1e-3, False, 0.0, "fusion6")
    new = resolve_recipe(FitConfig(video="clip.mp4"))
    assert FitConfig.from_dict(new.to_dict()) == new


class _Recipe:
    def __init__(self, recipe: dict) -> None:
        self.base = get_registry().get("model", "grid").factory()
        self.recipe = recipe

    def __getattr__(self, name):
        return getattr(self.base, name)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"epochs": 5}, r"model 'odd': its recipe sets 'epochs'; a recipe sets lr, qat, rate_lambda, loss"),
        ({"loss": 3}, r"its recipe's loss must be a loss plugin's id, got 3"),
        ({"lr": 0}, r"model 'odd': its recipe's lr must be a positive number, got 0"),
        ({"qat": "yes"}, r"its recipe's qat must be true or false, got 'yes'"),
        ({"rate_lambda": float("nan")}, r"its recipe's rate_lambda must be a number >= 0, got nan"),
    ],
)
def test_a_plugin_recipe_that_sets_anything_else_is_one_clear_error(bad, message):
    registry = Registry()
    base = get_registry().get("model", "grid")
    registry.add(dataclasses.replace(base, id="odd", source="user:odd.py", factory=lambda: _Recipe(bad)))
    with pytest.raises(PluginError, match=message):
        resolve_recipe(FitConfig(video="x", arch="odd"), registry)
    # what the user sets is never read from the recipe: a fit that sets all of it still runs
    given = FitConfig(video="x", arch="odd", lr=1e-3, qat=False, rate_lambda=0.0, loss="l1")
    assert recipe(resolve_recipe(given, registry)) == (1e-3, False, 0.0, "l1")


def test_a_fit_s_record_and_first_line_say_the_recipe_it_trained_with(shapes_clip, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["fit", str(shapes_clip), "-o", str(run), "--epochs", "1", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "lr 0.005, rate-aware (λ 0.002)" in err, err
    stored = json.loads((run / "config.json").read_text())["fit"]
    assert (stored["arch"], stored["lr"], stored["qat"], stored["rate_lambda"]) == ("grid", 0.005, True, 0.002)
    assert stored["loss"] == "l2"
    # a resumed run trains on with what it started with, and can be extended
    assert main(["fit", "--resume", "-o", str(run), "--epochs", "2"]) == 0
    stored = json.loads((run / "config.json").read_text())["fit"]
    assert (stored["epochs"], stored["lr"], stored["rate_lambda"]) == (2, 0.005, 0.002)


def test_the_forms_show_the_recipe_of_the_model_chosen():
    assert recipe_defaults("grid") == {"lr": 5e-3, "qat": True, "rate_lambda": 0.002, "loss": "l2"}
    assert recipe_defaults("hnerv") == {"lr": 5e-4, "qat": False, "rate_lambda": 0.0, "loss": "fusion6"}
