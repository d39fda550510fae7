"""Rate control: the best file under a size, or the smallest file that reaches a quality, from one fitted model.

Strategy (no refit). Rate settles with the fit, so what is left to choose after it is how the weights are
written: the bit width, the pruning ratio, and the quantization step within a width. The step is the continuous
knob: an affine range widened ``spread`` times about its centre (1 ≤ spread ≤ 2) gives a step between the
width's own and the next lower width's, so the widths' curves tile the whole range of sizes, weights and latents
alike (a grid's latents cannot be pruned; pruning alone would leave gaps a cap falls into). A rate-aware fit's
learned steps are scaled instead (``2^knob`` times, coarser only).

A :class:`Curve` is one such knob from its largest file to its smallest; a family is a list of curves, largest
first, tiling sizes (one family per pruning ratio: widths 12 down to 3). Per family:

- a size cap: a binary search over the curves' largest files finds the curve the cap falls in, then a bisection
  of its knob finds the largest file under the cap, stopping once it is within :data:`AIM` of it; the family's
  file enters the choice when it lands within :data:`WINDOW` under the cap, and among those the best PSNR wins;
- a PSNR: the same two searches on quality (decreasing along every curve) find the coarsest setting that still
  reaches it; the smallest file of all families wins.

Every size is exact (the file is encoded: cheap); PSNR is measured by decoding :data:`SEARCH_FRAMES` frames
spread over the clip; the caller checks the chosen file on every frame and searches again, with the margin it
saw, where the check fails. A target no family meets is a :class:`TargetUnreachable` naming the closest value
the model reaches. Fine-tuning, where pruning asks for it, happens once, at the chosen ratio, by the caller,
which then searches the widths and steps again on the tuned weights with that ratio kept.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from ..atomic import atomic_write_text
from ..errors import ConfigError
from .container import MAX_FILE_BYTES
from .quantize import MIN_BITS

TARGET_FILE = "target.json"  # in a run folder: the target `fit --target-*` asked for, applied by compress
WINDOW = 0.03  # a size target is met by a file within 3 % under it
AIM = 0.012  # the bisection stops once a file is this close under the cap (room for the header's final numbers)
SEARCH_FRAMES = 16
WIDTHS = tuple(range(12, MIN_BITS, -1))  # 12 down to 3 bits: 2 bits ruins any model, above 12 nothing is gained
PRUNE_LEVELS = (0.0, 0.2, 0.4, 0.6)
MAX_PRUNE = 0.95
MAX_SPREAD_LOG2 = 1.0  # spread 1..2: from one width's step to (about) the next lower width's
MAX_STEP_SCALE_LOG2 = 5.0  # learned steps up to 32 times coarser
MAX_PSNR = 100.0
MAX_BPP = 48.0  # twice raw 8-bit RGB

# Units of --target-size (case-insensitive): SI prefixes are powers of 1000, the IEC "i" ones powers of 1024.
SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
}
SIZE_HELP = "bytes: 150000B, 200KB or 200k (1 KB = 1000 bytes), 2MiB (1 MiB = 1048576 bytes), MB, GB, KiB, GiB"
_SIZE = re.compile(r"(\d+(?:\.\d+)?)([a-zA-Z]*)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")

Kind = Literal["size", "bpp", "psnr"]


class TargetUnreachable(ConfigError):
    """This model cannot write a file that meets the target (the message names the closest it reaches)."""


@dataclass(frozen=True)
class Target:
    """What the user asked for: a size cap (bytes or bits per pixel) or a PSNR to reach (dB, on the clip)."""

    kind: Kind
    value: float

    def label(self) -> str:
        if self.kind == "size":
            return f"{self.value:,.0f} bytes"
        if self.kind == "bpp":
            return f"{self.value:g} bpp"
        return f"PSNR {self.value:g} dB"

    def text(self) -> str:
        """The target as :func:`parse_target` reads it (a form's field): ``20000B``, ``bpp:0.05``, ``psnr:32``."""
        if self.kind == "size":
            return f"{self.value:.0f}B"
        return f"{self.kind}:{self.value:g}"

    def cap(self, pixels: int) -> int | None:
        """The size cap in bytes for a clip of ``pixels`` (frames × height × width); None for a PSNR target."""
        if self.kind == "size":
            return int(self.value)
        if self.kind == "bpp":
            return math.floor(self.value * pixels / 8)
        return None

    def to_dict(self) -> dict[str, float | str]:
        return {"kind": self.kind, "value": self.value}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Target:
        kind, value = d.get("kind"), d.get("value")
        if kind not in ("size", "bpp", "psnr") or not isinstance(value, (int, float)):
            raise ConfigError(f"not a rate target: {d!r}")
        return _checked(cls(kind, float(value)))


def summary(target: Target, file_bytes: int, bpp: float, psnr: float | None) -> str:
    """``requested X · achieved Y (…)``, Y in X's unit."""
    quality = f"PSNR {psnr:.2f} dB" if psnr is not None else "PSNR not measured"
    if target.kind == "psnr":
        return f"requested {target.label()} · achieved {quality} ({file_bytes:,} bytes, {bpp:.4f} bpp)"
    got = f"{file_bytes:,} bytes" if target.kind == "size" else f"{bpp:.4f} bpp"
    return f"requested {target.label()} · achieved {got} ({quality})"


def record_target(run_dir: Path, target: Target) -> None:
    """Remember ``fit``'s target in its run folder, for the compression of the run."""
    atomic_write_text(run_dir / TARGET_FILE, json.dumps(target.to_dict()) + "\n")


def recorded_target(run_dir: Path) -> Target | None:
    """The target recorded by ``fit`` in ``run_dir``, if any."""
    path = run_dir / TARGET_FILE
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        raise ConfigError(f"{path} is damaged: delete it, or give the target again") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} is damaged: delete it, or give the target again")
    return Target.from_dict(raw)


