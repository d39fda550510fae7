"""Preferences: the dialog applies and saves device, precision, cache size and key bindings; a rebound key
changes the shortcut, the menu entry and the ``?`` overlay at once (one action table); a damaged settings file
is reported and the defaults used."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMessageBox

from nervplayer.gui import actions
from nervplayer.gui.actions import key_text, spec
from nervplayer.video.source import ArraySource


@pytest.fixture(autouse=True)
def _default_bindings():
    yield
    actions.set_bindings({})  # the bindings are the app's: leave the table's keys to the next test


def menu_action(window, action_id):
    """The entry of the menus for an action."""
    for menu in window.menuBar().findChildren(type(window.menuBar().actions()[0].menu())):
        for action in menu.actions():
            if action.objectName() == action_id:
                return action
    raise AssertionError(f"{action_id} is in no menu")


def test_rebinding_a_key_updates_shortcut_menu_and_help(make_window, qtbot, clip, settings):
    window = make_window(["/nonexistent.mp4"])
    for box in window.findChildren(QMessageBox):
        box.accept()
    window.player.set_source(ArraySource(clip))
    dialog = window.show_preferences()
    dialog.set_keys("play", "K")
    dialog.accept()
    assert not dialog.isVisible()

    assert window.named_actions["play"].shortcuts() == [QKeySequence("K")]
    assert menu_action(window, "play").shortcut() == QKeySequence("K")
    help_html = "".join(label.text() for label in window.player.canvas.help.columns)
    assert ">K</td>" in help_html and "Space" not in help_html
    assert key_text(spec("play")) == "K"
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    qtbot.keyClick(window.player.canvas, Qt.Key.Key_K)
    assert window.player.state.playing

    saved = json.loads(settings.prefs_file.read_text())
    assert saved["keys"] == {"play": ["K"]}
    again = make_window(["/nonexistent.mp4"])  # the next start uses it
    assert again.named_actions["play"].shortcuts() == [QKeySequence("K")]


def test_a_key_bound_twice_is_refused_and_nothing_is_saved(make_window, settings):
    window = make_window(["/nonexistent.mp4"])
    dialog = window.show_preferences()
    dialog.set_keys("play", "G")  # G is the ground-truth overlay's
    dialog.accept()
    assert dialog.isVisible() and "G is bound to both" in dialog.problem.text()
    dialog.set_keys("play", "NoSuchKey+Q")
    dialog.accept()
    assert dialog.isVisible() and "is not a key" in dialog.problem.text()
    dialog.reject()
    assert not settings.prefs_file.exists()
    assert window.named_actions["play"].shortcuts() == [QKeySequence("Space"), QKeySequence("P")]


def test_device_precision_and_cache_are_applied_and_saved(make_window, settings):
    window = make_window(["/nonexistent.mp4"])
    dialog = window.show_preferences()
    dialog.device.setCurrentText("cpu")
    dialog.precision.setCurrentText("fp32")
    dialog.cache.setValue(64)
    dialog.accept()
    assert window.fit_panel.device.currentText() == "cpu" and window.fit_panel.precision == "fp32"
    assert window.player.decoder.cache.budget_bytes == 64 << 20
    assert settings.prefs.cache_mb == 64 and json.loads(settings.prefs_file.read_text())["precision"] == "fp32"
    dialog = window.show_preferences()
    dialog.restore_defaults()
    assert dialog.preferences().precision == "auto" and dialog.preferences().keys == {}
    dialog.reject()


def test_a_damaged_settings_file_is_reported_and_the_defaults_used(make_window, settings, tmp_path):
    settings.prefs_file.write_text("{not json")
    from nervplayer.gui.settings import Settings

    window = make_window(["/nonexistent.mp4"], Settings(settings.store))
    titles = [b.text() for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert "Preferences not loaded" in titles
    assert window.player.decoder.cache.budget_bytes == 512 << 20
    assert window.named_actions["play"].shortcuts() == [QKeySequence("Space"), QKeySequence("P")]
    assert settings.prefs_file.read_text() == "{not json"  # reported, not overwritten
