"""Video in and out: reading files and PNG/JPEG folders, frame stores for training, writing frames."""

from .reader import VideoInfo, file_hash, iter_frames, output_size, probe
from .store import DiskFrameStore, FrameStore, MemoryFrameStore, ShiftedStore, build_store, default_budget_bytes

__all__ = [
    "VideoInfo",
    "file_hash",
    "iter_frames",
    "output_size",
    "probe",
    "DiskFrameStore",
    "FrameStore",
    "MemoryFrameStore",
    "ShiftedStore",
    "build_store",
    "default_budget_bytes",
]
