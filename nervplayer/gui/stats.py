"""The stats overlay (``i``): what the player is doing, as lines of text, and a free file name for screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .decoder import MB
from .timecode import timecode

if TYPE_CHECKING:
    from .player import PlayerWidget


def stats_lines(player: PlayerWidget) -> list[str]:
    """Position, decode and paint times, shown vs target frame rate, the measured decode rate, cache use and
    PSNR of the shown frame."""
    s, frame = player.state, player.canvas.frame
    lines = [f"frame   {s.frame} / {s.last_frame}   {timecode(s.frame, s.fps)}"]
    if frame is not None:
        h, w, _ = frame.image.shape
        lines.append(f"decode  {frame.decode_ms:6.1f} ms   paint {player.canvas.paint_ms:.1f} ms   {w}×{h}")
    target = s.fps * s.speed
    shown = f"{player.display_fps():5.1f}" if s.playing else "  -  "
    lines.append(f"fps     {shown} shown / {target:.2f} target   dropped {player.dropped}")
    rate = player.decode_rate()
    if rate is not None:
        state = "buffering" if player.buffer_progress is not None else "buffered" if player.buffers() else "keeps up"
        lines.append(f"rate    {rate:5.1f} fps decoded ({state})")
    cache = player.decoder.cache
    lines.append(f"cache   {len(cache)} frames   {cache.nbytes / MB:.0f} / {cache.budget_bytes / MB:.0f} MB")
    value = player.current_psnr()
    if value is not None:
        lines.append(f"PSNR    {value:.2f} dB")
    return lines


def unused_path(folder: Path, stem: str, suffix: str) -> Path:
    """``folder/stem.suffix``, or ``stem-1``, ``stem-2``… when taken (the folder is created)."""
    folder.mkdir(parents=True, exist_ok=True)
    path, n = folder / f"{stem}{suffix}", 1
    while path.exists():
        path, n = folder / f"{stem}-{n}{suffix}", n + 1
    return path
