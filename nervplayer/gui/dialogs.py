"""Small dialogs: the plugin load report, the options of Save as .nerv, and About."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..codec import CompressOptions
from ..codec.quantize import MAX_BITS, MIN_BITS
from ..codec.ratecontrol import SIZE_HELP, Target, parse_target
from ..errors import ConfigError
from ..plugins import Registry

_STATUS_COLORS = {"ok": "#5cc98a", "failed": "#f06b5f", "skipped": "#9aa0a6"}


class PluginsDialog(QDialog):
    """Every plugin module with its source and status, its entries beneath it, failures with their error."""

    def __init__(self, registry: Registry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Plugins")
        self.setObjectName("plugins-dialog")
        self.resize(820, 460)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["plugin", "status", "source", "version / error"])
        self.tree.setAlternatingRowColors(True)
        entries = {f"{e.kind}:{e.id}": e for e in registry.entries()}
        for record in registry.report:
            row = QTreeWidgetItem([record.name, record.status, record.source, record.error])
            row.setForeground(1, QBrush(QColor(_STATUS_COLORS.get(record.status, "#e6e6e6"))))
            if record.error:
                row.setToolTip(3, record.error)
                row.setForeground(3, QBrush(QColor(_STATUS_COLORS["failed"])))
            for key in record.entries:
                entry = entries.get(key)
                child = QTreeWidgetItem([key, "", "", f"v{entry.version} · {entry.description}" if entry else ""])
                row.addChild(child)
            self.tree.addTopLevelItem(row)
            row.setExpanded(record.status != "ok")
        for col, width in enumerate((200, 70, 260)):
            self.tree.setColumnWidth(col, width)
        failed = sum(r.status == "failed" for r in registry.report)
        summary = QLabel(
            f"{len(entries)} plugins from {len(registry.report)} modules"
            + (f" · <span style='color:#f06b5f'>{failed} failed to load</span>" if failed else "")
        )
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(summary)
        layout.addWidget(self.tree, 1)
        layout.addWidget(buttons)


class SaveDialog(QDialog):
    """Where to write the ``.nerv`` and how hard to compress. ``learned``: the fit learned its quantization
    (rate-aware training), so its file holds the steps it learned and only a target changes it."""

    def __init__(self, suggested: Path, fit_epochs: int, parent: QWidget | None = None, learned: bool = False) -> None:
        super().__init__(parent)
        self.learned = learned
        self.setWindowTitle("Save as .nerv")
        self.setObjectName("save-dialog")
        defaults = CompressOptions()
        self.path = QLineEdit(str(suggested))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.prune = QDoubleSpinBox(minimum=0, maximum=95, decimals=0, suffix=" %", value=defaults.prune * 100)
        self.prune.setToolTip("Fraction of the weights removed (smallest magnitudes first) before fine-tuning")
        self.finetune = QSpinBox(
            minimum=0, maximum=10_000, suffix=" epochs", value=min(defaults.finetune_epochs, max(5, fit_epochs // 4))
        )
        self.finetune.setToolTip("Training with the pruning mask fixed, to recover the quality pruning lost")
        self.bits = QSpinBox(minimum=MIN_BITS, maximum=MAX_BITS, value=defaults.bits, suffix=" bits")
        self.target = QLineEdit()
        self.target.setObjectName("save-target")
        self.target.setPlaceholderText("none · 200KB · bpp:0.05 · psnr:32")
        self.target.setToolTip(
            "A size cap (the file lands within 3 % under it; " + SIZE_HELP + "), a cap in bits per pixel, or a "
            "PSNR to reach with the smallest file: bits, pruning and step are then chosen for you"
        )
        self.target.textChanged.connect(self._target_changed)
        self.error = QLabel()
        self.error.setObjectName("save-error")
        self.error.setStyleSheet(f"color: {_STATUS_COLORS['failed']}")
        self.error.setWordWrap(True)
        self.error.hide()
        self.note = QLabel(
            "This fit learned its quantization (rate-aware training): the file holds the steps it learned, so pruning, "
            "fine-tuning and the bit width do not apply; a target still does."
        )
        self.note.setObjectName("save-learned")
        self.note.setWordWrap(True)
        self.note.setVisible(learned)
        for widget in (self.prune, self.finetune, self.bits):
            widget.setEnabled(not learned)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("File", row)
        form.addRow("Prune", self.prune)
        form.addRow("Fine-tune", self.finetune)
        form.addRow("Quantize to", self.bits)
        form.addRow("Target", self.target)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(520, self.sizeHint().height())

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save as .nerv", self.path.text(), "NeRV video (*.nerv)")
        if path:
            self.path.setText(path if path.endswith(".nerv") else path + ".nerv")

    def _target_changed(self, text: str) -> None:
        """With a target, rate control chooses the pruning and the width."""
        self.prune.setEnabled(not text.strip() and not self.learned)
        self.bits.setEnabled(not text.strip() and not self.learned)
        self.error.hide()

    def parsed_target(self) -> Target | None:
        text = self.target.text().strip()
        return parse_target(text) if text else None

    def accept(self) -> None:
        """Accepted only with a target that means something (else the reason, under the form)."""
        try:
            self.parsed_target()
        except ConfigError as e:
            self.error.setText(str(e))
            self.error.show()
            return
        super().accept()

    def options(self, device: str) -> CompressOptions:
        return CompressOptions(
            prune=self.prune.value() / 100,
            finetune_epochs=self.finetune.value(),
            bits=self.bits.value(),
            device=device,
            target=self.parsed_target(),
        )

    def output(self) -> Path:
        return Path(self.path.text()).expanduser()


ABOUT = """<h3>nervplayer</h3>
<p>A video player whose videos are neural networks (NeRV, Chen et al., NeurIPS 2021): frame index → network →
RGB frame. Fit a clip, watch it learn, compress it to a <code>.nerv</code> file, and play it back by frame index,
compared against the original.</p>
<p>Press <b>?</b> over the video for the keys.</p>"""
