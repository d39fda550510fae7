"""Data-parallel fits under ``torchrun`` (torch.distributed elastic + DistributedDataParallel).

``torchrun --nproc-per-node N -m nervplayer fit ...`` starts N copies of the same fit. Every process decodes the
clip and walks the same shuffled frame order; each global batch of ``--batch-size`` frames is split across the
processes (``rank::world``), DDP averages the gradients, and every process takes the same optimizer step, so the
weights stay identical everywhere and equal those of one process with the same global batch. The logged loss is
the global batch's (reduced across the processes as the losses are read back), and every process scores its share
of the frames in an evaluation, so none waits in a collective through the whole of one. Only rank 0 writes the
run folder (config, metrics, checkpoints, weights), so the folder has the same form as a single-process run and
``--resume`` works with any number of processes.
"""

from __future__ import annotations

import functools
import gc
import inspect
import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..errors import ConfigError
from .evaluate import FrameMetrics


@dataclass(frozen=True)
class World:
    """Where this process sits among the processes of one fit (rank 0 of 1 outside ``torchrun``)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """True in the process that writes the run folder and reports progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world_from_env() -> World:
    """The torchrun environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``), or a single process."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise ConfigError("WORLD_SIZE, RANK and LOCAL_RANK must be integers (set by torchrun)") from None
    return World(rank, size, local) if size > 1 else World()


def join(world: World, device: torch.device) -> torch.device:
    """Join the process group (NCCL on CUDA, Gloo otherwise) and return this process's device: on CUDA, the GPU
    of its local rank."""
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        try:
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        except (ValueError, RuntimeError) as e:  # WORLD_SIZE set by hand, without torchrun's rendezvous
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConfigError(
                f"WORLD_SIZE={world.size} asks for a distributed fit, but joining its processes failed ({first}); "
                "start it with torchrun (see README), or unset WORLD_SIZE"
            ) from None
    return device


def leave() -> None:
    """Leave the process group (end of a distributed fit), once the caller has let go of its fit. The fit's
    DistributedDataParallel holds the group through reference cycles: left to the interpreter's exit, the group is
    destroyed during finalization, where Gloo's threads abort the process now and then ("terminate called without
    an active exception", rank 1 of 2, about 1 run in 10 on a loaded CPU). Collected here, none did in 60."""
    if dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def shard(order: Sequence[int], batch_size: int, world: World) -> list[int]:
    """This process's part of an epoch's frame order: each global batch of ``batch_size`` frames, split
    ``rank::size``, concatenated (so batches of ``batch_size // size`` from it are the shards, step by step)."""
    mine: list[int] = []
    for start in range(0, len(order), batch_size):
        mine.extend(order[start : start + batch_size][world.rank :: world.size])
    return mine


def check_batches(num_frames: int, batch_size: int, world: World) -> None:
    """Every global batch, the last one too, must give each process at least one frame."""
    if not world.distributed:
        return
    if batch_size % world.size:
        raise ConfigError(
            f"--batch-size {batch_size} is the global batch: it must be a multiple of the {world.size} processes"
        )
    last = num_frames % batch_size
    if 0 < last < world.size:
        raise ConfigError(
            f"the last batch of each epoch holds {last} of {num_frames} frames, fewer than the {world.size} "
            "processes: choose a --batch-size that leaves none or at least one frame per process"
        )


def check_one_process(time_limit: bool, warm_up: bool, world: World) -> None:
    """Refuse, before any work, what only one process can run: a time limit (each process would stop at its own
    step) and a multi-start warm-up."""
    if time_limit and world.distributed:
        raise ConfigError("a time limit runs in one process; under torchrun give --epochs instead")
    if warm_up and world.distributed:
        raise ConfigError("a multi-start warm-up runs in one process; under torchrun give --starts 1")


