"""One training step of any model: the function the fit loop runs, and the one ``nervplayer bench`` times and
profiles.

A step turns uint8 frames into floats, runs the forward pass under the precision's autocast, the loss in fp32,
the backward pass through the loss scaler and the optimizer step, then keeps pruned weights at zero. It trains
the fit's network (train/network.py) through its forward (content-adaptive models see the frames; rate-aware fits
go through the quantizer; inside DDP under torchrun) and adds its rate term. The optional ``mark``
callback is called after each of those phases (data, forward, loss, backward, optimizer): the benchmark
synchronises the device and reads a clock there, so what it measures is exactly what a fit runs.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import torch

from ..errors import DeviceError
from ..video import FrameStore
from .network import FitNetwork
from .optim import FitOptimizer

PHASES = ("data", "forward", "loss", "backward", "optimizer")  # what ``mark`` is called after, in order


class TrainingStep:
    """The pieces a step needs, bound once; calling it runs one step."""

    def __init__(
        self,
        network: FitNetwork,
        optimizer: FitOptimizer,
        scaler: torch.amp.GradScaler,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        masks: dict[str, torch.Tensor] | None = None,
        forward: Callable[[Sequence[int], torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.network = network
        self.model = network.model
        self.optimizer = optimizer
        self.scaler = scaler
        self.loss_fn = loss_fn
        self.device = network.device
        self.precision = network.precision
        self.masks = {k: v.to(self.device) for k, v in (masks or {}).items()}
        self.forward = forward or network.forward
        self.extra_loss = network.rate_term

    def __call__(
        self,
        indices: Sequence[int],
        frames: torch.Tensor,
        lr: float,
        mark: Callable[[], None] | None = None,
        weight: float = 1.0,
    ) -> torch.Tensor:
        """Train on ``frames`` (uint8, the frames at ``indices``) at learning rate ``lr``; the detached loss.
        ``weight`` scales the loss that is backpropagated (a data-parallel process's share of the batch)."""
        for group in self.optimizer.param_groups:  # a group may run at a multiple of the schedule's rate
            group["lr"] = lr * group.get("lr_scale", 1.0)
        target = self.network.to_float(frames)
        if mark:
            mark()
        with self.precision.autocast(self.device):
            pred = self.forward(indices, target)
        if mark:
            mark()
        loss = self.loss_fn(pred.float(), target)
        if self.extra_loss is not None and (extra := self.extra_loss()) is not None:
            loss = loss + extra
        if mark:
            mark()
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss if weight == 1.0 else loss * weight).backward()
        if mark:
            mark()
        self.scaler.step(self.optimizer)  # type: ignore[arg-type]  # GradScaler needs only param_groups and step()
        self.scaler.update()
        if mark:
            mark()
        if self.masks:
            with torch.no_grad():
                params = dict(self.model.named_parameters())
                for name, mask in self.masks.items():
                    params[name].mul_(mask)
        return loss.detach()


@contextmanager
def out_of_memory_hint(device: torch.device, batch_size: int, store: FrameStore) -> Iterator[None]:
    """A failed accelerator allocation in a step, as one line that says what to lower."""
    try:
        yield
    except torch.cuda.OutOfMemoryError:  # torch.OutOfMemoryError from torch 2.5, same class
        raise DeviceError(
            f"out of memory on {device} at batch size {batch_size} and {store.width}x{store.height}: try a "
            "smaller --batch-size or --scale; the last checkpoint is kept"
        ) from None
