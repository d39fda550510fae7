"""The API plugin authors write against. A plugin module defines ``register(r: Registrar) -> None``.

Three kinds of plugins, one registry each:

* ``activation``: ``factory(**params) -> torch.nn.Module`` (elementwise).
* ``loss``: ``factory(**params) -> fn(pred, target) -> scalar tensor``; pred and target are float
  tensors [B, 3, H, W] in [0, 1].
* ``scheduler``: ``factory(**params) -> fn(epoch, total_epochs, base_lr) -> lr``, where ``epoch`` is the
  fractional epoch of the current iteration. Schedules are pure functions of progress, so resuming is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol

API_VERSION = 1

Kind = Literal["activation", "loss", "scheduler"]
KINDS: tuple[Kind, ...] = ("activation", "loss", "scheduler")


@dataclass(frozen=True)
class Param:
    """One parameter of a plugin's factory; a GUI builds a form field from it."""

    name: str
    default: Any
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None

    @property
    def type(self) -> type:
        return type(self.default)


@dataclass(frozen=True)
class PluginEntry:
    """A registered activation, loss or scheduler."""

    kind: Kind
    id: str
    factory: Callable[..., Any]
    description: str
    params: tuple[Param, ...] = ()
    version: str = "1.0"
    api_version: int = API_VERSION
    source: str = "builtin"  # provenance: "builtin", "entry-point:<dist>", "user:<path>"
    module: str = ""
    aliases: tuple[str, ...] = field(default=())

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


class Registrar(Protocol):
    """What ``register(r)`` receives: one method per kind, all with the same signature."""

    def activation(
        self,
        id: str,
        factory: Callable[..., Any],
        *,
        description: str,
        params: tuple[Param, ...] | list[Param] = (),
        version: str = "1.0",
        aliases: tuple[str, ...] = (),
    ) -> None: ...

    def loss(
        self,
        id: str,
        factory: Callable[..., Any],
        *,
        description: str,
        params: tuple[Param, ...] | list[Param] = (),
        version: str = "1.0",
        aliases: tuple[str, ...] = (),
    ) -> None: ...

    def scheduler(
        self,
        id: str,
        factory: Callable[..., Any],
        *,
        description: str,
        params: tuple[Param, ...] | list[Param] = (),
        version: str = "1.0",
        aliases: tuple[str, ...] = (),
    ) -> None: ...


def __getattr__(name: str) -> Any:
    # Metric helpers plugins may use (SSIM and MS-SSIM that also work on small frames), imported lazily
    # so that reading this module does not import torch.
    if name in ("ssim", "ms_ssim"):
        from .. import metrics

        return getattr(metrics, name)
    raise AttributeError(name)
