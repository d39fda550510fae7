"""Rate-aware training: every stored tensor is quantized in the forward pass with its own learned step, and an
entropy estimate of the quantized values can be added to the loss.

Quantization: ``q = clamp(round(x / s), −2^15, 2^15 − 1)`` and ``x̂ = q · s``, float32, with ``s = 2^log2_step``
learned per tensor (LSQ: the rounding is the identity in the backward pass, so ``s`` gets the gradient
``q − x / s``). The forward value is exactly ``q · s`` (the straight-through terms add an exact zero), so a
``.nerv`` that stores ``q`` and ``s`` decodes to exactly what training saw (see ``codec/stepquant.py``).

Rate: each tensor's symbols are modelled by a discretised Laplace density with the tensor's mean absolute
symbol as its scale (train/laplace.py); ``−Σ log2 P(q)`` is differentiable in the weights, the steps and the scale,
and tracks the size the entropy coder reaches (it codes against the exact histogram, which is never worse than the
fit). Stored latent tensors are priced as the file's context model codes them instead, symbol by symbol
(train/contextrate.py), unless the fit asks for the single Laplace (``rate_model="laplace"``).

A soft-rounding fit (train/softround.py) passes a training step's ``SoftRounding`` as ``rounding``: its symbols are
then continuous (soft-rounded, noisy), and the rate is estimated on them; ``rounding=None`` is the hard rounding.
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Any, Collection

import torch
from torch import nn

from .contextrate import context_bits
from .laplace import laplace_bits
from .softround import SoftRounding

QMIN, QMAX = -(1 << 15), (1 << 15) - 1
# Adam's learning rate of the log2 steps, whatever the model's: Adam moves a parameter by about its learning
# rate per iteration, so at a model's 5e-4..1e-3 a step could change by only ~1 bit in a thousand iterations and a
# short rate-aware fit never reached the widths its λ asks for. At 1e-2 a bit takes ~100 iterations. It follows
# the model's schedule (warmup, decay).
STEP_LR = 1e-2
LATENT_INIT_STEP = 1 / 16  # latents computed by an encoder have no values at build time to size a step from


def quantize_with_step(
    x: torch.Tensor, step: torch.Tensor, rounding: SoftRounding | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x̂, q): the fake-quantized tensor and its integer symbols (as floats), both differentiable; with a
    ``rounding``, soft-rounded noisy symbols instead of integers."""
    if rounding is None:
        x_hat, q = HardQuantize.apply(x.float(), step)
        return x_hat, q
    y = (x.float() / step).clamp(QMIN, QMAX)
    q = rounding(y)
    return q * step, q


class HardQuantize(torch.autograd.Function):
    """``q = round(clamp(x / s))``, ``x̂ = q · s``, with the straight-through gradient of LSQ written out: the
    rounding passes the gradient as the identity, the clamp stops it outside the range. A few passes over a
    tensor, where autograd's graph of the same took twice as many (a 1.5M-value grid quantizes every step)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.set_materialize_grads(False)
        y = x / step
        lo, hi = torch.aminmax(y) if y.numel() else (y.new_zeros(()), y.new_zeros(()))
        ctx.clamped = bool(lo < QMIN or hi > QMAX)
        # + 0 turns the −0 of a small negative value into the +0 that the file's integer gives back (a
        # zero's sign reaches the frames: a file decoded otherwise than training saw, in the last bit)
        q = torch.round(y.clamp(QMIN, QMAX) if ctx.clamped else y).add_(0.0)
        ctx.save_for_backward(y, q, step)
        return q * step, q

    @staticmethod
    def backward(
        ctx: Any, grad_x_hat: torch.Tensor | None, grad_q: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        y, q, step = ctx.saved_tensors
        grad_y = torch.zeros_like(y) if grad_x_hat is None else grad_x_hat * step
        if grad_q is not None:
            grad_y += grad_q
        if ctx.clamped:
            grad_y.masked_fill_((y < QMIN) | (y > QMAX), 0)
        grad_step = None
        if ctx.needs_input_grad[1]:  # ∂x̂/∂s = q directly, and −y/s through y = x/s
            direct = 0.0 if grad_x_hat is None else torch.dot(grad_x_hat.flatten(), q.flatten())
            grad_step = (direct - torch.dot(grad_y.flatten(), y.flatten()) / step).reshape(step.shape)
        grad_x = grad_y.div_(step) if ctx.needs_input_grad[0] else None
        return grad_x, grad_step


def _coded_bits(q: torch.Tensor, temporal: bool, integers: bool, contexts: bool) -> torch.Tensor:
    """Bits of a tensor's symbols as the file codes them: a latent tensor as the cheaper of its symbols and the
    differences of its consecutive slices (codec/latentcode.py), anything else as its symbols; with ``contexts``
    (a stored latent tensor of whole-number symbols) under the file's context model (train/contextrate.py)."""
    estimate = context_bits if contexts and integers else functools.partial(laplace_bits, integers=integers)
    bits = estimate(q)
    if not temporal:
        return bits
    return torch.minimum(bits, estimate(torch.diff(q, dim=0, prepend=torch.zeros_like(q[:1]))))


