"""A plugin picker: the entries of one registry kind in a combo box, and the chosen plugin's parameters as form
fields built from its declared :class:`~nervplayer.plugins.Param` list."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QLineEdit, QSpinBox, QVBoxLayout, QWidget

from ..plugins import Param, PluginEntry

_INT_LIMIT = 2**31 - 1


def _field(param: Param) -> tuple[QWidget, Any]:
    """A widget for ``param`` and a function reading its value back."""
    if param.choices is not None:
        box = QComboBox()
        for choice in param.choices:
            box.addItem(str(choice), choice)
        box.setCurrentIndex(list(param.choices).index(param.default))
        return box, box.currentData
    if isinstance(param.default, bool):
        check = QCheckBox()
        check.setChecked(param.default)
        return check, check.isChecked
    if isinstance(param.default, int):
        spin = QSpinBox()
        spin.setRange(
            int(param.minimum) if param.minimum is not None else -_INT_LIMIT,
            int(param.maximum) if param.maximum is not None else _INT_LIMIT,
        )
        spin.setValue(param.default)
        return spin, spin.value
    edit = QLineEdit(f"{param.default:g}" if isinstance(param.default, float) else str(param.default))
    if isinstance(param.default, float):
        validator = QDoubleValidator()
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        if param.minimum is not None:
            validator.setBottom(param.minimum)
        if param.maximum is not None:
            validator.setTop(param.maximum)
        edit.setValidator(validator)
        return edit, lambda: float(edit.text() or param.default)
    return edit, edit.text


class PluginForm(QWidget):
    changed = Signal()

    def __init__(self, entries: list[PluginEntry], default: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries = {e.id: e for e in entries}
        self.combo = QComboBox()
        for e in entries:
            self.combo.addItem(e.id, e.id)
            self.combo.setItemData(
                self.combo.count() - 1, f"{e.description}\n({e.source}, v{e.version})", Qt.ItemDataRole.ToolTipRole
            )
        self.params = QWidget()
        self.form = QFormLayout(self.params)
        self.form.setContentsMargins(16, 0, 0, 0)
        self._readers: dict[str, Any] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.combo)
        layout.addWidget(self.params)
        self.combo.currentIndexChanged.connect(self._rebuild)
        self.set_choice(default if default in self.entries else next(iter(self.entries), ""))
        self._rebuild()

    def set_choice(self, plugin_id: str) -> None:
        i = self.combo.findData(plugin_id)
        if i >= 0:
            self.combo.setCurrentIndex(i)

    @property
    def choice(self) -> str:
        return self.combo.currentData() or ""

    def values(self) -> dict[str, Any]:
        return {name: read() for name, read in self._readers.items()}

    def _rebuild(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self._readers = {}
        entry = self.entries.get(self.choice)
        self.combo.setToolTip(entry.description if entry else "")
        for param in entry.params if entry else ():
            widget, read = _field(param)
            widget.setToolTip(param.description)
            self.form.addRow(param.name.replace("_", " "), widget)
            self._readers[param.name] = read
        self.params.setVisible(bool(self._readers))
        self.changed.emit()
