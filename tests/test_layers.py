"""The layers of docs/architecture.md as code: the import-linter contracts in pyproject.toml, and the headless core
never importing Qt (napari-style import rule)."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import nervplayer

CORE = sorted(
    m.name
    for m in pkgutil.walk_packages(nervplayer.__path__, "nervplayer.")
    if not m.name.startswith("nervplayer.gui") and m.name != "nervplayer.__main__"
)


def test_core_modules_import_no_qt():
    assert "nervplayer.train.fit" in CORE and "nervplayer.cli.main" in CORE
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in CORE)
        + "from nervplayer.plugins import get_registry; get_registry()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_import_contracts_hold():
    importlinter = pytest.importorskip("importlinter.cli")
    repo = Path(__file__).resolve().parents[1]
    assert importlinter.lint_imports(config_filename=str(repo / "pyproject.toml"), no_cache=True, no_logo=True) == 0