def parse_size(text: str) -> int:
    """``200KB`` → 200000, ``2MiB`` → 2097152, ``2000k`` → 2000000, ``150000B`` → 150000 (see :data:`SIZE_UNITS`)."""
    m = _SIZE.fullmatch(text.strip())
    unit = m.group(2).lower() if m else ""
    if m is None or unit not in SIZE_UNITS:
        raise ConfigError(f"not a size: {text!r}; sizes are {SIZE_HELP}")
    size = math.floor(float(m.group(1)) * SIZE_UNITS[unit])
    if size < 1:
        raise ConfigError(f"a size target must be at least 1 byte, got {text!r}")
    if size > MAX_FILE_BYTES:
        raise ConfigError(f"a size target must be at most {MAX_FILE_BYTES:,} bytes (the largest .nerv), got {text!r}")
    return size


def _positive(text: str, what: str, top: float) -> float:
    if _NUMBER.fullmatch(text.strip()) is None:
        raise ConfigError(f"{what} must be a plain positive number, got {text!r}")
    value = float(text)
    if not 0 < value <= top:
        raise ConfigError(f"{what} must be above 0 and at most {top:g}, got {text!r}")
    return value


def _checked(target: Target) -> Target:
    if target.kind == "size":
        if not 1 <= target.value <= MAX_FILE_BYTES:
            raise ConfigError(f"a size target must be 1 to {MAX_FILE_BYTES:,} bytes, got {target.value:g}")
    elif not 0 < target.value <= (MAX_BPP if target.kind == "bpp" else MAX_PSNR):
        raise ConfigError(f"not a valid {target.kind} target: {target.value:g}")
    return target


def size_target(text: str) -> Target:
    return Target("size", parse_size(text))


def bpp_target(text: str) -> Target:
    return Target("bpp", _positive(text, "a bits-per-pixel target", MAX_BPP))


def psnr_target(text: str) -> Target:
    return Target("psnr", _positive(text, "a PSNR target (dB)", MAX_PSNR))


