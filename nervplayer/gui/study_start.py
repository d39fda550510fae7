"""File > New study: the options of ``nervplayer study NAME VIDEO -o DIR [fit options] [--values ...] [--quick]``
as a form. OK builds the :class:`~nervplayer.study.StudyRunner`, which checks every run as the CLI does; a bad
value is an error dialog with its one line, the form stays open and nothing starts."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..errors import ConfigError, NervError
from ..model import architectures
from ..study import STUDIES, StudyRunner, get_study, split_values
from ..train import FitConfig
from ..train.config import DEFAULT_ARCH
from ..train.recipe import recipe_defaults
from .errors import show_error
from .fit_panel import available_devices

SCALES = (("source size", None), ("50 %", 0.5), ("25 %", 0.25), ("12.5 %", 0.125))


def default_folder(study: str, video: str) -> Path:
    return Path.home() / "nervplayer-studies" / f"{study}-{Path(video).stem or 'video'}"


class NewStudyDialog(QDialog):
    """Emits ``ready(runner)`` once the options make a study that passed every check, then closes."""

    ready = Signal(object)

    def __init__(self, video: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New study")
        self.setObjectName("new-study-dialog")
        self.runner: StudyRunner | None = None

        self.study = QComboBox()
        for s in STUDIES.values():
            self.study.addItem(s.name, s.name)
            self.study.setItemData(self.study.count() - 1, s.description, Qt.ItemDataRole.ToolTipRole)
        self.description = QLabel()
        self.description.setObjectName("study-description")
        self.description.setWordWrap(True)
        self.video = QLineEdit(video or "")
        self.output = QLineEdit()
        self._output_edited = False
        self.output.textEdited.connect(self._output_was_edited)
        self.values = QLineEdit()
        self.values.setToolTip("comma-separated, as --values: learning rates, activation ids, alpha=0.3, 320x180 …")
        self.quick = QCheckBox("Quick first look: nerv-xs, 160 px wide, 32 frames, a tenth of the epochs")

        self.arch = QComboBox()
        for entry in architectures.list_models():
            self.arch.addItem(entry.id, entry.id)
        self.arch.setCurrentIndex(self.arch.findData(DEFAULT_ARCH))  # as `nervplayer study` and the fit panel
        self.preset = QComboBox()
        self.params = QLineEdit()
        self.params.setPlaceholderText("e.g. 300k (sizes the model to this budget)")
        self.epochs = QSpinBox(minimum=1, maximum=100_000, value=300)
        self.lr = QLineEdit("5e-4")
        self.batch = QSpinBox(minimum=1, maximum=256, value=1)
        self.scale = QComboBox()
        for label, scale in SCALES:
            self.scale.addItem(label, scale)
        self.frames = QLineEdit()
        self.frames.setPlaceholderText("START:END (default: the whole clip)")
        self.eval_every = QSpinBox(minimum=1, maximum=100_000, value=50, suffix=" epochs")
        self.device = QComboBox()
        self.device.addItems(available_devices())

        form = QFormLayout()
        form.addRow("Study", self.study)
        form.addRow("", self.description)
        form.addRow("Video", self._with_browse(self.video, self._browse_video))
        form.addRow("Output folder", self._with_browse(self.output, self._browse_output))
        form.addRow("Values", self.values)
        form.addRow("", self.quick)
        fit = QGroupBox("Fit options (every run's base)")
        f = QFormLayout(fit)
        f.addRow("Architecture", self.arch)
        f.addRow("Preset", self.preset)
        f.addRow("Parameters", self.params)
        f.addRow("Epochs", self.epochs)
        f.addRow("Learning rate", self.lr)
        f.addRow("Batch size", self.batch)
        f.addRow("Frame size", self.scale)
        f.addRow("Frames", self.frames)
        f.addRow("Evaluate every", self.eval_every)
        f.addRow("Device", self.device)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start study")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(fit)
        layout.addWidget(buttons)

        self.study.currentIndexChanged.connect(self._study_changed)
        self.video.textChanged.connect(self._suggest_output)
        self.arch.currentIndexChanged.connect(self._fill_presets)
        self._fill_presets()
        self._study_changed()
        self.resize(620, self.sizeHint().height())

    # --- the form ----------------------------------------------------------------------------------------
    @staticmethod
    def _with_browse(edit: QLineEdit, browse: Callable[[], object]) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        button = QPushButton("Browse…")
        button.clicked.connect(browse)
        row.addWidget(button)
        return row

    def _browse_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Video to study", self.video.text() or str(Path.home()))
        if path:
            self.video.setText(path)

    def _browse_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Study folder", self.output.text() or str(Path.home()))
        if folder:
            self.output.setText(folder)
            self._output_edited = True

    def _output_was_edited(self) -> None:
        self._output_edited = True

    def _suggest_output(self) -> None:
        if not self._output_edited:
            self.output.setText(str(default_folder(self.study.currentData(), self.video.text())))

    def _study_changed(self) -> None:
        study = get_study(self.study.currentData())
        self.description.setText(study.description)
        self.values.setPlaceholderText(", ".join(study.default_values) or "(no values: one long run)")
        self._suggest_output()

    def _fill_presets(self) -> None:
        self.preset.clear()
        self.lr.setText(f"{recipe_defaults(self.arch.currentData())['lr']:g}")  # the model's own
        default = architectures.architecture(self.arch.currentData())[1].default_preset
        self.preset.addItem(f"(the model's own{f': {default}' if default else ''})", None)
        for name in architectures.presets(self.arch.currentData()):
            self.preset.addItem(name, name)

    # --- the study -----------------------------------------------------------------------------------------
    def config(self) -> FitConfig:
        """The base FitConfig of every run; a value that is not one is a ConfigError."""
        try:
            lr = float(self.lr.text())
        except ValueError:
            raise ConfigError(f"learning rate must be a number, got {self.lr.text()!r}") from None
        start, end = 0, None
        if self.frames.text().strip():
            first, sep, last = self.frames.text().strip().partition(":")
            try:
                start, end = int(first or 0), (int(last) if last else None)
            except ValueError:
                raise ConfigError(f"frame range must look like START:END, got {self.frames.text()!r}") from None
        if not self.video.text().strip():
            raise ConfigError("which video? choose the clip the study fits")
        params = self.params.text().strip()
        return FitConfig(
            video=self.video.text().strip(),
            arch=self.arch.currentData(),
            preset=self.preset.currentData(),
            budget=architectures.parse_count(params) if params else None,
            epochs=self.epochs.value(),
            lr=lr,
            batch_size=self.batch.value(),
            scale=self.scale.currentData(),
            start=start,
            end=end,
            eval_every=self.eval_every.value(),
            device=self.device.currentText(),
            size_as=None,  # no preset: the model's own, as the size list says
        )

    def make_runner(self) -> StudyRunner:
        """The study the form describes, checked as ``nervplayer study`` checks it (the folder is claimed)."""
        if not self.output.text().strip():
            raise ConfigError("choose an output folder for the study")
        return StudyRunner(
            get_study(self.study.currentData()),
            self.config(),
            Path(self.output.text().strip()).expanduser(),
            split_values(self.values.text()),
            quick=self.quick.isChecked(),
        )

    def accept(self) -> None:
        try:
            self.runner = self.make_runner()
        except NervError as e:
            show_error(self, "Cannot start the study", e)
            return
        self.ready.emit(self.runner)
        super().accept()
