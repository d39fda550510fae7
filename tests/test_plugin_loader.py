import re
import textwrap
from importlib import metadata
from pathlib import Path

from nervplayer import plugins
from nervplayer.plugins.loader import load_entry_points, load_folder, load_plugins
from nervplayer.plugins.registry import Registry
from nervplayer.train import Evaluated, FitConfig, Fitter

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"

GOOD = """
from torch import nn
from nervplayer.plugins.api import Param

def register(r):
    r.activation("tanhshrink", lambda: nn.Tanhshrink(), description="x - tanh(x)")
"""
FAILS_TO_IMPORT = "import a_module_that_does_not_exist\n"
FAILS_IN_REGISTER = """
def register(r):
    r.loss("half-ok", lambda: (lambda a, b: (a - b).abs().mean()), description="fine")
    raise RuntimeError("boom in register")
"""
DUPLICATE = """
from torch import nn
def register(r):
    r.activation("relu", lambda: nn.ReLU(), description="a second relu")
"""
BAD_SMOKE = """
def register(r):
    r.loss("not-a-scalar", lambda: (lambda a, b: a - b), description="returns a tensor, not a scalar")
"""


def write(folder: Path, name: str, code: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(code))


def test_good_failing_and_duplicate_plugins(tmp_path):
    user = tmp_path / "user"
    write(user, "good", GOOD)
    write(user, "broken_import", FAILS_TO_IMPORT)
    write(user, "broken_register", FAILS_IN_REGISTER)
    write(user, "dup", DUPLICATE)
    write(user, "bad_smoke", BAD_SMOKE)
    reg = load_plugins(user_dir=user)
    status = {r.name: r for r in reg.report}
    assert status["good"].status == "ok" and reg.get("activation", "tanhshrink").source.startswith("user:")
    broken = status["broken_import"]
    assert broken.status == "failed" and "a_module_that_does_not_exist" in broken.error
    assert status["broken_register"].status == "failed" and "boom in register" in status["broken_register"].error
    assert "half-ok" not in reg.ids("loss")  # all or nothing per module
    assert status["dup"].status == "failed" and "already registered" in status["dup"].error
    assert reg.get("activation", "relu").source == "builtin"
    assert status["bad_smoke"].status == "failed" and "scalar" in status["bad_smoke"].error
    assert {"activations", "losses", "schedulers"} <= {r.name for r in reg.report if r.status == "ok"}


def test_safe_mode_skips_user_plugins(tmp_path):
    write(tmp_path, "good", GOOD)
    reg = load_plugins(safe_mode=True, user_dir=tmp_path)
    assert "tanhshrink" not in reg.ids("activation")
    assert any(r.status == "skipped" for r in reg.report)


def test_entry_point_plugins_load_through_the_same_path(tmp_path, monkeypatch):
    pkg = tmp_path / "site"
    write(pkg, "ep_plugin", GOOD)
    monkeypatch.syspath_prepend(str(pkg))
    reg = Registry()
    ep = metadata.EntryPoint(name="ep", value="ep_plugin", group="nervplayer.plugins")
    load_entry_points(reg, [ep, metadata.EntryPoint(name="gone", value="missing_mod", group="nervplayer.plugins")])
    assert reg.get("activation", "tanhshrink").source.startswith("entry-point:")
    assert [r.status for r in reg.report] == ["ok", "failed"]


def test_builtins_load_under_a_private_module_name():
    import sys

    reg = Registry()
    load_folder(reg, plugins.builtin_plugin_dir(), "builtin")
    assert {e.module for e in reg.entries()} == {"activations", "losses", "models", "schedulers"}
    assert "nervplayer._loaded_plugins.builtin.activations" in sys.modules
    assert "plugins" not in sys.modules and "activations" not in sys.modules


def test_wheel_ships_builtins_inside_the_package(tmp_path):
    import subprocess
    import sys
    import zipfile

    repo = DOCS.parent.parent
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(repo),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    wheel = next(tmp_path.glob("nervplayer-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    # project.license is an SPDX expression (PEP 639): the build does not warn that the TOML table is deprecated
    assert "project.license" not in build.stdout + build.stderr, build.stdout + build.stderr
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in metadata.splitlines()
    assert "nervplayer/_builtin_plugins/activations.py" in names
    assert not [n for n in names if n.startswith("plugins/")]
    modules = {str(p.relative_to(repo)) for p in (repo / "nervplayer").rglob("*.py")}
    assert modules <= set(names), sorted(modules - set(names))
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    probe = (
        "from nervplayer.plugins import builtin_plugin_dir, get_registry; r = get_registry(); "
        "print(builtin_plugin_dir().name, len(r.ids('loss')), [x.status for x in r.report])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
        check=True,
    ).stdout
    assert out.startswith("_builtin_plugins 17") and "failed" not in out


def test_docs_worked_example_loads_and_trains(tmp_path, shapes_clip):
    code = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.S).group(1)
    write(tmp_path / "user", "gaussian", code)
    plugins.configure(user_dir=tmp_path / "user")
    reg = plugins.get_registry()
    assert {"gaussian", "charbonnier", "exponential"} <= set(
        reg.ids("activation") + reg.ids("loss") + reg.ids("scheduler")
    )
    cfg = FitConfig(
        video=str(shapes_clip),
        arch="nerv",
        preset="nerv-xs",
        epochs=2,
        activation="gaussian",
        activation_params={"sigma": 2.0},
        loss="charbonnier",
        scheduler="exponential",
        model={"stem_dim": 32, "fc_c": 4, "lower_width": 4},
    )
    evals = [e for e in Fitter(cfg).run() if isinstance(e, Evaluated)]
    assert evals and evals[-1].psnr > 5
