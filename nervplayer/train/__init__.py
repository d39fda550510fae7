"""Training: the fit loop as a generator of events, its config, checkpoints, metrics and the run folder."""

from .config import FitConfig
from .events import Checkpointed, Evaluated, Event, Finished, Paused, Resumed, Started, Step
from .fit import Fitter, load_source
from .runfolder import Run, open_run

__all__ = [
    "FitConfig",
    "Fitter",
    "load_source",
    "Run",
    "open_run",
    "Event",
    "Started",
    "Step",
    "Evaluated",
    "Checkpointed",
    "Paused",
    "Resumed",
    "Finished",
]
