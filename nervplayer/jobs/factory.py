"""The executor the command line asks for (``--workers``, ``--cluster``, ``RAY_ADDRESS``)."""

from __future__ import annotations

import os

from ..errors import ConfigError
from . import Executor, default_workers
from .cluster import RayExecutor
from .local import LocalExecutor


def executor_for(workers: int | None = None, cluster: str | None = None) -> Executor:
    """The executor the CLI's options ask for: ``--cluster auto|ADDRESS`` (or ``RAY_ADDRESS`` when neither option
    is given) is a Ray cluster; otherwise ``--workers N`` local worker processes (default :func:`default_workers`).
    A cluster is connected to here, so a bad address fails before any work starts."""
    if workers is not None and cluster is not None:
        raise ConfigError("--workers is for this machine and --cluster for a Ray cluster: give one of them")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if cluster is None and workers is None:
        cluster = os.environ.get("RAY_ADDRESS") or None
    if cluster is not None:
        return RayExecutor(cluster)
    return LocalExecutor(workers if workers is not None else default_workers())