def parse_target(text: str) -> Target:
    """One target of ``rd --targets`` or the GUI: ``200KB`` (a size), ``bpp:0.05``, ``psnr:32``."""
    kind, sep, value = text.strip().partition(":")
    if not sep:
        return size_target(text)
    parsers = {"size": size_target, "bpp": bpp_target, "psnr": psnr_target}
    if kind.lower() not in parsers:
        raise ConfigError(f"a target is SIZE, bpp:VALUE or psnr:DB, got {text!r}")
    return parsers[kind.lower()](value)


@dataclass(frozen=True)
class Setting:
    """How a file is written: ``bits`` per value (None: a rate-aware fit's learned steps), the pruning ratio, and
    ``knob``: log2 of the affine range's spread, or of the learned steps' scale."""

    bits: int | None
    prune: float
    knob: float = 0.0

    def describe(self) -> str:
        if self.bits is None:
            return f"learned steps × {2**self.knob:.3f}"
        out = f"{self.bits} bits, {self.prune:.1%} pruned"
        return out + (f", step × {2**self.knob:.3f}" if self.knob else "")


@dataclass(frozen=True)
class Curve:
    """Settings from the largest file (``knob = lo``) to the smallest (``knob = hi``); ``tolerance``: the knob's
    resolution in a PSNR search."""

    bits: int | None
    prune: float
    knob: Literal["prune", "spread", "step"]
    lo: float
    hi: float
    tolerance: float

    def at(self, x: float) -> Setting:
        if self.knob == "prune":
            return Setting(self.bits, x)
        return Setting(self.bits, self.prune, x)


def families(bits: int | None = None, prune: float | None = None, learned: bool = False) -> list[list[Curve]]:
    """The searched settings: every width and step at each pruning ratio; with ``bits`` fixed, the step and the
    pruning ratio at that width; with ``prune`` fixed, every width and step at that ratio (a ``prune`` with ``bits``:
    pruning from that ratio up); a rate-aware fit's step scale."""
    if learned:
        return [[Curve(None, 0.0, "step", 0.0, MAX_STEP_SCALE_LOG2, 0.02)]]
    levels = PRUNE_LEVELS if prune is None else (prune,)
    if bits is not None:  # the step within the width at each ratio, and pruning beyond it (where weights prune)
        steps = [[Curve(bits, p, "spread", 0.0, MAX_SPREAD_LOG2, 0.01)] for p in levels]
        return [[Curve(bits, 0.0, "prune", prune or 0.0, MAX_PRUNE, 0.005)], *steps]
    return [[Curve(b, p, "spread", 0.0, MAX_SPREAD_LOG2, 0.01) for b in WIDTHS] for p in levels]


@dataclass
class Trial:
    setting: Setting
    bytes: int
    psnr: float | None = None


SizeOf = Callable[[Setting], "int | None"]  # exact file bytes; None where the setting cannot be written
QualityOf = Callable[[Setting], float]  # mean PSNR (dB) on the search frames


