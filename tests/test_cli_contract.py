"""The CLI's error contract, for every subcommand, in a real process: each one against the shared list of bad
inputs ends with exit status 2, exactly one line on stderr and no traceback; nothing existing is touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from codec.conftest import tiny_nerv

from nervplayer.cli.main import SUBCOMMANDS
from nervplayer.cli.main import main as cli_main
from nervplayer.codec import nervfile

REPO = Path(__file__).resolve().parent.parent
BAD_INPUTS = ("missing", "directory", "empty", "text", "truncated", "random bytes", "wrong kind", "unwritable output")


def nervplayer(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    env.pop("DISPLAY", None)
    return subprocess.run(
        [sys.executable, "-m", "nervplayer", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, code: int = 2) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and lines[0].startswith("nervplayer")
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory, shapes_clip):
    """One valid input of each kind (video, .nerv, run folder) and the bad inputs built from them."""
    root = tmp_path_factory.mktemp("contract")
    nerv = root / "valid.nerv"
    nervfile.save(tiny_nerv(), nerv)
    run = root / "run"
    assert (
        cli_main(
            [
                "fit",
                str(shapes_clip),
                "-o",
                str(run),
                "--preset",
                "nerv-xs",
                "--epochs",
                "1",
                "--model",
                "stem_dim=16",
                "--model",
                "fc_c=4",
                "--model",
                "lower_width=4",
            ]
        )
        == 0
    )
    (root / "empty-dir").mkdir()
    (root / "empty.bin").write_bytes(b"")
    (root / "notes.txt").write_text("this is a text file, not a video, a .nerv or a run\n")
    (root / "random.bin").write_bytes(bytes((i * 7919 + 13) % 251 for i in range(4096)))
    (root / "truncated.mp4").write_bytes(shapes_clip.read_bytes()[: shapes_clip.stat().st_size // 3])
    (root / "truncated.nerv").write_bytes(nerv.read_bytes()[: nerv.stat().st_size // 2])
    broken_run = root / "truncated-run"
    shutil.copytree(run, broken_run)
    for name in ("config.json", "model.safetensors", "checkpoint.pt"):
        data = (broken_run / name).read_bytes()
        (broken_run / name).write_bytes(data[: len(data) // 2])
    (root / "a-file").write_text("a file where a folder is expected\n")
    return {
        "root": root,
        "video": shapes_clip,
        "nerv": nerv,
        "run": run,
        "truncated": {"video": root / "truncated.mp4", "nerv": root / "truncated.nerv", "run": broken_run},
        "wrong kind": {"video": nerv, "nerv": shapes_clip, "run": shapes_clip},
    }


# subcommand -> (the kind of input it reads, its command line for an input and an output path)
COMMANDS = {
    "fit": ("video", lambda i, o: ["fit", i, "-o", o]),
    "bench": (
        "video",
        lambda i, o: [
            "bench",
            i,
            "--steps",
            "1",
            "--warmup",
            "0",
            "--frames",
            "4",
            "--no-layers",
            "--no-decode",
            "--preset",
            "nerv-xs",
            "--json",
            o,
        ],
    ),
    "eval": ("nerv", lambda i, o: ["eval", i, "{video}"]),
    "frame": ("run", lambda i, o: ["frame", i, "0", "-o", o]),
    "compress": ("run", lambda i, o: ["compress", i, "-o", o, "--finetune-epochs", "0", "--no-eval"]),
    "rd": ("run", lambda i, o: ["rd", i, "-o", o, "--prunes", "0", "--bits", "8", "--finetune-epochs", "0"]),
    "info": ("nerv", lambda i, o: ["info", i]),
    "decode": ("nerv", lambda i, o: ["decode", i, "--frame", "0", "-o", o]),
    "export": ("nerv", lambda i, o: ["export", i, "-o", o]),
    "study": ("video", lambda i, o: ["study", "lr", i, "-o", o, "--quick", "--epochs", "1", "--values", "1e-3"]),
    "batch": ("video", lambda i, o: ["batch", i, "-o", o, "--workers", "1", "--epochs", "1", "--preset", "nerv-xs"]),
}
NO_OUTPUT = {"info", "eval"}  # commands that write nothing
# Commands that read no input file: their bad input is a bad argument, and settings' an unwritable folder.
NO_INPUT = {
    "plugins": (["plugins", "stray-argument"], "unrecognized arguments"),
    "paths": (["paths", "stray-argument"], "unrecognized arguments"),
    "settings": (["settings", "cache_mb=lots"], "cache_mb 'lots'"),
}


def test_every_subcommand_is_in_the_table():
    assert set(SUBCOMMANDS) == set(COMMANDS) | set(NO_INPUT)


@pytest.mark.parametrize("command", list(NO_INPUT))
def test_a_bad_argument_to_a_command_without_input_is_one_line_and_exit_2(command, tmp_path):
    argv, message = NO_INPUT[command]
    assert message in assert_one_line_error(nervplayer(*argv, cwd=tmp_path))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG_CONFIG_HOME moves the settings on Linux")
def test_settings_into_an_unwritable_folder_is_one_line_and_exit_2(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the config folder should be\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CONFIG_HOME": str(blocker)}
    result = subprocess.run(
        [sys.executable, "-m", "nervplayer", "settings", "device=cpu"], capture_output=True, text=True, env=env
    )
    assert "a-file" in assert_one_line_error(result)
    assert blocker.read_text().startswith("a file")


def bad_input(files: dict, kind: str, case: str) -> Path:
    root = files["root"]
    return {
        "missing": root / "no-such-input",
        "directory": root / "empty-dir",
        "empty": root / "empty.bin",
        "text": root / "notes.txt",
        "random bytes": root / "random.bin",
    }.get(case) or files[case][kind]


@pytest.mark.parametrize("case", BAD_INPUTS)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_bad_input_is_one_line_and_exit_2(command, case, files, tmp_path):
    kind, argv = COMMANDS[command]
    if case == "unwritable output":
        if command in NO_OUTPUT:
            pytest.skip(f"{command} writes no file")
        inp, out = files[kind], files["root"] / "a-file" / "out.x"  # a folder that cannot exist
    else:
        inp, out = bad_input(files, kind, case), tmp_path / "out.png"
    suffix = {"compress": ".nerv", "rd": ".json", "export": ".mp4", "bench": ".json"}.get(command, ".png")
    out = out.with_suffix(suffix) if command not in ("fit", "study", "batch") else out.with_suffix("")
    before = {p: p.read_bytes() for p in files["root"].rglob("*") if p.is_file()}
    args = [str(a).replace("{video}", str(files["video"])) for a in argv(inp, out)]
    line = assert_one_line_error(nervplayer(*args))
    print(f"\n| {command} | {case} | {line} |")
    assert {p: p.read_bytes() for p in files["root"].rglob("*") if p.is_file()} == before
    assert not out.exists()


def test_mistyped_subcommand_gets_a_suggestion(tmp_path):
    line = assert_one_line_error(nervplayer("fti", cwd=tmp_path))
    assert line == "nervplayer: error: unknown command 'fti' (did you mean 'fit'?)"
    assert "did you mean 'compress'" in assert_one_line_error(nervplayer("compres", cwd=tmp_path))


def test_player_without_a_display_is_one_line(tmp_path, shapes_clip):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, "-m", "nervplayer", str(shapes_clip)], capture_output=True, text=True, env=env, timeout=120
    )
    if sys.platform.startswith("linux"):
        assert "needs a display" in assert_one_line_error(result)


def test_plugins_closed_pipe_is_quiet():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = f"{sys.executable} -m nervplayer plugins | head -1; exit ${{PIPESTATUS[0]}}"
    result = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.startswith("built-in folder:")


def test_plugins_listing_headings_and_natural_order():
    out = nervplayer("plugins").stdout
    assert "losses:" in out and "losss" not in out and "activations:" in out and "schedulers:" in out
    fusions = [line.split()[0] for line in out.splitlines() if line.strip().startswith("fusion")]
    assert fusions == [f"fusion{i}" for i in range(1, 13)]


def test_a_bug_is_one_line_with_a_log_file_and_debug_shows_the_traceback(tmp_path):
    """A failure that is not the user's (here: info's main raising ZeroDivisionError)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_STATE_HOME": str(tmp_path / "state")}
    code = (
        "import sys, nervplayer.cli.info as info; info.main = lambda argv: 1 / 0; "
        "from nervplayer.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "info", "x.nerv"], capture_output=True, text=True, env=env, timeout=120
    )
    line = assert_one_line_error(result, code=1)
    assert "this is a bug in nervplayer (ZeroDivisionError" in line
    logs = list((tmp_path / "state").rglob("crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in line
    assert "Traceback" in logs[0].read_text() and "ZeroDivisionError" in logs[0].read_text()
    debug = subprocess.run(
        [sys.executable, "-c", code, "info", "x.nerv", "--debug"], capture_output=True, text=True, env=env, timeout=120
    )
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ZeroDivisionError" in debug.stderr


def test_fit_option_errors_are_caught_before_decoding(files, tmp_path):
    """The issue's examples: each is one line, exit 2, and no run folder is left behind."""
    cases = {
        ("--model", "strides=5"): "model strides must be a list",
        ("--model", "fc_c=0"): "parameter 'fc_c' must be in",
        ("--model", "nope=1"): "has no parameter 'nope'",
        ("--lr", "0"): "learning rate must be positive",
        ("--batch-size", "0"): "batch size must be at least 1",
        ("--scale", "-1"): "scale must be positive",
        ("--frames", "5:3"): "is empty",
        ("--model", "strides=[64]"): "model strides must be",
    }
    for args, message in cases.items():
        out = tmp_path / "run"
        line = assert_one_line_error(nervplayer("fit", files["video"], "-o", out, "--arch", "nerv", *args))
        assert message in line, line
        assert not out.exists()


def test_resume_of_a_finished_run_says_complete_and_epochs_extends(files, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(files["run"], run)
    line = assert_one_line_error(nervplayer("fit", "-o", run, "--resume"))
    assert "is complete: 1 of 1 epochs done" in line and "--epochs N" in line
    result = nervplayer("fit", "-o", run, "--resume", "--epochs", "2")
    assert result.returncode == 0, result.stderr
    assert "done: 2 epochs" in result.stdout
    import json

    assert json.loads((run / "config.json").read_text())["fit"]["epochs"] == 2
    assert len((run / "metrics.csv").read_text().strip().splitlines()) == 3  # header + one row per run


def test_bench_model_option_errors_are_one_line(tmp_path):
    """bench sizes the model as fit does (--arch, --preset, --params, --model): a bad value is one line, exit 2."""
    tiny = ["--size", "48x32", "--frames", "4", "--steps", "1", "--warmup", "0", "--no-decode", "--device", "cpu"]
    cases = {
        ("--arch", "nope"): "unknown model 'nope'; available:",
        ("--params", "0"): "a parameter count must be at least 1",
        ("--params", "lots"): "a parameter count looks like 300k",
        ("--params", "1G"): "is too large",
        ("--arch", "grid", "--preset", "nerv-s"): "unknown preset 'nerv-s'; available for model 'grid'",
        ("--arch", "hnerv", "--model", "fc_c=3"): "model 'hnerv' has no parameter 'fc_c'",
    }
    for args, message in cases.items():
        json_out = tmp_path / "bench.json"
        line = assert_one_line_error(nervplayer("bench", *args, *tiny, "--json", json_out, cwd=tmp_path))
        assert message in line, line
        assert not json_out.exists()
