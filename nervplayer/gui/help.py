"""The ``?`` overlay: the action table as a key reference, drawn over the video."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from .actions import ACTIONS, key_text, keys

# Columns of the overlay, each a list of groups.
_COLUMNS = (("Playback", "Seek", "Speed", "Loop"), ("Compare", "View"), ("File", "Fit"))


def _column_html(groups: tuple[str, ...]) -> str:
    """One table per column, so that the key cells of all its groups line up."""
    rows = []
    for group in groups:
        rows.append(
            f"<tr><td colspan=2 style='color:#8ab4f8; font-weight:600; padding-top:10px'>{escape(group)}</td></tr>"
        )
        rows += [
            f"<tr><td style='color:#ffd479; padding:1px 16px 1px 0; white-space:nowrap'>"
            f"{escape(key_text(s))}</td><td style='color:#e6e6e6'>{escape(s.text.replace('&', ''))}</td></tr>"
            for s in ACTIONS
            if s.group == group and keys(s)
        ]
    return f"<table cellspacing=0>{''.join(rows)}</table>"


class HelpOverlay(QWidget):
    """Covers its parent with a translucent panel; any click hides it."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("help-overlay")
        layout = QGridLayout(self)
        layout.setContentsMargins(36, 24, 36, 24)
        title = QLabel(
            "<span style='font-size:15pt; color:white; font-weight:600'>Keys</span>"
            "<span style='color:#9aa0a6'>  · wheel zooms at the cursor, drag pans, "
            "double-click toggles fullscreen · ? or Esc closes</span>"
        )
        layout.addWidget(title, 0, 0, 1, len(_COLUMNS))
        self.columns = []
        for col, _groups in enumerate(_COLUMNS):
            label = QLabel()
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            layout.addWidget(label, 1, col)
            self.columns.append(label)
        layout.setRowStretch(1, 1)
        self.refresh()
        self.hide()

    def refresh(self) -> None:
        """Rebuild the key tables from the action table (after the user rebinds a key)."""
        for label, groups in zip(self.columns, _COLUMNS):
            label.setText(_column_html(groups))

    def paintEvent(self, event: QPaintEvent) -> None:
        QPainter(self).fillRect(self.rect(), QColor(10, 12, 16, 225))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.hide()
