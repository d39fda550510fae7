"""A power-of-two search over a rate-aware fit's learned steps, at compress time (Cool-chic 5.0's greedy
quantization-step search per module, docs/models.md "Rate-aware training").

Training learns one continuous step per stored tensor against an entropy *estimate*; what the file pays is the
exact coded size, and the step each tensor ends at is where a noisy gradient left it. After the fit, each tensor's
step ``s`` is tried at ``s · 2^k`` (``k`` in ``−MAX_SHIFT..MAX_SHIFT`` around the learned step, coarser first),
its symbols rounded again from the fit's float values (``q' = round(x / s')``, the training code's own function:
``k = 0`` gives the very symbols a plain compress writes), and the shift kept where it lowers

    J = D + λ · R

the fit's own objective: ``D`` the fit's loss (its plugin, e.g. fusion6) on :data:`~.ratecontrol.SEARCH_FRAMES`
frames spread over the clip, decoded as a player decodes them; ``R`` the exact coded bits (each candidate
entropy-coded, as the file will code it) per pixel of the clip; λ the fit's ``rate_lambda``, in the units the fit
used. Coordinate descent, largest tensor first: from the current shift, one step coarser and on while ``J``
falls, else one step finer and on; a second sweep only when the first changed something. At most
``1 + SWEEPS × tensors × 2 · MAX_SHIFT`` decodes of those frames, known before it starts.

Multiplying a float32 step by a power of two is exact, so the file still decodes to exactly ``symbols × step``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import Cancelled
from ..metrics import psnr
from ..video import FrameStore
from .latentcode import encode_tensor
from .measure import spread_frames
from .nervfile import NervFile, stored_shapes
from .ratecontrol import SEARCH_FRAMES
from .reader import NervVideo
from .stepquant import StepQuantizedTensor, quantize_step

MAX_SHIFT = 2  # steps from a quarter to four times the learned one
SWEEPS = 2

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class StepSearch:
    """What the search chose: ``steps`` (every tensor's, to write), ``shifts`` (name → k, the changed ones)."""

    steps: dict[str, float]
    shifts: dict[str, int]
    tensors: int
    rate_lambda: float
    coded_bytes: tuple[int, int]  # the tensors' coded bytes, before and after
    psnr: tuple[float, float]  # on the search frames, before and after
    loss: tuple[float, float]  # J before and after
    decodes: int
    seconds: float
    frames: int

    def describe(self) -> str:
        before, after = self.coded_bytes
        return (
            f"step search (λ {self.rate_lambda:g}): {len(self.shifts)} of {self.tensors} tensors changed, "
            f"{(after - before) / before:+.1%} coded bytes, {self.psnr[1] - self.psnr[0]:+.2f} dB on "
            f"{self.frames} frames, {self.seconds:.1f} s ({self.decodes} decodes)"
        )


def decode_bound(nf: NervFile) -> tuple[int, int]:
    """(decodes at most, frames each) of a search of ``nf``: what it costs, before it starts."""
    return 1 + SWEEPS * len(nf.tensors) * 2 * MAX_SHIFT, min(nf.num_frames, SEARCH_FRAMES)


def search_steps(
    nf: NervFile,
    state: dict[str, torch.Tensor],
    reference: FrameStore,
    loss_fn: Loss,
    rate_lambda: float,
    device: torch.device,
    cancelled: Callable[[], bool] = lambda: False,
) -> StepSearch:
    """Search the steps of ``nf`` (a rate-aware run's file, every tensor ``step``-quantized from the float
    weights ``state``) on the frames of ``reference``; see the module docstring. ``cancelled`` is polled between
    decodes (a :class:`~nervplayer.errors.Cancelled` then)."""
    t0 = time.perf_counter()
    tensors = dict(nf.tensors)
    assert all(isinstance(q, StepQuantizedTensor) for q in tensors.values())  # a rate-aware run's file
    learned = {name: q.step for name, q in tensors.items() if isinstance(q, StepQuantizedTensor)}
    kinds = {name: kind for name, (_, kind) in stored_shapes(nf.model).items()}
    pixels = nf.num_frames * nf.model.height * nf.model.width
    indices = spread_frames(nf.num_frames, SEARCH_FRAMES)
    video = NervVideo(nf, device)
    assert video.model is not None  # a one-model file
    model = video.model

    def coded_bits(q: StepQuantizedTensor, name: str) -> int:
        table, stream, _, _ = encode_tensor(q, kinds[name], nf.coder)
        return 8 * (len(table) + len(stream))

    decodes = 0

    def distortion() -> tuple[float, float]:
        """(the fit's loss, PSNR) of the model as it stands, on the search frames."""
        nonlocal decodes
        if cancelled():
            raise Cancelled("step search stopped")
        decodes += 1
        losses, psnrs = [], []
        with torch.inference_mode():
            for i in range(0, len(indices), video.batch_size):
                idx = indices[i : i + video.batch_size]
                decoded = video.predict(idx)
                source = reference.get(idx).to(decoded.device).float().div(255)
                losses.append(float(loss_fn(decoded, source)) * len(idx))
                psnrs.append(psnr(decoded, source).cpu())
        return sum(losses) / len(indices), float(torch.cat(psnrs).mean())

    def load(name: str, q: StepQuantizedTensor) -> None:
        with torch.no_grad():
            model.load_state_dict({name: torch.from_numpy(q.dequantize())}, strict=False)

    bits = {name: coded_bits(q, name) for name, q in tensors.items() if isinstance(q, StepQuantizedTensor)}
    first_bytes = sum(bits.values()) // 8
    d, first_psnr = distortion()
    current_psnr = first_psnr
    j = first_j = d + rate_lambda * sum(bits.values()) / pixels
    shifts = dict.fromkeys(tensors, 0)
    order = sorted(tensors, key=lambda name: -tensors[name].numel)
    for _ in range(SWEEPS):
        changed = False
        for name in order:
            for direction in (1, -1):
                moved = False
                k = shifts[name] + direction
                while abs(k) <= MAX_SHIFT:
                    try:
                        q = quantize_step(state[name], learned[name] * 2.0**k)
                    except ValueError:  # too fine for 16-bit symbols, or beyond what a file holds
                        break
                    b = coded_bits(q, name)
                    load(name, q)
                    d, p = distortion()
                    candidate = d + rate_lambda * (sum(bits.values()) - bits[name] + b) / pixels
                    if candidate >= j:
                        current = tensors[name]
                        assert isinstance(current, StepQuantizedTensor)
                        load(name, current)
                        break
                    tensors[name], bits[name], shifts[name], j, current_psnr = q, b, k, candidate, p
                    moved = changed = True
                    k += direction
                if moved:
                    break
        if not changed:
            break
    steps = {name: q.step for name, q in tensors.items() if isinstance(q, StepQuantizedTensor)}
    return StepSearch(
        steps=steps,
        shifts={name: k for name, k in shifts.items() if k},
        tensors=len(tensors),
        rate_lambda=rate_lambda,
        coded_bytes=(first_bytes, sum(bits.values()) // 8),
        psnr=(first_psnr, current_psnr),
        loss=(first_j, j),
        decodes=decodes,
        seconds=time.perf_counter() - t0,
        frames=len(indices),
    )
