"""The PySide6 desktop player: windows and widgets over the headless core (no model logic here).

pyqtgraph prefers PyQt6 when both bindings are installed, so the binding is pinned before anything imports it.
"""

import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
