"""Preferences and paths, headless: saved atomically, a damaged file reported with the defaults used (and kept
aside when saving over it), ``nervplayer settings`` and ``nervplayer paths`` in a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from nervplayer import settings
from nervplayer.errors import ConfigError
from nervplayer.paths import all_paths

REPO = Path(__file__).resolve().parent.parent


def test_defaults_when_there_is_no_file(tmp_path):
    assert settings.load(tmp_path / "settings.json") == (settings.Preferences(), None)


def test_save_and_load_round_trip(tmp_path):
    path = tmp_path / "sub" / "settings.json"
    prefs = settings.Preferences(device="cpu", precision="fp32", cache_mb=64, keys={"play": ("K", "Space")})
    settings.save(prefs, path)
    assert settings.load(path) == (prefs, None)
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # no temporary file left


@pytest.mark.parametrize(
    "text",
    ["{not json", "[1, 2]", '{"cache_mb": "lots"}', '{"device": "gpu9"}', '{"keys": {"play": "Space"}}', "\udcff"],
)
def test_a_damaged_file_is_reported_and_the_defaults_used(tmp_path, text):
    path = tmp_path / "settings.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    prefs, problem = settings.load(path)
    assert prefs == settings.Preferences()
    assert problem is not None and str(path) in problem and "using the defaults" in problem
    assert "\n" not in problem


def test_saving_over_a_damaged_file_keeps_it_aside(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{damaged")
    settings.save(settings.Preferences(cache_mb=32), path)
    assert (tmp_path / "settings.json.bad").read_text() == "{damaged"
    assert settings.load(path)[0].cache_mb == 32


def test_settings_of_a_newer_version_are_ignored(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"cache_mb": 100, "future_option": True}))
    assert settings.load(path) == (settings.Preferences(cache_mb=100), None)


def test_assignments_and_unset():
    prefs = settings.parse_assignment(settings.Preferences(), "keys.play=K Space")
    prefs = settings.parse_assignment(prefs, "cache_mb=2048")
    prefs = settings.parse_assignment(prefs, "device=cuda:1")
    assert prefs == settings.Preferences(device="cuda:1", cache_mb=2048, keys={"play": ("K", "Space")})
    assert settings.unset(prefs, "keys.play").keys == {}
    assert settings.unset(prefs, "device").device == "auto"
    for bad in ("precision=fp8", "cache_mb=-1", "cache_mb=x", "colour=red", "device", "keys.play="):
        with pytest.raises(ConfigError):
            settings.parse_assignment(prefs, bad)
    with pytest.raises(ConfigError):
        settings.save(replace(prefs, precision="fp8"), "never-written.json")
    assert not Path("never-written.json").exists()


def nervplayer(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        env[var] = str(tmp_path / var.lower())
    return subprocess.run(
        [sys.executable, "-m", "nervplayer", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG variables move the folders on Linux")
def test_settings_command_sets_shows_and_reports_a_damaged_file(tmp_path):
    result = nervplayer(tmp_path, "settings", "precision=bf16", "keys.flicker=Z")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "xdg_config_home" / "nervplayer" / "settings.json"
    assert settings.load(path)[0] == settings.Preferences(precision="bf16", keys={"flicker": ("Z",)})
    assert '"precision": "bf16"' in result.stdout

    path.write_text("{damaged")
    result = nervplayer(tmp_path, "settings")
    assert result.returncode == 0 and "damaged" in result.stderr and "Traceback" not in result.stderr
    assert '"precision": "auto"' in result.stdout and path.read_text() == "{damaged"  # shown, not rewritten


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG variables move the folders on Linux")
def test_paths_command_lists_every_location(tmp_path):
    result = nervplayer(tmp_path, "paths", "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert list(listed) == list(all_paths())
    assert all(value.startswith(str(tmp_path)) for value in listed.values())
    assert listed["settings"].endswith("settings.json") and listed["user plugins"].endswith("plugins")


def test_auto_precision_on_a_cpu_is_bf16_only_where_the_cpu_has_bf16(monkeypatch):
    import torch

    from nervplayer import device

    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(device, "cpu_has_bf16", lambda native=native: native)
        assert device.resolve_precision("auto", torch.device("cpu")).name == expected
    assert device.resolve_precision("bf16", torch.device("cpu")).name == "bf16"  # asked for: as asked
