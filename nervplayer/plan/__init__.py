"""The planner: a time budget instead of knobs. Parse a duration, probe the step time on the device, and plan the
fit (architecture, model size, frame size, segment length, epochs, the compression's fine-tune) so that the whole
way to a playable ``.nerv`` fits the budget; print the plan before any long work and compare it with the result.
"""

from .budget import Planned, compress_options, expected_training, fit_config, outcome, plan_clip
from .duration import format_duration, parse_duration
from .planner import Plan, Request, plan
from .probe import Candidate, StepProbe, step_seconds

__all__ = [
    "Candidate",
    "Plan",
    "Planned",
    "Request",
    "StepProbe",
    "compress_options",
    "expected_training",
    "fit_config",
    "format_duration",
    "outcome",
    "parse_duration",
    "plan",
    "plan_clip",
    "step_seconds",
]
