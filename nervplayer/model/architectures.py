"""Model plugins in use: choose an architecture, size it to a frame size and a parameter budget, build it.

This is what the trainer, the codec and a GUI call; the architectures themselves are ``model`` plugins
(:class:`~nervplayer.plugins.api.ModelArchitecture`, built-ins in ``plugins/models.py``). Everything here runs
without decoding a clip, so bad options fail before minutes of work. A GUI's fit form needs
:func:`list_models` (ids, descriptions, declared params, presets) and :func:`describe` (parameter count and
multiply-adds per pixel of a choice, for a frame size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..errors import ConfigError
from ..plugins import Registry, get_registry
from ..plugins.api import Frames, ModelArchitecture, Param, PluginEntry
from .spec import ModelSpec

TOLERANCE = 0.05  # a budget is met within ±5 %
_SCALES = [2 ** (i / 8) for i in range(-64, 65)]  # 1/256 … 256, 9 % apart, refined by bisection


@dataclass(frozen=True)
class ModelSummary:
    spec: ModelSpec
    params: int  # values a .nerv stores (weights and latents)
    macs_per_pixel: float


def list_models(plugins: Registry | None = None) -> list[PluginEntry]:
    """Every installed model plugin (``entry.params``: its declared parameters; ``presets(id)``: its sizes)."""
    return (plugins or get_registry()).entries("model")


def architecture(arch: str, plugins: Registry | None = None) -> tuple[PluginEntry, ModelArchitecture]:
    """The plugin entry and its architecture object; an unknown id lists the installed ones."""
    entry = (plugins or get_registry()).get("model", arch)
    return entry, entry.factory()


def presets(arch: str, plugins: Registry | None = None) -> list[str]:
    return list(architecture(arch, plugins)[1].presets)


def arch_of(arch: str | None, preset: str | None, default: str, plugins: Registry | None = None) -> str:
    """The architecture a fit asks for: ``arch`` when given (``preset``, when given, must be one of its), else the
    one architecture whose presets hold ``preset`` (``nerv-s`` → ``nerv``), else ``default``."""
    if arch is not None:
        if preset is not None and preset not in presets(arch, plugins):
            owner = arch_of(None, preset, "", plugins)
            whose = f"a preset of model {owner!r}" if owner else "not a preset of any installed model"
            raise ConfigError(
                f"preset {preset!r} is {whose}, not of {arch!r} (its presets: {', '.join(presets(arch, plugins))})"
            )
        return arch
    if preset is not None:
        owners = [e.id for e in list_models(plugins) if preset in presets(e.id, plugins)]
        if len(owners) == 1:
            return owners[0]
    return default


def parse_count(text: str) -> int:
    """``"300k"`` → 300000, ``"1.5M"`` → 1500000, ``"2e6"`` → 2000000."""
    t = text.strip().lower().replace("_", "").replace(",", "")
    factor = {"k": 1e3, "m": 1e6, "g": 1e9}.get(t[-1:], 1)
    try:
        value = float(t[:-1] if factor != 1 else t) * factor
    except ValueError:
        raise ConfigError(f"a parameter count looks like 300k, 1.5M or 250000; got {text!r}") from None
    if not math.isfinite(value) or value < 1:
        raise ConfigError(f"a parameter count must be at least 1, got {text!r}")
    return int(round(value))


def resolve(
    arch: str,
    frames: Frames,
    params: dict[str, Any] | None = None,
    preset: str | None = None,
    budget: int | None = None,
    activation: str = "silu",
    activation_params: dict[str, Any] | None = None,
    plugins: Registry | None = None,
    nearest: bool = False,
) -> ModelSpec:
    """The concrete network for a clip: the preset's params, overlaid with ``params`` (checked), sized to
    ``budget`` stored values (±5 %) when given; with ``nearest``, a budget out of the architecture's reach gives
    the nearest network it has (a default size is a wish, not the user's demand). Every failure is a
    :class:`ConfigError` or :class:`PluginError`."""
    plugins = plugins or get_registry()
    entry, impl = architecture(arch, plugins)
    given = plugins.check_params("model", entry.id, params)
    name = preset or impl.default_preset
    if name is not None and name not in impl.presets:
        raise ConfigError(
            f"unknown preset {name!r}; available for model {entry.id!r}: {', '.join(impl.presets) or 'none'}"
        )
    merged = {**(impl.presets[name] if name else {}), **given}
    act_params = plugins.resolve_params("activation", activation, activation_params)

    def spec_at(scale: float) -> ModelSpec:
        try:
            config = impl.configure(frames, dict(merged), scale)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"model {entry.id!r}: {e}") from None
        return ModelSpec(
            entry.id,
            entry.version,
            frames.height,
            frames.width,
            frames.num_frames,
            config,
            plugins.get("activation", activation).id,
            act_params,
        )

    if budget is None:
        return spec_at(1.0)
    return _size_to_budget(spec_at, budget, entry.id, frames, plugins, nearest)


def _size_to_budget(
    spec_at: Callable[[float], ModelSpec], budget: int, arch: str, frames: Frames, plugins: Registry, nearest: bool
) -> ModelSpec:
    """Search the architecture's scale for the stored-value count nearest ``budget``."""
    counts: dict[float, int] = {}  # the scales that build, in the order tried
    specs: dict[float, ModelSpec] = {}
    failed: set[float] = set()

    def count(scale: float) -> int | None:
        if scale not in counts and scale not in failed:
            try:
                spec = spec_at(scale)
                counts[scale], specs[scale] = stored_count(spec, plugins), spec
            except ConfigError:
                failed.add(scale)
        return counts.get(scale)

    feasible = []
    for s in _SCALES:  # counts grow with the scale: stop once well past the budget
        n = count(s)
        if n is not None:
            feasible.append(s)
            if n > 2 * budget:
                break
    if not feasible:
        spec_at(1.0)  # the reason the architecture gives at its own size, when it has one
        raise ConfigError(f"model {arch!r} cannot be built for {frames.width}x{frames.height}")
    below = [s for s in feasible if counts[s] <= budget]
    above = [s for s in feasible if counts[s] > budget]
    if below and above and max(below) < min(above):
        lo, hi = max(below), min(above)
        for _ in range(20):
            mid = math.sqrt(lo * hi)
            n = count(mid)
            if n is None:
                break
            lo, hi = (mid, hi) if n <= budget else (lo, mid)
    best = min(counts, key=lambda s: abs(counts[s] - budget))
    n, spec = counts[best], specs[best]
    if abs(n - budget) > TOLERANCE * budget and not nearest:
        smallest, largest = min(counts.values()), max(counts.values())
        if budget < smallest:
            why = f"too small: the smallest {arch!r} model there has {smallest:,} parameters"
        elif budget > largest:
            why = f"too large: the largest {arch!r} model there has {largest:,} parameters"
        else:
            why = f"not reachable within ±5 % (nearest: {n:,})"
        raise ConfigError(
            f"parameter budget {budget:,} for {frames.width}x{frames.height}, {frames.num_frames} frames is {why}"
        )
    return spec


def check_stored(spec: ModelSpec, plugins: Registry | None = None) -> None:
    """Check a spec read back from a file before anything is built, so that a hostile header costs no work: each
    config key the plugin declares as a parameter holds a value of that kind within its declared range (a number
    may be fractional: ``configure`` scales some), then the plugin's own :meth:`ModelArchitecture.check` covers
    the keys it derives. A failure is a ``ValueError`` naming the key."""
    entry, impl = architecture(spec.arch, plugins)
    for p in entry.params:
        if p.name in spec.config:
            _check_declared(p, spec.config[p.name])
    impl.check(spec.frames, dict(spec.config))


def _check_declared(p: Param, value: Any) -> None:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    kinds = {int: ("a number", number), float: ("a number", number), bool: ("true or false", isinstance(value, bool))}
    kinds |= {str: ("a string", isinstance(value, str)), list: ("a list", isinstance(value, list))}
    what, ok = kinds.get(p.type, ("", True))
    if not ok:
        raise ValueError(f"model {p.name} must be {what}, got {value!r}")
    if p.choices is not None and value not in p.choices:
        raise ValueError(f"model {p.name} must be one of {list(p.choices)}, got {value!r}")
    if number and not (
        math.isfinite(value) and (p.minimum is None or value >= p.minimum) and (p.maximum is None or value <= p.maximum)
    ):
        raise ValueError(f"model {p.name} = {value!r} is outside the plugin's limits [{p.minimum}, {p.maximum}]")


def build(spec: ModelSpec, plugins: Registry | None = None) -> nn.Module:
    """The network of ``spec`` (fresh weights) on the current default device."""
    plugins = plugins or get_registry()
    entry, impl = architecture(spec.arch, plugins)
    act = plugins.factory("activation", spec.activation, spec.activation_params)
    return impl.build(spec.frames, dict(spec.config), act)


def shapes(spec: ModelSpec, plugins: Registry | None = None) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """State-dict shapes of the whole network and what a ``.nerv`` stores of it (name → "weights" / "latents"),
    computed on the meta device: nothing is allocated."""
    impl = architecture(spec.arch, plugins)[1]
    with torch.device("meta"):
        model = build(spec, plugins)
    return {k: tuple(t.shape) for k, t in model.state_dict().items()}, impl.stored(model)


def content_adaptive(spec: ModelSpec, plugins: Registry | None = None) -> bool:
    """Whether the network of ``spec`` computes its latents from the frames (plugins/api.py), built on the meta
    device: nothing is allocated."""
    with torch.device("meta"):
        return bool(getattr(build(spec, plugins), "content_adaptive", False))


def stored_count(spec: ModelSpec, plugins: Registry | None = None) -> int:
    """Values a ``.nerv`` of ``spec`` stores: what a parameter budget counts."""
    all_shapes, stored = shapes(spec, plugins)
    return sum(math.prod(all_shapes[name]) for name in stored)


def macs_per_pixel(spec: ModelSpec, plugins: Registry | None = None) -> float:
    return float(architecture(spec.arch, plugins)[1].macs_per_pixel(spec.frames, dict(spec.config)))


def describe(
    arch: str,
    frames: Frames,
    params: dict[str, Any] | None = None,
    preset: str | None = None,
    budget: int | None = None,
    plugins: Registry | None = None,
) -> ModelSummary:
    """What the fit form shows before Start: the spec, its stored values and its decoding cost."""
    spec = resolve(arch, frames, params, preset, budget, plugins=plugins)
    return ModelSummary(spec, stored_count(spec, plugins), macs_per_pixel(spec, plugins))


def frame_bytes(spec: ModelSpec, plugins: Registry | None = None) -> int:
    """Peak bytes of decoding one frame of ``spec``: the largest input + output of any layer, from a dry run on
    the meta device (shapes only: nothing is allocated, so a huge declared frame costs nothing to check)."""
    from .render import times

    with torch.device("meta"):
        model = build(spec, plugins)
    peak = 0

    def measure(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        nonlocal peak
        tensors = [x for x in (*inputs, output) if isinstance(x, torch.Tensor)]
        peak = max(peak, sum(x.numel() * x.element_size() for x in tensors))

    handles = [m.register_forward_hook(measure) for m in model.modules()]
    try:
        with torch.no_grad():
            model(times([0.0], spec.num_frames, torch.device("meta")))
    finally:
        for handle in handles:
            handle.remove()
    return peak
