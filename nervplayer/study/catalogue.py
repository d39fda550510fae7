"""The classic NeRV studies: each one a named list of fit variants over a common base configuration.

A study never trains anything itself: it turns a base :class:`~nervplayer.train.FitConfig` and an optional list
of values into :class:`Variant` s (field overrides of that config), each of which becomes a normal run folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import ConfigError
from ..train import FitConfig


@dataclass(frozen=True)
class Variant:
    """One run of a study: a folder name, a label for tables and plots, and the FitConfig fields it changes."""

    name: str
    label: str
    value: Any  # the x value in the plot (a number, or a category name)
    overrides: dict[str, Any] = field(default_factory=dict)
    group: str = ""  # variants of one group share a curve in the plot (the loss study has two)


@dataclass(frozen=True)
class Study:
    """A study's metadata (listed by ``nervplayer study --list``) and how it builds its variants."""

    name: str
    description: str
    axis: str  # what the x axis of the plot shows
    numeric: bool  # True: a curve over numeric values; False: one bar per category
    default_values: tuple[str, ...]
    build: Callable[[FitConfig, list[str]], list[Variant]]
    log_axis: bool = False

    def variants(self, base: FitConfig, values: list[str] | None = None) -> list[Variant]:
        """The runs of this study over ``base``; ``values`` replaces the default list."""
        chosen = list(values) if values else list(self.default_values)
        variants = self.build(base, chosen)
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            raise ConfigError(f"study {self.name}: the values {', '.join(chosen)} repeat a run")
        return variants


def _floats(values: list[str], what: str, positive: bool = True) -> list[float]:
    out = []
    for v in values:
        try:
            x = float(v)
        except ValueError:
            raise ConfigError(f"{what} must be numbers, got {v!r}") from None
        if positive and not x > 0:
            raise ConfigError(f"{what} must be positive, got {v!r}")
        out.append(x)
    return out


def _ints(values: list[str], what: str, minimum: int = 1) -> list[int]:
    out = []
    for v in values:
        try:
            x = int(v)
        except ValueError:
            raise ConfigError(f"{what} must be whole numbers, got {v!r}") from None
        if x < minimum:
            raise ConfigError(f"{what} must be at least {minimum}, got {v!r}")
        out.append(x)
    return out


