"""Studies: the classic NeRV experiments (epochs, lr, MLP size, activation, loss, schedule, stride, resolution,
clip length, architecture), each a set of normal run folders with a summary CSV, JSON and plot.

``list_studies()`` names them; ``StudyRunner(get_study(name), base_config, out_dir).run()`` runs one as a
generator of events (resumable: finished runs are never refitted).
"""

from __future__ import annotations

from .catalogue import STUDIES, Study, Variant, get_study, list_studies, split_values
from .runner import RunSkipped, RunStarting, StudyEvent, StudyFinished, StudyRunner, quick_config
from .summary import StudyOutputs, collect, open_study, write_outputs

__all__ = [
    "STUDIES",
    "Study",
    "Variant",
    "get_study",
    "list_studies",
    "split_values",
    "StudyRunner",
    "StudyEvent",
    "RunStarting",
    "RunSkipped",
    "StudyFinished",
    "StudyOutputs",
    "quick_config",
    "collect",
    "open_study",
    "write_outputs",
]
