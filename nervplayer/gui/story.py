"""The lower panel while a ``.nerv`` plays: what the file knows about itself. Its size and bits per frame, the
architecture and the recipe beside the charts it stores (the PSNR of every frame, with the shown frame and the
boundaries of a segmented file's segments marked, a seam more than 0.5 dB below its segments' mean in orange;
and the run's training curves; :mod:`nervplayer.codec.story`). A file with nothing to chart shows no charts, and
:meth:`StoryPanel.show_file` says so, so that the window folds the panel away; a damaged story is named here."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget

from ..codec import NervVideo
from ..codec.seams import seams
from ..codec.segtable import SegmentedFile
from ..codec.story import Story
from .charts import BLUE, GOLD, GREEN, LogAxis

WARN = "#f5a142"
MAX_SEGMENT_LINES = 12  # segments listed in the facts; nervplayer info lists every one


def _chart(title: str, x: str, log: bool = False) -> tuple[pg.PlotWidget, pg.PlotItem]:
    widget = pg.PlotWidget(axisItems={"left": LogAxis("left")} if log else None)
    plot = widget.getPlotItem()
    plot.setTitle(title, size="9pt")
    plot.setLabel("bottom", x)
    plot.showGrid(x=True, y=True, alpha=0.15)
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.getAxis("left").setWidth(44)
    if log:
        plot.setLogMode(y=True)
    return widget, plot


def _finite(xs: list[float | None], ys: list[float | None]) -> tuple[np.ndarray, np.ndarray]:
    """The points where both coordinates are known (JSON null marks a value that was not finite)."""
    pairs = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
    return np.array([p[0] for p in pairs], dtype=float), np.array([p[1] for p in pairs], dtype=float)


def _compression(made: dict[str, Any]) -> str:
    parts = []
    if made.get("learned_steps"):
        parts.append("the steps learned in training")
    if made.get("prune_ratio"):
        parts.append(f"pruned {made['prune_ratio']:.0%}")
    if made.get("bits") is not None:
        per = " per channel" if made.get("per_channel") else ""
        parts.append(f"{made['bits']}-bit weights{per}{' (per layer)' if made.get('layer_bits') else ''}")
    if made.get("finetune_epochs"):
        parts.append(f"fine-tuned {made['finetune_epochs']} epochs{' with QAT' if made.get('qat') else ''}")
    return " · ".join(parts)


def _recipe(recipe: dict[str, Any]) -> str:
    known = {"epochs": "{} epochs", "lr": "lr {:g}", "batch_size": "batch {}", "loss": "{} loss", "scheduler": "{}"}
    parts = [known[k].format(recipe[k]) for k in known if k in recipe]
    if recipe.get("qat"):
        parts.append(f"rate-aware (λ {recipe.get('rate_lambda', 0):g})")
    parts += [
        f"{k.replace('_', ' ')} {v}" for k, v in recipe.items() if k not in known and k not in ("qat", "rate_lambda")
    ]
    return " · ".join(parts)


def facts(nerv: NervVideo, size_bytes: int) -> list[str]:
    """What any ``.nerv`` says about itself, as short HTML lines: size, bits per frame, architecture, recipe."""
    nf = nerv.file
    h, w = nerv.size
    parts = nf.parts if isinstance(nf, SegmentedFile) else [nf]
    params = sum(q.numel for part in parts for q in part.tensors.values())
    bits_per_frame = size_bytes * 8 / nerv.num_frames
    quality = nf.metrics
    lines = [
        f"<b>{size_bytes / 1024:,.1f} KiB</b> · {bits_per_frame / 1000:,.1f} kbit per frame · "
        f"{size_bytes * 8 / (nerv.num_frames * h * w):.4f} bpp",
        f"<b>{nf.model.arch}</b> network · {params:,} stored values · {nerv.num_frames} frames · {w}×{h}",
    ]
    made = _compression(nf.compression)
    if made:
        lines.append(f"<b>compressed</b> {html.escape(made)}")
    if nf.story.recipe:
        lines.append(f"<b>fitted</b> {html.escape(_recipe(nf.story.recipe))}")
    if quality.get("psnr") is not None:
        ssim = f" · MS-SSIM {quality['ms_ssim']:.4f}" if quality.get("ms_ssim") is not None else ""
        lines.append(f"<b>quality</b> PSNR {quality['psnr']:.2f} dB against its source{ssim}")
    if isinstance(nf, SegmentedFile):
        lines.append(f"<b>{len(nf.segments)} segments</b>, a network each:")
        shown = nf.segments[:MAX_SEGMENT_LINES]
        lines += [
            f"&nbsp;&nbsp;frames {s.start}–{s.end - 1} · {s.bytes / 1024:,.1f} KiB"
            + (f" · {s.psnr:.2f} dB" if s.psnr is not None else "")
            for s in shown
        ]
        if len(nf.segments) > len(shown):
            lines.append(f"&nbsp;&nbsp;… {len(nf.segments) - len(shown)} more (nervplayer info lists them all)")
    return lines


class StoryPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("story")
        self.facts = QLabel()
        self.facts.setObjectName("story-facts")
        self.facts.setWordWrap(True)
        self.facts.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.facts.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.facts.setMinimumWidth(260)

        self.frames_chart, frames = _chart("PSNR of each frame (dB)", "frame")
        self.frame_curve = frames.plot(pen=pg.mkPen(GREEN, width=1.5))
        self.frame_marker = pg.InfiniteLine(angle=90, pen=pg.mkPen(GOLD, width=1))
        frames.addItem(self.frame_marker)
        self.frames_plot = frames
        self.boundaries: list[pg.InfiniteLine] = []  # one per segment boundary, a seam in WARN
        self.psnr_chart, quality = _chart("PSNR in training (dB)", "epoch")
        self.psnr_curve = quality.plot(pen=pg.mkPen(GREEN, width=2), symbol="o", symbolSize=5, symbolBrush=GREEN)
        self.loss_chart, loss = _chart("loss", "epoch", log=True)
        self.loss_curve = loss.plot(pen=pg.mkPen(BLUE, width=2))

        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.facts, 2)
        layout.addWidget(self.frames_chart, 4)
        layout.addWidget(self.psnr_chart, 3)
        layout.addWidget(self.loss_chart, 2)

    def show_file(self, nerv: NervVideo, size_bytes: int) -> bool:
        """Show ``nerv``'s story; False when it has nothing to chart and no problem to tell (fold the panel)."""
        story: Story = nerv.file.story
        lines = facts(nerv, size_bytes)
        lines += [f"<span style='color:{WARN}'>⚠ {html.escape(p)}</span>" for p in story.problems]
        if not (story.curves or story.frame_psnr):
            lines.append("<i>No training curves or per-frame PSNR are stored in this file.</i>")
        self.facts.setText("".join(f"<p style='margin:0 0 5px 0'>{line}</p>" for line in lines))

        values = story.frame_psnr
        scale = nerv.num_frames / len(values) if values else 1.0  # a value per run of frames in long videos
        x, y = _finite([i * scale for i in range(len(values))], values)
        self.frame_curve.setData(x, y)
        self.frames_chart.setVisible(bool(len(y)))
        self._mark_boundaries(nerv, values if scale == 1.0 else [])

        curves = story.curves
        epochs = curves.get("epoch", [])
        px, py = _finite(epochs, curves.get("psnr", []))
        self.psnr_curve.setData(px, py)
        self.psnr_chart.setVisible(bool(len(py)))
        lx, ly = _finite(epochs, curves.get("loss", []))
        keep = ly > 0  # a log axis
        self.loss_curve.setData(lx[keep], ly[keep])
        self.loss_chart.setVisible(bool(keep.any()))
        return bool(story.curves or story.frame_psnr or story.problems)

    def _mark_boundaries(self, nerv: NervVideo, per_frame: list[float | None]) -> None:
        """A dashed line where each segment begins (at the boundary, between the two frames), a flagged seam's in
        orange (known only with one PSNR value per frame)."""
        for line in self.boundaries:
            self.frames_plot.removeItem(line)
        segments = nerv.segments
        found = seams(per_frame, segments, cuts=nerv.scene_cuts) if per_frame else []
        flagged = {s.frame for s in found if s.flagged}
        self.boundaries = []
        for _, end in segments[:-1]:
            color = WARN if end in flagged else "#8a8a8a"
            line = pg.InfiniteLine(end - 0.5, angle=90, pen=pg.mkPen(color, width=1, style=Qt.PenStyle.DashLine))
            self.frames_plot.addItem(line)
            self.boundaries.append(line)

    def set_frame(self, index: int) -> None:
        """Mark the shown frame on the per-frame chart."""
        self.frame_marker.setValue(index)
