"""File > Open study: a study folder's plot and table (the GUI twin of ``nervplayer study --show DIR``)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..study import StudyOutputs

# (column title, row key, format)
COLUMNS = (
    ("run", "label", "{}"),
    ("status", "status", "{}"),
    ("params", "params", "{:,}"),
    ("epoch", "epoch", "{}"),
    ("PSNR (dB)", "psnr", "{:.2f}"),
    ("MS-SSIM", "ms_ssim", "{:.4f}"),
    ("seen PSNR", "psnr_seen", "{:.2f}"),
    ("unseen PSNR", "psnr_unseen", "{:.2f}"),
    ("s / epoch", "seconds_per_epoch", "{:.2f}"),
)


class StudyDialog(QDialog):
    """The summary plot above, one table row per run (or per evaluation, for the epochs study) below."""

    def __init__(self, outputs: StudyOutputs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Study '{outputs.study}' — {outputs.csv.parent}")
        self.setObjectName("study-dialog")
        self.resize(1100, 720)
        self.plot = QLabel("no plot (pip install 'nervplayer[plot]')")
        self.plot.setAlignment(Qt.AlignmentFlag.AlignCenter)
        if outputs.png is not None:
            self.plot.setPixmap(
                QPixmap(str(outputs.png)).scaledToWidth(1060, Qt.TransformationMode.SmoothTransformation)
            )
        scroll = QScrollArea()
        scroll.setWidget(self.plot)
        scroll.setWidgetResizable(True)
        self.table = QTableWidget(len(outputs.rows), len(COLUMNS))
        self.table.setHorizontalHeaderLabels([title for title, _, _ in COLUMNS])
        for r, row in enumerate(outputs.rows):
            for c, (_, key, fmt) in enumerate(COLUMNS):
                value = row.get(key)
                item = QTableWidgetItem("–" if value is None else fmt.format(value))
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 3)
        layout.addWidget(self.table, 2)
        layout.addWidget(buttons)
