"""Python's garbage collector kept off the event loop.

A full collection runs on whichever thread allocates, the GUI's too, and scans every container object that is
alive: with torch, Qt, pyqtgraph and the window loaded that is some 340,000 objects, 0.5-1 s on a loaded 2-core
machine (measured in the player with the sample open). Nearly all of them live as long as the app (modules,
functions, classes, type annotations), so once they exist they are moved out of the collector's sight with
``gc.freeze()``: after start-up, after a file has opened and after a fit has started (which import more of torch
and build models). A full collection then scans only what was made since. The price: a reference cycle that was
already garbage when frozen is never freed (what is freed by reference counting still is).
"""

from __future__ import annotations

import gc


def freeze_long_lived() -> None:
    """Move every object alive now out of the garbage collector's scans (cheap: no scan, a list splice)."""
    gc.freeze()