class _Replica(torch.nn.Module):
    """The trained modules under one root, so DDP sees every trained parameter (weights, learned quantization
    steps); its forward is the fit's own (content-adaptive inputs, quantized tensors)."""

    def __init__(self, modules: list[torch.nn.Module], forward: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.parts = torch.nn.ModuleList(modules)
        self._forward = forward

    def forward(self, indices: Sequence[int], target: torch.Tensor) -> torch.Tensor:
        return self._forward(indices, target)


def replicate(
    modules: list[torch.nn.Module], forward: Callable[..., torch.Tensor], device: torch.device, every_param_used: bool
) -> Callable[[Sequence[int], torch.Tensor], torch.Tensor]:
    """Wrap the fit's training forward in DistributedDataParallel: gradients are averaged across processes in
    the backward pass. Rank 0's weights (and buffers) are broadcast first, so every process starts from the same
    state; buffers (decoded latents, written by rank 0's evaluation only) are not synced at each forward."""
    for module in modules:
        grads_in_param_layout(module)
    ddp = DistributedDataParallel(
        _Replica(modules, forward),
        device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=not every_param_used,
        **_no_buffer_sync(),
    )
    return lambda indices, target: ddp(indices, target)


def _no_buffer_sync() -> dict[str, Any]:
    """DDP's option to skip syncing buffers at each forward: ``forward_sync_buffers`` where this torch has it
    (it deprecates ``broadcast_buffers``), else ``broadcast_buffers``."""
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters:
        return {"forward_sync_buffers": False}
    return {"broadcast_buffers": False}


def grads_in_param_layout(module: torch.nn.Module) -> None:
    """Make each parameter's gradient arrive with the parameter's own strides, as DDP's gradient buckets (views
    with the parameter's strides) expect. A channels-last weight with a size-1 dimension (a 1×1 kernel: strides
    [C, 1, C, C]) also counts as contiguous, so autograd keeps whichever layout the convolution's backward chose
    for its gradient ([C, 1, 1, 1] after a contiguous activation, as NeRV's head sees) and DDP would copy between
    layouts at every step ("grad strides do not match bucket view strides"). Gradients already in the layout
    (nearly all) pass through untouched."""
    for param in module.parameters():
        if param.requires_grad:
            param.register_hook(functools.partial(_restride, param.shape, param.stride()))


def _restride(shape: torch.Size, stride: tuple[int, ...], grad: torch.Tensor) -> torch.Tensor:
    if grad.stride() == stride:
        return grad
    return torch.empty_strided(shape, stride, dtype=grad.dtype, device=grad.device).copy_(grad)


def global_losses(losses: torch.Tensor, shares: Sequence[float], stop: bool, world: World) -> tuple[torch.Tensor, bool]:
    """The losses of a run of steps as one process would log them, and whether any process asked to stop, in one
    all-reduce. Each process's loss is the mean over its part of the global batch; weighed by its share (as its
    gradients are) and summed, they give the global batch's mean. A stop (Ctrl-C reaches the processes at
    slightly different steps) must be agreed: every process stops before the same step, or the others would wait
    forever for its gradients."""
    if not world.distributed:
        return losses, stop
    both = torch.cat([losses * torch.tensor(shares, device=losses.device), losses.new_tensor([float(stop)])])
    dist.all_reduce(both)
    return both[:-1] / world.size, bool(both[-1].item())


def frame_share(num_frames: int, world: World) -> list[int]:
    """The frames this process evaluates: every ``size``-th, from its rank."""
    return list(range(world.rank, num_frames, world.size))


def gather_metrics(mine: FrameMetrics, num_frames: int, world: World, device: torch.device) -> FrameMetrics:
    """Every frame's metrics, in frame order, from each process's :func:`frame_share` of them (one all-reduce;
    the whole clip's in every process)."""
    if not world.distributed:
        return mine
    full = torch.zeros(2, num_frames, dtype=torch.float64, device=device)
    for row, values in enumerate((mine.psnr, mine.ms_ssim)):
        full[row, world.rank :: world.size] = torch.from_numpy(values.astype(np.float64)).to(device)
    dist.all_reduce(full)  # every other process holds zeros where this one scored
    psnr, ms_ssim = full.cpu().numpy().astype(mine.psnr.dtype)
    return FrameMetrics(psnr, ms_ssim)