def _epochs(base: FitConfig, values: list[str]) -> list[Variant]:
    # One long run; the summary reads its evaluations (at least ten along the way).
    every = max(1, min(base.eval_every, base.epochs // 10))
    return [Variant("run", f"{base.epochs} epochs", base.epochs, {"eval_every": every})]


def _lr(base: FitConfig, values: list[str]) -> list[Variant]:
    return [Variant(f"lr-{lr:g}", f"lr {lr:g}", lr, {"lr": lr}) for lr in _floats(values, "learning rates")]


def _mlp(base: FitConfig, values: list[str]) -> list[Variant]:
    return [
        Variant(f"fc_c-{c}", f"fc_c {c}", c, {"model": {**base.model, "fc_c": c}})
        for c in _ints(values, "MLP widths (fc_c)")
    ]


def _plugin_study(field_name: str) -> Callable[[FitConfig, list[str]], list[Variant]]:
    def build(base: FitConfig, values: list[str]) -> list[Variant]:
        return [Variant(v, v, v, {field_name: v, f"{field_name}_params": {}}) for v in values]

    return build


def _loss(base: FitConfig, values: list[str]) -> list[Variant]:
    """Named losses as categories; ``alpha=A`` values trace α·L1 + (1 − α)·(1 − SSIM) as a curve."""
    out = []
    for v in values:
        if v.startswith("alpha="):
            (a,) = _floats([v.partition("=")[2]], "loss weights α", positive=False)
            if not 0 <= a <= 1:
                raise ConfigError(f"loss weight α must be within [0, 1], got {a:g}")
            out.append(
                Variant(
                    f"l1-ssim-{a:g}",
                    f"α {a:g}",
                    a,
                    {"loss": "l1-ssim", "loss_params": {"alpha": a}},
                    group="α·L1 + (1−α)·(1−SSIM)",
                )
            )
        else:
            out.append(Variant(v, v, v, {"loss": v, "loss_params": {}}, group="loss"))
    return out


def _stride(base: FitConfig, values: list[str]) -> list[Variant]:
    return [
        Variant(f"stride-{k}", "every frame" if k == 1 else f"every {_ordinal(k)} frame", k, {"stride": k})
        for k in _ints(values, "frame strides")
    ]


def _resolution(base: FitConfig, values: list[str]) -> list[Variant]:
    """Values are scale factors of the source (``0.25``) or sizes (``320x180``)."""
    out = []
    for v in values:
        if "x" in v.lower():
            w, h = _ints(v.lower().split("x", 1), "frame sizes (WxH)")
            out.append(Variant(f"size-{w}x{h}", f"{w}×{h}", w * h, {"size": (h, w), "scale": None}))
        else:
            (s,) = _floats([v], "scales")
            out.append(Variant(f"scale-{s:g}", f"scale {s:g}", s, {"scale": s, "size": None}))
    return out


def _length(base: FitConfig, values: list[str]) -> list[Variant]:
    return [
        Variant(f"frames-{n}", f"{n} frames", n, {"start": base.start, "end": base.start + n})
        for n in _ints(values, "clip lengths", minimum=2)
    ]


ARCH_BUDGET = 300_000  # stored values per architecture in the arch study, unless --params says otherwise


def _arch(base: FitConfig, values: list[str]) -> list[Variant]:
    """Each architecture sized to the same budget of stored values (weights + latents)."""
    budget = base.budget or ARCH_BUDGET
    return [Variant(v, v, v, {"arch": v, "preset": None, "budget": budget, "model": {}}) for v in values]


STUDIES: dict[str, Study] = {
    s.name: s
    for s in [
        Study(
            "epochs",
            "PSNR / MS-SSIM along one long run (from its evaluations, no extra runs)",
            "epoch",
            True,
            (),
            _epochs,
        ),
        Study(
            "lr",
            "learning rate: 5e-4 vs 1e-3 vs 2e-4",
            "learning rate",
            True,
            ("5e-4", "1e-3", "2e-4"),
            _lr,
            log_axis=True,
        ),
        Study(
            "mlp",
            "MLP size: fc_c 14 / 26 / 36 / 56 (the reproduction's table)",
            "fc_c",
            True,
            ("14", "26", "36", "56"),
            _mlp,
        ),
        Study(
            "activation",
            "activation: ReLU / SiLU / softplus (any installed activation by id)",
            "activation",
            False,
            ("relu", "silu", "softplus"),
            _plugin_study("activation"),
        ),
        Study(
            "loss",
            "loss: Fusion6 vs SSIM-only, and a curve over α of α·L1 + (1−α)·(1−SSIM)",
            "loss / α",
            False,
            ("fusion6", "ssim", "alpha=0", "alpha=0.25", "alpha=0.5", "alpha=0.75", "alpha=1"),
            _loss,
        ),
        Study(
            "schedule",
            "LR schedule: warmup + cosine vs constant (any installed scheduler by id)",
            "scheduler",
            False,
            ("warmup-cosine", "constant"),
            _plugin_study("scheduler"),
        ),
        Study(
            "stride",
            "every second frame (seen and unseen frames scored apart) beside the full clip",
            "stride",
            True,
            ("1", "2"),
            _stride,
        ),
        Study(
            "resolution",
            "the same architecture at several frame sizes (scales or WxH)",
            "pixels per frame",
            True,
            ("0.125", "0.25", "0.5"),
            _resolution,
        ),
        Study(
            "length",
            "the same model on growing clip lengths (frames)",
            "frames",
            True,
            ("16", "32", "64", "128"),
            _length,
        ),
        Study(
            "arch",
            "the model architectures at equal parameter budgets (--params, default 300k)",
            "architecture",
            False,
            ("nerv", "hnerv", "grid"),
            _arch,
        ),
    ]
}


def split_values(text: str | None) -> list[str] | None:
    """``"5e-4, 1e-3"`` → ``["5e-4", "1e-3"]`` (``--values`` and the GUI's field); nothing given → None (the
    study's defaults)."""
    values = [v.strip() for v in (text or "").split(",") if v.strip()]
    return values or None


def list_studies() -> list[str]:
    return sorted(STUDIES)


def get_study(name: str) -> Study:
    try:
        return STUDIES[name]
    except KeyError:
        raise ConfigError(f"unknown study {name!r}; available: {', '.join(list_studies())}") from None


def _ordinal(k: int) -> str:
    """2 → "2nd", 3 → "3rd", 11 → "11th": the stride study's labels."""
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"
