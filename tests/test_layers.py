"""The headless core never imports Qt (napari-style import rule)."""
import pkgutil
import subprocess
import sys

import nervplayer

CORE = sorted(m.name for m in pkgutil.walk_packages(nervplayer.__path__, "nervplayer.")
              if not m.name.startswith("nervplayer.gui") and m.name != "nervplayer.__main__")


def test_core_modules_import_no_qt():
    assert "nervplayer.train.fit" in CORE and "nervplayer.cli.main" in CORE
    code = ("import sys\n" + "".join(f"import {m}\n" for m in CORE) +
            "from nervplayer.plugins import get_registry; get_registry()\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph'))\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
