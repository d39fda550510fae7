"""The player's transport bar: step and play buttons, the frame box, frame count and timecode, speed and loop
notes, the shown frame's PSNR and the compare mode. It reads and drives the player's state, nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QSpinBox, QToolButton, QWidget

from .buffering import rate_text
from .icons import icon
from .state import CompareMode
from .timecode import timecode

if TYPE_CHECKING:
    from .player import PlayerWidget


class TransportBar(QWidget):
    def __init__(self, player: PlayerWidget) -> None:
        super().__init__(player)
        self.player = player
        self.setObjectName("transport")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 6)

        def button(name: str, tip: str, slot: Callable[[], None]) -> QToolButton:
            b = QToolButton(self)
            b.setIcon(icon(name))
            b.setIconSize(QSize(18, 18))
            b.setToolTip(tip)
            b.setAutoRaise(True)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.clicked.connect(slot)
            row.addWidget(b)
            return b

        button("previous", "Previous frame (,)", lambda: player.step(-1))
        self.play_button = button("play", "Play / pause (Space)", player.toggle_play)
        button("next", "Next frame (.)", lambda: player.step(1))
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.frame_box = QSpinBox(self)
        self.frame_box.setObjectName("frame-box")
        self.frame_box.setFont(mono)
        self.frame_box.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.frame_box.setButtonSymbols(QSpinBox.ButtonSymbols.NoButtons)
        self.frame_box.setToolTip("Frame index: type one and press Enter to go there")
        self.frame_box.editingFinished.connect(self._frame_box_entered)
        row.addSpacing(6)
        row.addWidget(QLabel("frame", self))
        row.addWidget(self.frame_box)
        self.count_label = QLabel(self)
        self.count_label.setFont(mono)
        row.addWidget(self.count_label)
        self.time_label = QLabel(self)
        self.time_label.setFont(mono)
        self.time_label.setObjectName("timecode")
        row.addSpacing(12)
        row.addWidget(self.time_label)
        row.addStretch(1)
        self.info_label = QLabel(self)
        self.info_label.setObjectName("info")
        row.addWidget(self.info_label)
        self.psnr_label = QLabel(self)
        self.psnr_label.setFont(mono)
        self.psnr_label.setObjectName("psnr")
        row.addSpacing(12)
        row.addWidget(self.psnr_label)
        self.mode_box = QComboBox(self)
        self.mode_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.mode_box.setToolTip("Compare with the ground truth (g toggles, c cycles, d difference modes)")
        for mode in CompareMode:
            self.mode_box.addItem(mode.value.capitalize() if mode is not CompareMode.OFF else "No compare", mode)
        self.mode_box.activated.connect(lambda i: player.compare.set_mode(self.mode_box.itemData(i)))
        self.mode_box.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        row.addSpacing(12)
        row.addWidget(self.mode_box)

    def _frame_box_entered(self) -> None:
        self.player.state.frame = self.frame_box.value()
        self.player.canvas.setFocus()

    def update_labels(self) -> None:
        s, player = self.player.state, self.player
        self.frame_box.setRange(0, s.last_frame)
        self.frame_box.blockSignals(True)
        self.frame_box.setValue(s.frame)
        self.frame_box.blockSignals(False)
        digits = len(str(s.last_frame))
        self.frame_box.setFixedWidth(self.frame_box.fontMetrics().horizontalAdvance("0" * digits) + 16)
        self.count_label.setText(f"/ {s.last_frame}")
        self.time_label.setText(f"{timecode(s.frame, s.fps)} / {timecode(s.num_frames, s.fps)}")
        parts = []
        if player.buffer_progress is not None:
            parts.append(f"Buffering {player.buffer_progress * 100:.0f} %")
        rate = player.decode_rate()
        if rate is not None and player.buffers():
            parts.append(rate_text(rate, s.fps * s.speed))
        if s.speed != 1.0:
            parts.append(f"{s.speed:.2f}×")
        if s.has_ab:
            parts.append(f"loop {s.loop_a}–{s.loop_b}")
        elif s.loop_a is not None:
            parts.append(f"loop A {s.loop_a}–…")
        elif s.loop_all:
            parts.append("loop all")
        self.info_label.setText("   ".join(parts))
        value = player.current_psnr()
        self.psnr_label.setText(f"PSNR {value:6.2f} dB" if value is not None else "")
        self.mode_box.setCurrentIndex(list(CompareMode).index(player.compare.mode))
        self.play_button.setIcon(icon("pause" if s.playing else "play"))
        player.named_actions["loop_all"].setChecked(s.loop_all)
