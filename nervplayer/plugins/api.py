"""The API plugin authors write against. A plugin module defines ``register(r: Registrar) -> None``.

Four kinds of plugins, one registry each:

* ``activation``: ``factory(**params) -> torch.nn.Module`` (elementwise).
* ``loss``: ``factory(**params) -> fn(pred, target) -> scalar tensor``; pred and target are float
  tensors [B, 3, H, W] in [0, 1].
* ``scheduler``: ``factory(**params) -> fn(epoch, total_epochs, base_lr) -> lr``, where ``epoch`` is the
  fractional epoch of the current iteration. Schedules are pure functions of progress, so resuming is exact.
* ``model``: ``factory() -> ModelArchitecture`` (below): a network family that sizes itself to a frame size and
  a parameter budget, builds the network, and says what a ``.nerv`` stores and what decoding costs. Its declared
  params are checked (names, types, ranges) before any clip is decoded and reach ``configure``. docs/models.md
  has a worked example.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol

API_VERSION = 1

Kind = Literal["activation", "loss", "scheduler", "model"]
KINDS: tuple[Kind, ...] = ("activation", "loss", "scheduler", "model")


@dataclass(frozen=True)
class Param:
    """One parameter of a plugin's factory; a GUI builds a form field from it."""

    name: str
    default: Any
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    kind: type | None = None  # the value's type when the default does not show it (a default of None)

    @property
    def type(self) -> type:
        return self.kind or type(self.default)


@dataclass(frozen=True)
class PluginEntry:
    """A registered activation, loss, scheduler or model."""

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

    def model(
        self,
        id: str,
        factory: Callable[..., Any],
        *,
        description: str,
        params: tuple[Param, ...] | list[Param] = (),
        version: str = "1.0",
        aliases: tuple[str, ...] = (),
    ) -> None: ...


@dataclass(frozen=True)
class Frames:
    """The clip a model is built for: frame size and frame count (content-adaptive models store per-frame data)."""

    height: int
    width: int
    num_frames: int


class ModelArchitecture:
    """What a ``model`` plugin's factory returns. Subclass it; the defaults suit a plain weights-only network.

    The network is a ``torch.nn.Module`` whose ``forward(t)`` maps normalised frame indices ``t = index / N``
    (float tensor [B]; a fractional index decodes between frames) to frames [B, 3, height, width] in [0, 1].
    Everything a ``.nerv`` stores is in its ``state_dict`` (parameters, and buffers for per-frame latents).

    A content-adaptive network (its module sets ``content_adaptive = True``) computes per-frame latents from the
    frames: ``forward(t, frames=..., quantize=...)`` is the training forward, which sees the target frames (float
    [B, 3, H, W]) and passes every stored latent it computes through ``quantize(name, tensor)`` (or keeps it as
    is when ``quantize`` is None); ``encode_latents(t, frames, quantize)`` writes the (quantized) latents of those
    frames into the buffers ``forward(t)`` reads. The trainer encodes every frame before it evaluates or saves.

    A network whose frames each read a few time slices of a latent tensor (a grid's levels) may say which:
    ``latent_windows(t)`` returns, per such parameter (state-dict name), the slices ``(start, stop)`` along its first
    dimension that frames ``t`` read, and ``forward(t, windows={name: start})`` must then accept those parameters
    cut to their windows and give the same frames. A rate-aware fit quantizes and rates only the windows in a
    training step (train/window.py): a fraction of the work where a step reads two slices of many.
    """

    #: named sizes: preset name → params
    presets: dict[str, dict[str, Any]] = {}
    default_preset: str | None = None
    #: the training this architecture fits best with, where the user sets none: any of ``lr``, ``qat``,
    #: ``rate_lambda`` (a rate term needs ``qat``) and ``loss``; the rest is the paper's recipe (train/recipe.py)
    recipe: dict[str, Any] = {}

    def configure(self, frames: Frames, params: dict[str, Any], scale: float = 1.0) -> dict[str, Any]:
        """The complete, JSON-serialisable config of the network for ``frames``.

        ``params`` holds only the parameters the user gave (already checked against the declared types and
        ranges), over the preset's. ``scale`` > 0 grows the network (1 = as given); the parameter count must
        grow with it, because sizing to a budget searches over it. Raise ``ValueError`` for an impossible
        combination.
        """
        raise NotImplementedError

    def check(self, frames: Frames, config: dict[str, Any]) -> None:
        """Validate a complete config read back from a file (a ``.nerv`` header), before anything is built.

        The declared params present in ``config`` have already been checked against their declared kinds and
        ranges; check the rest here: raise ``ValueError`` naming the key for a missing key, a value of the wrong
        type, or one that would make ``build`` slow or huge (a file is a few KB; building must stay cheap).
        Default: nothing more.
        """

    def build(self, frames: Frames, config: dict[str, Any], activation: Callable[[], Any]) -> Any:
        """The network (a ``torch.nn.Module``) for ``config``; ``activation()`` makes one activation module."""
        raise NotImplementedError

    def macs_per_pixel(self, frames: Frames, config: dict[str, Any]) -> float:
        """Multiply-adds per output pixel of one decoded frame (``forward``, not the training encoder)."""
        raise NotImplementedError

    def stored(self, model: Any) -> dict[str, str]:
        """State-dict entries a ``.nerv`` holds, name → ``"weights"`` or ``"latents"``. Default: every parameter.

        Latents are per-frame data (their first dimension is the frame count); each stored tensor gets its own
        quantization step and entropy model. Entries left out (a training-only encoder) are not saved.
        """
        return {name: "weights" for name, _ in model.named_parameters()}

    def prunable(self, model: Any) -> list[str]:
        """Weights magnitude pruning may zero. Default: every stored weight with two or more dimensions."""
        stored = self.stored(model)
        return [n for n, p in model.named_parameters() if stored.get(n) == "weights" and p.dim() >= 2]


def __getattr__(name: str) -> Any:
    # Metric helpers plugins may use (SSIM and MS-SSIM that also work on small frames), imported lazily
    # so that reading this module does not import torch.
    if name in ("ssim", "ms_ssim"):
        from .. import metrics

        return getattr(metrics, name)
    raise AttributeError(name)