class RateSearch:
    """Searches ``families`` (see :func:`families`) with ``size`` and ``quality`` (each setting measured once)."""

    def __init__(self, families: list[list[Curve]], size: SizeOf, quality: QualityOf) -> None:
        self.families = families
        self._size_of, self._quality_of = size, quality
        self._sizes: dict[Setting, int | None] = {}
        self._psnrs: dict[Setting, float] = {}

    @property
    def trials(self) -> int:
        """Settings encoded or decoded so far."""
        return len(self._sizes.keys() | self._psnrs.keys())

    def size(self, s: Setting) -> float:
        if s not in self._sizes:
            self._sizes[s] = self._size_of(s)
        got = self._sizes[s]
        return math.inf if got is None else got

    def psnr(self, s: Setting) -> float:
        if s not in self._psnrs:
            self._psnrs[s] = self._quality_of(s)
        return self._psnrs[s]

    def trial(self, s: Setting) -> Trial:
        return Trial(s, int(self.size(s)), self.psnr(s))

    def cap(self, cap: int, label: str) -> Trial:
        """The best-PSNR file within :data:`WINDOW` under ``cap`` bytes."""
        found = [t for t in (self._under(f, cap) for f in self.families) if t is not None]
        landed = [t for t in found if t.bytes >= (1 - WINDOW) * cap]
        if landed:
            return max(landed, key=lambda t: self.psnr(t.setting))
        smallest = min(self.size(f[-1].at(f[-1].hi)) for f in self.families)
        largest = max((self.size(f[0].at(f[0].lo)) for f in self.families), default=math.inf)
        if smallest > cap:
            raise TargetUnreachable(
                f"{label} cannot be met by this model: its smallest file is {smallest:,.0f} bytes; nothing written"
            )
        if largest < (1 - WINDOW) * cap:
            raise TargetUnreachable(
                f"{label} cannot be met by this model: its largest file is {largest:,.0f} bytes (more bits "
                f"buy nothing); ask for at most {largest:,.0f} bytes; nothing written"
            )
        closest = max(t.bytes for t in found)
        raise TargetUnreachable(
            f"{label} cannot be met within {WINDOW:.0%} by this model: the closest file under it is "
            f"{closest:,} bytes; nothing written"
        )

    def _under(self, family: list[Curve], cap: int) -> Trial | None:
        """The family's largest file under ``cap`` (None where even its smallest is larger)."""
        last = family[-1]
        if self.size(last.at(last.hi)) > cap:
            return None
        if self.size(family[0].at(family[0].lo)) <= cap:
            return Trial(family[0].at(family[0].lo), int(self.size(family[0].at(family[0].lo))))
        # curves whose largest file is over the cap: a prefix; the cap falls in the last of them
        i, j = 0, len(family)  # family[i] starts over the cap; family[j] (if any) starts under it
        while j - i > 1:
            k = (i + j) // 2
            if self.size(family[k].at(family[k].lo)) > cap:
                i = k
            else:
                j = k
        curve = family[i]
        if self.size(curve.at(curve.hi)) > cap:  # the cap falls between this curve's end and the next one's start
            s = family[j].at(family[j].lo)
            return Trial(s, int(self.size(s)))
        a, b = curve.lo, curve.hi  # size(a) > cap >= size(b)
        for _ in range(40):
            if self.size(curve.at(b)) >= (1 - AIM) * cap or b - a < 1e-6:
                break
            m = (a + b) / 2
            if self.size(curve.at(m)) > cap:
                a = m
            else:
                b = m
        return Trial(curve.at(b), int(self.size(curve.at(b))))

    def reach(self, psnr: float, label: str) -> Trial:
        """The smallest file whose PSNR on the search frames is at least ``psnr``."""
        found = [t for t in (self._reaching(f, psnr) for f in self.families) if t is not None]
        if found:
            return min(found, key=lambda t: t.bytes)
        best = max(self.psnr(f[0].at(f[0].lo)) for f in self.families)
        raise TargetUnreachable(
            f"{label} cannot be met by this model: the best it reaches is {best:.2f} dB; nothing written"
        )

    def _reaching(self, family: list[Curve], psnr: float) -> Trial | None:
        if self.psnr(family[0].at(family[0].lo)) < psnr:
            return None
        i, j = 0, len(family)  # family[i] starts at or above the target; family[j] (if any) below it
        while j - i > 1:
            k = (i + j) // 2
            if self.psnr(family[k].at(family[k].lo)) >= psnr:
                i = k
            else:
                j = k
        curve = family[i]
        a, b = curve.lo, curve.hi  # psnr(a) >= target
        if self.psnr(curve.at(b)) >= psnr:
            a = b
        while b - a > curve.tolerance:
            m = (a + b) / 2
            if self.psnr(curve.at(m)) >= psnr:
                a = m
            else:
                b = m
        s = curve.at(a)
        if self.size(s) == math.inf:
            return None
        return self.trial(s)

    def run(self, target: Target, pixels: int) -> Trial:
        cap = target.cap(pixels)
        if cap is None:
            return self.reach(target.value, f"requested {target.label()}")
        return self.cap(cap, f"requested {target.label()}")