class RateQuantizer(nn.Module):
    """Learned steps for the stored tensors of one model, and the rate of what was quantized in a step."""

    def __init__(self, model: nn.Module, stored: dict[str, str], bits: int, contexts: bool = False) -> None:
        super().__init__()
        self.names = list(stored)
        self.kinds = dict(stored)
        state, params = model.state_dict(), dict(model.named_parameters())
        steps = {}
        for name in self.names:
            value = state[name]
            if name in params and value.numel() and value.abs().max() > 0:
                step = float(value.abs().max()) / (2 ** (bits - 1) - 1)
            else:
                step = LATENT_INIT_STEP
            steps[name] = math.log2(step)
        self.log2_steps = nn.ParameterDict({_key(n): nn.Parameter(torch.tensor(v)) for n, v in steps.items()})
        # (symbols, weight, temporal, integers, contexts)
        self._symbols: list[tuple[torch.Tensor, float, bool, bool, bool]] = []
        self._bits: list[torch.Tensor] = []  # estimated elsewhere (train/window.py)
        #: stored latents are rated under the file's context model (train/contextrate.py), else one Laplace each
        self.contexts = contexts

    def step(self, name: str) -> torch.Tensor:
        return torch.exp2(self.log2_steps[_key(name)])

    def steps(self) -> dict[str, float]:
        """Every step as a float32-exact Python float (what a ``.nerv`` stores)."""
        return {name: float(self.step(name).detach().float().cpu()) for name in self.names}

    def quantize(
        self,
        name: str,
        x: torch.Tensor,
        weight: float = 1.0,
        temporal: bool = False,
        rounding: SoftRounding | None = None,
        stored: bool = False,
    ) -> torch.Tensor:
        """Fake-quantize ``x`` (a stored tensor or a batch of latents); its symbols count ``weight`` times in
        the rate of this step (a batch of B latents of an N-frame clip counts N / B times). ``temporal``: the
        whole latent tensor, whose file codes the differences of consecutive slices (codec/latentcode.py), so
        the rate is that of the differences where they are cheaper. ``rounding``: a soft-rounding step's.
        ``stored``: ``x`` is the stored tensor itself (not a batch of an encoder's latents)."""
        x_hat, q = quantize_with_step(x, self.step(name), rounding)
        contexts = self.contexts and stored and self.kinds[name] == "latents"
        self._symbols.append((q, weight, temporal, rounding is None, contexts))
        return x_hat.to(x.dtype)

    def temporal(self, name: str, x: torch.Tensor) -> bool:
        """Whether the file codes stored tensor ``name`` (value ``x``) as the cheaper of its symbols and the
        differences of its consecutive slices: a latent tensor of two slices or more."""
        return self.kinds[name] == "latents" and x.dim() >= 2 and len(x) >= 2

    def quantized_parameters(
        self, model: nn.Module, rounding: SoftRounding | None = None, exclude: Collection[str] = ()
    ) -> dict[str, torch.Tensor]:
        """Fake-quantized versions of the model's stored parameters (for ``torch.func.functional_call``), but
        those named in ``exclude``."""
        params = dict(model.named_parameters())
        return {
            name: self.quantize(name, p, temporal=self.temporal(name, p), rounding=rounding, stored=True)
            for name, p in params.items()
            if name in self.kinds and name not in exclude
        }

    def add_bits(self, bits: torch.Tensor) -> None:
        """Count ``bits``, estimated by the caller, in the rate of this step."""
        self._bits.append(bits)

    def take_rate_bits(self) -> torch.Tensor | None:
        """Estimated bits of everything quantized since the last call (None if nothing was)."""
        if not self._symbols and not self._bits:
            return None
        bits = [_coded_bits(q, *how) * w for q, w, *how in self._symbols] + self._bits
        self.clear()
        return functools.reduce(operator.add, bits)

    def clear(self) -> None:
        self._symbols.clear()
        self._bits.clear()


def _key(name: str) -> str:
    return name.replace(".", "__")
