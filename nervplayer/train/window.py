"""Rate-aware training steps that touch only the time slices a batch reads.

A grid's frame reads two time slices of each level (linear interpolation in time), yet a rate-aware step used
to quantize every slice of every level and estimate the rate of all of them: on a 1.5M-value grid at 320×180
that was half the step. A model that says which slices frames read (``latent_windows(t)``, the plugin API) is
trained here on those alone: only they are quantized and passed to its forward (``windows``: the first slice of
each), and the rate term is the rate of their symbols (or temporal differences, as the file codes the tensor),
weighted so that its expectation over an epoch is the whole tensor's rate: slice t, read by ``count_t`` of the N
trained frames, counts ``N / (count_t · B)`` for each of the B frames of a batch that read it (under the file's
context model, train/contextrate.py, the slice before the window is read too, for its first slice's contexts).
Every slice's expected gradient is the one the whole-tensor step gave it; a step computes a few slices' worth.

The Laplace scale of each tensor and whether its file codes symbols or differences are whole-tensor statistics:
taken from the whole tensor every :data:`REFRESH` steps and kept in checkpoints, so a resumed fit repeats an
uninterrupted one. Soft-rounding steps, evaluations, decoding and saving still quantize whole tensors (the file
decodes what the last evaluation saw).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import torch
from torch import nn

from ..model.render import times
from .contextrate import ContextCode, fit_code, window_bits
from .laplace import LaplaceCode, closed_form, weighted_bits
from .rate import RateQuantizer, quantize_with_step

REFRESH = 16  # steps between two readings of each tensor's scale and coding
WindowsOf = Callable[[torch.Tensor], dict[str, tuple[int, int]]]  # a model's ``latent_windows``


@dataclasses.dataclass(frozen=True)
class Coding:
    """How the file codes a tensor at the last reading: its temporal differences or its symbols, and the
    closed form at their scale."""

    diffs: bool
    code: LaplaceCode | ContextCode


class LatentWindows:
    """The windowed tensors of one model (name → how many of the N trained frames read each slice)."""

    def __init__(
        self, model: nn.Module, windows_of: WindowsOf, counts: dict[str, torch.Tensor], num_frames: int, trained: int
    ) -> None:
        self.model, self.windows_of = model, windows_of
        self.counts = counts
        self.num_frames = num_frames
        self.trained = trained
        self.codings: dict[str, Coding] = {}
        self.calls = 0  # windowed steps taken (the refresh's clock)

    @classmethod
    def build(cls, model: nn.Module, trained: Sequence[float], num_frames: int) -> LatentWindows | None:
        """The windows of ``model`` trained on frames ``trained`` of ``num_frames`` (indices, fractional where
        a probe stands in for a clip); None where the model names none, or where a slice is read by no trained
        frame (it would get no rate gradient at all)."""
        windows_of = getattr(model, "latent_windows", None)
        if not callable(windows_of) or getattr(model, "content_adaptive", False) or not trained:
            return None
        params = dict(model.named_parameters())
        counts: dict[str, torch.Tensor] = {}
        for index in trained:
            for name, (start, stop) in windows_of(times([index], num_frames, "cpu")).items():
                counts.setdefault(name, torch.zeros(len(params[name])))[start:stop] += 1
        if not counts or any(bool((c == 0).any()) for c in counts.values()):
            return None
        return cls(model, windows_of, counts, num_frames, len(trained))

    def quantized(
        self, quantizer: RateQuantizer, indices: Sequence[int], rate: bool
    ) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
        """The fake-quantized tensors a training step on frames ``indices`` passes to the model (the windowed
        ones cut to the batch's windows) and each window's first slice; with ``rate``, the windows' weighted
        bits are counted in the quantizer's rate."""
        params = dict(self.model.named_parameters())
        if rate and (self.calls % REFRESH == 0 or not self.codings):
            self.refresh(quantizer, params)
        self.calls += 1
        frames = [self.windows_of(times([i], self.num_frames, "cpu")) for i in indices]
        tensors = quantizer.quantized_parameters(self.model, exclude=self.counts)
        starts = {}
        for name, count in self.counts.items():
            x, spans = params[name], [f[name] for f in frames]
            start, stop = min(s for s, _ in spans), max(e for _, e in spans)
            coding = self.codings.get(name) if rate else None
            # a difference needs the slice before; a context reads the symbol of the slice before
            extra = 0 if coding is None else int(coding.diffs) + isinstance(coding.code, ContextCode)
            first = max(start - extra, 0)
            x_hat, q = quantize_with_step(x[first:stop], quantizer.step(name))
            tensors[name], starts[name] = x_hat[start - first :].to(x.dtype), start
            if coding is None:
                continue
            if coding.diffs:
                q = torch.diff(q, dim=0, prepend=torch.zeros_like(q[:1])) if first == 0 else torch.diff(q, dim=0)
            weights = torch.zeros(stop - start)
            for s, e in spans:
                weights[s - start : e - start] += 1
            weights = (weights * self.trained / (count[start:stop] * len(indices))).to(q.device)
            if isinstance(coding.code, ContextCode):  # with the slice before, where there is one
                before = start > 0
                quantizer.add_bits(window_bits(q[len(q) - (stop - start) - before :], before, weights, coding.code))
            else:
                quantizer.add_bits(weighted_bits(q[len(q) - (stop - start) :], weights, coding.code))
        return tensors, starts

    @torch.no_grad()
    def refresh(self, quantizer: RateQuantizer, params: dict[str, nn.Parameter]) -> None:
        """Read each windowed tensor's scale and coding from the whole tensor (as ``_coded_bits`` chooses)."""
        for name in self.counts:
            estimate = fit_code if quantizer.contexts and quantizer.kinds[name] == "latents" else _laplace
            _, q = quantize_with_step(params[name], quantizer.step(name))
            bits, code = estimate(q)
            coding = Coding(False, code)
            if quantizer.temporal(name, q):
                diff_bits, diff_code = estimate(torch.diff(q, dim=0, prepend=torch.zeros_like(q[:1])))
                coding = Coding(True, diff_code) if diff_bits < bits else coding
            self.codings[name] = coding

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps: the clock and the last readings."""
        codings = {n: {"diffs": c.diffs, **dataclasses.asdict(c.code)} for n, c in self.codings.items()}
        return {"calls": self.calls, "codings": codings}

    def load(self, state: dict[str, Any] | None) -> None:
        """Back to a checkpoint's :meth:`state` (None: one written before windows, read afresh at the next step)."""
        state = state or {"calls": 0, "codings": {}}
        self.calls = int(state["calls"])
        self.codings = {n: _coding(c) for n, c in state["codings"].items()}


def _coding(state: dict[str, Any]) -> Coding:
    """A :class:`Coding` from its checkpoint form: per-context lists are a context model's, scalars a Laplace's."""
    fields = {k: v for k, v in state.items() if k != "diffs"}
    if "per_unit" in fields and isinstance(fields["per_unit"], (list, tuple)):
        code: LaplaceCode | ContextCode = ContextCode(tuple(fields["zero_bits"]), tuple(fields["per_unit"]))
    else:
        code = LaplaceCode(**fields)
    return Coding(bool(state["diffs"]), code)


def _laplace(q: torch.Tensor) -> tuple[float, LaplaceCode]:
    bits, code, _ = closed_form(q)
    return bits, code
