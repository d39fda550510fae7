"""Choosing the device and the numeric precision of a fit or a decoder."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from typing import Any

import torch

from .errors import DeviceError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then CPU; asking for one that is missing is a :class:`DeviceError`."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}, no GPU found"
            raise DeviceError(
                f"--device {name}: CUDA is not available (torch {torch.__version__}: {build}); "
                "use --device cpu, or install the CUDA build of torch (see README)"
            )
        try:
            dev = torch.device(name)
        except RuntimeError as e:
            raise DeviceError(f"--device {name}: {e}") from None
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s)")
        return dev
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError("--device mps: Apple MPS is not available on this machine; use --device cpu")
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise DeviceError(f"unknown device {name!r}; available: auto, cuda, mps, cpu")


@dataclass(frozen=True)
class Precision:
    """How the forward pass runs: an autocast dtype (or none), and whether fp16 needs a loss scaler."""

    name: str  # "fp32", "bf16", "fp16"
    autocast_dtype: torch.dtype | None
    channels_last: bool

    @property
    def needs_scaler(self) -> bool:
        return self.autocast_dtype is torch.float16

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager[Any]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (oneDNN's check: AVX-512 BF16 / AMX and the like)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(name: str, device: torch.device) -> Precision:
    """``auto``: bf16 autocast + channels_last on CUDA (fp16 + loss scaling where bf16 is missing) and on a CPU
    with bf16 instructions (measured ~1.7× faster at equal PSNR, docs/performance.md); fp32 on other CPUs (an
    AVX2-only CPU emulates bf16: a convolution measured 8× slower than in fp32) and on MPS."""
    if name == "auto":
        if device.type == "cuda":
            name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        elif device.type == "cpu":
            name = "bf16" if cpu_has_bf16() else "fp32"
        else:
            name = "fp32"
    if name == "fp32":
        return Precision("fp32", None, channels_last=device.type != "mps")
    if name == "bf16":
        return Precision("bf16", torch.bfloat16, channels_last=True)
    if name == "fp16":
        if device.type == "cpu":
            raise DeviceError("fp16 autocast is not supported on CPU; use --precision bf16 or fp32")
        return Precision("fp16", torch.float16, channels_last=True)
    raise DeviceError(f"unknown precision {name!r}; available: auto, fp32, bf16, fp16")


def memory_in_use(device: torch.device) -> int | None:
    """Bytes the framework holds on the device (None where it cannot tell)."""
    if device.type == "cuda":
        return torch.cuda.memory_allocated(device)
    if device.type == "mps":
        return torch.mps.current_allocated_memory()
    return None


def memory_report(device: torch.device) -> tuple[int | None, str]:
    """What the status bar says of a model's memory: the bytes the framework holds on an accelerator ("in use"),
    else this process's resident memory ("RSS")."""
    memory = memory_in_use(device)
    return (memory, "in use") if memory is not None else (process_memory(), "RSS")


def process_memory() -> int | None:
    """Resident memory of this process in bytes (Linux), else its peak (other Unixes), else None."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024
    except (ImportError, OSError):
        return None
