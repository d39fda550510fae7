"""A run folder whose ``model.safetensors`` is damaged is the user's bad input, not a bug: every command that
reads a run's weights says so in one line naming the file, exit 2, in a real process."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import save_file
from test_cli_contract import assert_one_line_error, nervplayer

from nervplayer.cli.main import main as cli_main


@pytest.fixture(scope="module")
def run(tmp_path_factory, shapes_clip):
    run = tmp_path_factory.mktemp("damaged") / "run"
    argv = ["fit", str(shapes_clip), "-o", str(run), "--preset", "nerv-xs", "--epochs", "1"]
    assert cli_main([*argv, "--model", "stem_dim=16", "--model", "fc_c=4", "--model", "lower_width=4"]) == 0
    return run


def truncated(path):
    path.write_bytes(path.read_bytes()[:300])


def garbled_header(path):
    data = bytearray(path.read_bytes())
    data[8:40] = b"x" * 32
    path.write_bytes(bytes(data))


def empty(path):
    path.write_bytes(b"")


def other_tensors(path):  # a valid safetensors file, but not these weights
    save_file({"a": torch.zeros(3)}, str(path))


DAMAGE = {"truncated": truncated, "garbled header": garbled_header, "empty": empty, "other tensors": other_tensors}
COMMANDS = {
    "frame": lambda run, out: ["frame", run, "1", "-o", out / "frame.png"],
    "eval": lambda run, out: ["eval", run, "{video}"],
    "compress": lambda run, out: ["compress", run, "-o", out / "x.nerv", "--finetune-epochs", "0", "--no-eval"],
    "rd": lambda run, out: ["rd", run, "-o", out / "rd", "--prunes", "0", "--bits", "8", "--finetune-epochs", "0"],
}


CASES = [("frame", damage) for damage in DAMAGE] + [
    (command, damage) for command in COMMANDS if command != "frame" for damage in ("garbled header", "other tensors")
]


@pytest.mark.parametrize("command,damage", CASES)
def test_a_damaged_weights_file_is_one_line_naming_it(run, shapes_clip, tmp_path, command, damage):
    broken = tmp_path / "run"
    shutil.copytree(run, broken)
    DAMAGE[damage](broken / "model.safetensors")
    before = (broken / "model.safetensors").read_bytes()
    argv = [str(a).replace("{video}", str(shapes_clip)) for a in COMMANDS[command](broken, tmp_path)]
    line = assert_one_line_error(nervplayer(*argv, cwd=tmp_path))
    assert str(broken / "model.safetensors") in line and "bug" not in line, line
    assert (broken / "model.safetensors").read_bytes() == before  # nothing touched
