"""The fit panel: the options of a fit (architecture and its size, schedule, device, plugins and their
parameters), a time budget's plan, and below them the controls and progress (gui/fit_controls.py). A time
budget's plan may cut the clip into segments (of the planner's length, or the one given): Start then runs a
segmented fit, whose progress counts segments against the time."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..codec import CompressOptions
from ..codec.ratecontrol import SIZE_HELP, parse_target
from ..errors import ConfigError, NervError
from ..model import architectures
from ..plan import Planned, compress_options, expected_training, fit_config
from ..plugins import get_registry
from ..plugins.api import Frames
from ..train import FitConfig
from ..train.config import DEFAULT_ARCH
from ..train.recipe import recipe_defaults
from ..video import VideoInfo
from .fit_controls import FitControls
from .plugin_form import PluginForm

SCALES = (1.0, 0.5, 0.25)
NO_LIMIT = "no limit"
TIMES = {NO_LIMIT: None, "30 s": 30.0, "1 min": 60.0, "5 min": 300.0, "10 min": 600.0, "30 min": 1800.0, "1 h": 3600.0}
PLANNED = {"size"}  # what a plan keeps of the form: the frame size (and range); it chooses the rest
BUDGET = "budget"  # the size choice that sizes the model to a parameter budget instead of a preset
# the default sizes: a laptop fits them in minutes (the grid's own follows the clip's pixels)
LAPTOP = {"nerv": "nerv-xs", "hnerv": "hnerv-xs", "grid": "grid-s"}


def available_devices() -> list[str]:
    import torch

    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        devices.append("mps")
    return devices


class FitPanel(QWidget):
    # (FitConfig, seconds, given, segment frames or None, Target or None)
    plan_requested = Signal(object, float, object, object, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("fit-panel")
        self.info: VideoInfo | None = None
        self.state = "empty"
        self.model_ok = True  # the chosen architecture and size can be built for the clip (else Start is off)

        self.video_label = QLabel("No video")
        self.video_label.setObjectName("video-label")
        self.video_label.setWordWrap(True)

        self.arch = QComboBox()
        for entry in architectures.list_models():
            self.arch.addItem(entry.id, entry.id)
            self.arch.setItemData(self.arch.count() - 1, entry.description, Qt.ItemDataRole.ToolTipRole)
        self.preset = QComboBox()  # the architecture's presets, then "parameter budget"
        self.budget = QLineEdit("300k")
        self.budget.setToolTip("stored values (weights + latents): 300k, 1.5M")
        self.cost = QLabel()  # parameters and multiply-adds per pixel of the chosen network, before Start
        self.cost.setObjectName("model-cost")
        self.cost.setWordWrap(True)
        self.arch.currentIndexChanged.connect(self._fill_presets)
        self.scale = QComboBox()
        self.scale.setToolTip("Frames are resized to this before fitting")
        self.first = QSpinBox()
        self.last = QSpinBox()
        self.epochs = QSpinBox(minimum=1, maximum=100_000, value=100)
        self.eval_every = QSpinBox(minimum=1, maximum=100_000, value=5, suffix=" epochs")
        self.lr = QLineEdit("5e-4")
        lr_valid = QDoubleValidator(1e-8, 10.0, 10)
        lr_valid.setNotation(QDoubleValidator.Notation.ScientificNotation)
        self.lr.setValidator(lr_valid)
        self.rate_lambda = QLineEdit("0")
        self.rate_lambda.setObjectName("rate-lambda")
        self.rate_lambda.setValidator(QDoubleValidator(0.0, 1e3, 6))
        self.rate_lambda.setToolTip(
            "Weight of the file's size in training (rate-aware training: quantization-aware, with a learned step per "
            "tensor): larger gives smaller files at lower quality; 0 trains for quality alone. nervplayer fit "
            "--rate-lambda"
        )
        self.batch = QSpinBox(minimum=1, maximum=256, value=1)
        self.device = QComboBox()
        self.device.addItems(available_devices())
        self.precision = "auto"  # the Preferences' default precision of a fit
        self.time = QComboBox()
        self.time.setObjectName("time-budget")
        self.time.addItems(list(TIMES))
        self.time.setToolTip(
            "A time budget for the whole way to a .nerv: the model, its size and the epochs are planned to fit it "
            "(the frame size and range are kept)"
        )
        self.segment = QSpinBox(minimum=0, maximum=100_000, value=0, suffix=" frames")
        self.segment.setObjectName("segment-length")
        self.segment.setSpecialValueText("planned")
        self.segment.setKeyboardTracking(False)  # typing 120 plans once, not for 1, 12 and 120
        self.segment.setToolTip(
            "With a time budget: the frames per segment (a long clip is fitted in segments, one model each; "
            "'planned': the planner's length, one segment for a short clip). nervplayer fit --time T --segment N"
        )
        self.target = QLineEdit()
        self.target.setObjectName("fit-target")
        self.target.setPlaceholderText("none · 2MB · bpp:0.05 · psnr:32")
        self.target.setToolTip(
            "With a time budget: what the .nerv must meet, planned with the fit: a size cap (the file lands within "
            "3 % under it; " + SIZE_HELP + "), a cap in bits per pixel, or a PSNR to reach with the smallest file. "
            "nervplayer fit --time T --target-size 2MB"
        )
        self.target.editingFinished.connect(self.request_plan)
        self.plan_label = QLabel()
        self.plan_label.setObjectName("plan")
        self.plan_label.setWordWrap(True)
        self.planned: Planned | None = None  # the plan of the chosen budget, once the session has made it
        self.time_limit: float | None = None  # the time limit of the last config() made

        reg = get_registry()
        self.activation = PluginForm(reg.entries("activation"), "silu")
        self.loss = PluginForm(reg.entries("loss"), "fusion6")
        self.scheduler = PluginForm(reg.entries("scheduler"), "warmup-cosine")

        model = QGroupBox("Model")
        f = QFormLayout(model)
        f.addRow("Architecture", self.arch)
        f.addRow("Preset", self.preset)
        f.addRow("Budget", self.budget)
        f.addRow("", self.cost)
        f.addRow("Size", self.scale)
        frames = QHBoxLayout()
        frames.addWidget(self.first, 1)
        frames.addWidget(QLabel("to"))
        frames.addWidget(self.last, 1)
        f.addRow("Frames", frames)
        f.addRow("Activation", self.activation)
        training = QGroupBox("Training")
        f = QFormLayout(training)
        f.addRow("Time budget", self.time)
        f.addRow("Segments of", self.segment)
        f.addRow("Target", self.target)
        f.addRow(self.plan_label)  # the whole width: the plan is a long line
        f.addRow("Epochs", self.epochs)
        f.addRow("Learning rate", self.lr)
        f.addRow("Rate term λ", self.rate_lambda)
        f.addRow("Batch size", self.batch)
        f.addRow("Device", self.device)
        f.addRow("Evaluate every", self.eval_every)
        f.addRow("Loss", self.loss)
        f.addRow("LR schedule", self.scheduler)
        self._options = (model, training)

        self.controls = FitControls()

        inner = QWidget()
        column = QVBoxLayout(inner)
        column.addWidget(self.video_label)
        column.addWidget(model)
        column.addWidget(training)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(inner)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.controls)
        for signal in (
            self.preset.currentIndexChanged,
            self.scale.currentIndexChanged,
            self.first.valueChanged,
            self.last.valueChanged,
            self.budget.editingFinished,
        ):
            signal.connect(self.update_cost)
        for signal in (
            self.time.currentIndexChanged,
            self.scale.currentIndexChanged,
            self.first.valueChanged,
            self.last.valueChanged,
            self.device.currentIndexChanged,
            self.segment.valueChanged,
        ):
            signal.connect(self.request_plan)
        self.arch.setCurrentIndex(self.arch.findData(DEFAULT_ARCH))
        self._fill_presets()
        self.set_state("empty")

    # --- the model -------------------------------------------------------------------------------------------
    def _fill_presets(self) -> None:
        arch = self.arch.currentData()
        self.preset.blockSignals(True)
        self.preset.clear()
        for name in architectures.presets(arch):
            self.preset.addItem(name, name)
        self.preset.addItem("parameter budget", BUDGET)
        default = LAPTOP.get(arch, BUDGET)
        self.preset.setCurrentIndex(max(self.preset.findData(default), 0))
        self.preset.blockSignals(False)
        recipe = recipe_defaults(arch)  # the training the model fits best with
        self.lr.setText(f"{recipe['lr']:g}")
        self.rate_lambda.setText(f"{recipe['rate_lambda']:g}")
        self.loss.set_choice(recipe["loss"])
        self.update_cost()

    def _size(self) -> tuple[str | None, int | None]:
        """(preset, budget) the size choice means; a budget that does not parse raises ConfigError."""
        if self.preset.currentData() != BUDGET:
            return self.preset.currentData(), None
        return None, architectures.parse_count(self.budget.text())

    def update_cost(self) -> None:
        """Show the chosen network's parameters and multiply-adds per pixel for this clip, or why it cannot be."""
        self._enable_budget()
        if self.info is None:
            self.cost.clear()
            return
        if self.budget_seconds is not None:  # the chosen network would mislead: the plan chooses another
            self.cost.setText("the time budget's plan (below) chooses the network")
            self._model_ok(True)
            return
        scale = self.scale.currentData() or 1.0
        frames = Frames(
            round(self.info.height * scale),
            round(self.info.width * scale),
            max(self.last.value() - self.first.value() + 1, 1),
        )
        try:
            preset, budget = self._size()
            summary = architectures.describe(self.arch.currentData(), frames, preset=preset, budget=budget)
        except NervError as e:
            self.cost.setText(f"<span style='color:#f06b5f'>{e}</span>")
            self._model_ok(False)
            return
        self.cost.setText(f"{summary.params:,} parameters · {summary.macs_per_pixel:,.0f} multiply-adds per pixel")
        self._model_ok(True)

    def _enable_budget(self) -> None:
        """The parameter budget is typed only when the size choice is "budget" and no time budget plans it."""
        self.budget.setEnabled(self.preset.currentData() == BUDGET and self.budget_seconds is None)

    def _model_ok(self, ok: bool) -> None:
        self.model_ok = ok
        self.controls.start_button.setEnabled(self._can_start())

    def _can_start(self) -> bool:
        """Ready, the model can be built, and with a time budget, its plan is made."""
        planned = self.budget_seconds is None or self.planned is not None
        return self.state in ("ready", "finished") and self.model_ok and planned

    # --- the time budget -----------------------------------------------------------------------------------
    @property
    def budget_seconds(self) -> float | None:
        return TIMES.get(self.time.currentText())

    def request_plan(self) -> None:
        """Ask for the plan of the chosen budget (the window hands it to the session); the plan's choices
        replace the model and training options, which are off while a budget is chosen."""
        self.planned = None
        seconds = self.budget_seconds
        for widget in (self.arch, self.preset, self.epochs, self.lr, self.rate_lambda, self.loss):
            widget.setEnabled(seconds is None)
        self.segment.setEnabled(seconds is not None)
        self.target.setEnabled(seconds is not None)
        self.update_cost()  # with a budget, the plan's network; without, the chosen one again
        if seconds is None or self.info is None:
            self.plan_label.clear()
            return
        try:
            target = parse_target(self.target.text()) if self.target.text().strip() else None
        except ConfigError as e:
            self.show_plan_failed(e)
            return
        self.plan_label.setText("planning: measuring the training speed on this device…")
        self._model_ok(self.model_ok)
        self.plan_requested.emit(self._form_config(), seconds, PLANNED, self.segment.value() or None, target)

    def show_plan(self, planned: Planned) -> None:
        """The plan the session made: its line, and Start uses it."""
        if planned.plan.seconds != self.budget_seconds:
            return  # a plan of a budget no longer chosen
        self.planned = planned
        aim = f" · target {planned.target.label()}" if planned.target is not None else ""
        self.plan_label.setText(f"{planned.plan.line()}{aim} (measured in {planned.probe_seconds:.1f} s)")
        self._model_ok(self.model_ok)

    def segmented_plan(self) -> tuple[CompressOptions, int] | None:
        """(how each segment is compressed, frames per segment) when the plan cuts the clip, else None."""
        planned = self.planned if self.budget_seconds is not None else None
        if planned is None or planned.plan.segments < 2:
            return None
        return compress_options(planned), planned.plan.segment_frames

    def show_plan_failed(self, error: BaseException) -> None:
        self.planned = None
        self.plan_label.setText(f"<span style='color:#f06b5f'>{error}</span>")
        self._model_ok(self.model_ok)

    # --- the video to fit ----------------------------------------------------------------------------------
    def set_video(self, info: VideoInfo | None, description: str = "Open a video to fit it.") -> None:
        """The clip the next fit trains on; None (with what is shown instead) when there is nothing to fit."""
        self.info = info
        self.controls.reset()
        if info is None:
            self.video_label.setText(description)
            self.set_state("empty")
            return
        name = info.path.rsplit("/", 1)[-1]
        self.video_label.setText(
            f"<b>{name}</b><br>{info.num_frames} frames · {info.width}×{info.height} · {info.fps:g} fps"
        )
        for spin in (self.first, self.last):
            spin.setRange(0, info.num_frames - 1)
        self.first.setValue(0)
        self.last.setValue(info.num_frames - 1)
        self.scale.blockSignals(True)
        self.scale.clear()
        for s in SCALES:
            self.scale.addItem(f"{s:.0%}  ({round(info.width * s)}×{round(info.height * s)})", s)
        self.scale.blockSignals(False)
        self.scale.setCurrentIndex(0 if info.width * info.height <= 640 * 360 else 1)
        self.update_cost()
        self.set_state("ready")
        self.request_plan()

    def set_defaults(self, device: str, precision: str) -> None:
        """The Preferences' default device (where this machine has it) and precision of a fit."""
        if self.device.findText(device) >= 0:
            self.device.setCurrentText(device)
        self.precision = precision

    def config(self) -> FitConfig:
        """The FitConfig the form describes (validated by the core when the fit starts); with a time budget, the
        plan's, its time limit counted from now."""
        config = self._form_config()
        if self.budget_seconds is not None:
            if self.planned is None:
                raise ConfigError("the plan of the time budget is not ready yet")
            config = fit_config(self.planned, PLANNED)
            self.time_limit = expected_training(config, self.planned.plan)
        else:
            self.time_limit = config.time_limit
        return config

    def _form_config(self) -> FitConfig:
        assert self.info is not None
        scale = self.scale.currentData() or 1.0
        preset, budget = self._size()
        # a plan chooses the model, and with it the rate term its recipe trains with (None), unless the plan has a
        # target, which rate control meets after a plain fit (as fit --target-*: no QAT, no rate term)
        planned = self.budget_seconds is not None
        rate_lambda = (
            float(self.rate_lambda.text() or 0) if not planned else 0.0 if self.target.text().strip() else None
        )
        return FitConfig(
            video=self.info.path,
            arch=self.arch.currentData(),
            preset=preset,
            budget=budget,
            epochs=self.epochs.value(),
            lr=float(self.lr.text() or recipe_defaults(self.arch.currentData())["lr"]),
            rate_lambda=rate_lambda,
            qat=None if rate_lambda is None else rate_lambda > 0,
            batch_size=self.batch.value(),
            device=self.device.currentText(),
            precision=self.precision,
            activation=self.activation.choice,
            activation_params=self.activation.values(),
            loss=None if planned else self.loss.choice,  # a plan's model trains with its own
            loss_params=self.loss.values(),
            scheduler=self.scheduler.choice,
            scheduler_params=self.scheduler.values(),
            start=self.first.value(),
            end=self.last.value() + 1,
            scale=None if scale == 1.0 else scale,
            eval_every=self.eval_every.value(),
        )

    # --- state and progress --------------------------------------------------------------------------------
    def set_state(self, state: str) -> None:
        """``empty`` (no video), ``ready``, ``starting``, ``running``, ``paused``, ``finished``, ``saving``."""
        self.state = state
        for widget in (*self._options, self.controls):
            widget.setVisible(state != "empty")  # with nothing to fit, the panel only describes what is open
        for box in self._options:
            box.setEnabled(state in ("ready", "finished"))
        self.controls.set_state(state, self._can_start())

    def started(self, epochs: int, start_epoch: float) -> None:
        self.set_state("running")
        self.controls.started(epochs, start_epoch, self.time_limit)

    def segments_started(self, count: int, time_limit: float | None) -> None:
        """A segmented fit: the progress counts the ``count`` segments done, the time left follows the clock."""
        self.set_state("running")
        self.controls.segments_started(count, time_limit)

    def set_paused(self, paused: bool) -> None:
        if paused:
            self.controls.progress.pause()
        else:
            self.controls.progress.resume()
        self.set_state("paused" if paused else "running")

    def finished(self, status: str) -> None:
        self.controls.progress.pause()
        self.set_state("finished")
        self.controls.finished(status)
