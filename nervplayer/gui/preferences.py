"""The Preferences dialog: default device and precision of a fit, the decoded-frame cache size and the key
bindings (a table built from the action table, so every action that has keys can be rebound). Its command-line
twin is ``nervplayer settings``; the values are :class:`nervplayer.settings.Preferences`."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..errors import ConfigError
from ..settings import MAX_CACHE_MB, PRECISIONS, Preferences, check
from .actions import ACTIONS, check_bindings
from .fit_panel import available_devices

KEY_COLUMN = 1


class PreferencesDialog(QDialog):
    def __init__(self, prefs: Preferences, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setObjectName("preferences")
        self.resize(620, 640)
        self.device = QComboBox()
        self.device.addItems(list(dict.fromkeys([*available_devices(), prefs.device])))
        self.device.setCurrentText(prefs.device)
        self.precision = QComboBox()
        self.precision.addItems(PRECISIONS)
        self.precision.setCurrentText(prefs.precision)
        self.cache = QSpinBox(minimum=0, maximum=MAX_CACHE_MB, value=prefs.cache_mb, suffix=" MB")
        self.cache.setToolTip("memory for decoded frames; 0 decodes every frame shown")

        self.rows = [row for row in ACTIONS if row.keys]
        self.table = QTableWidget(len(self.rows), 2)
        self.table.setHorizontalHeaderLabels(["Action", "Keys"])
        self.table.verticalHeader().hide()
        self.key_cells: list[QTableWidgetItem] = []  # the editable cell of each row
        for i, row in enumerate(self.rows):
            name = QTableWidgetItem(f"{row.group}: {row.text.replace('&', '')}")
            name.setFlags(name.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.table.setItem(i, 0, name)
            self.key_cells.append(QTableWidgetItem(" ".join(prefs.keys.get(row.id, row.keys))))
            self.table.setItem(i, KEY_COLUMN, self.key_cells[-1])
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)

        self.problem = QLabel()
        self.problem.setObjectName("preferences-problem")
        self.problem.setStyleSheet("color: #ff8a80")
        self.problem.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self.restore_defaults)

        form = QFormLayout()
        form.addRow("Default fit device", self.device)
        form.addRow("Default fit precision", self.precision)
        form.addRow("Frame cache", self.cache)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Keys, separated by spaces (the menus and the ? overlay follow them):"))
        layout.addWidget(self.table, 1)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)

    def set_keys(self, action_id: str, keys: str) -> None:
        """Type ``keys`` into the row of ``action_id`` (what a user does in the table)."""
        i = next(n for n, row in enumerate(self.rows) if row.id == action_id)
        self.key_cells[i].setText(keys)

    def restore_defaults(self) -> None:
        defaults = Preferences()
        self.device.setCurrentText(defaults.device)
        self.precision.setCurrentText(defaults.precision)
        self.cache.setValue(defaults.cache_mb)
        for cell, row in zip(self.key_cells, self.rows):
            cell.setText(" ".join(row.keys))

    def preferences(self) -> Preferences:
        """What the dialog shows; :class:`ConfigError` naming every problem (a bad key, a key used twice)."""
        bindings = {}
        for cell, row in zip(self.key_cells, self.rows):
            keys = tuple(cell.text().split())
            if keys != row.keys:
                bindings[row.id] = keys
        problems = check_bindings(bindings)
        if problems:
            raise ConfigError("; ".join(problems))
        return check(
            Preferences(
                device=self.device.currentText(),
                precision=self.precision.currentText(),
                cache_mb=self.cache.value(),
                keys=bindings,
            )
        )

    def accept(self) -> None:
        """Close only with valid preferences; otherwise say what is wrong under the table."""
        try:
            self.preferences()
        except ConfigError as e:
            self.problem.setText(str(e))
            return
        super().accept()
