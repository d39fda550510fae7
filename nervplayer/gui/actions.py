"""The one action table. Menus, keyboard shortcuts and the ``?`` help overlay are all built from it.

The user's key bindings (Preferences, ``nervplayer settings keys.ID=...``) replace a row's keys:
:func:`set_bindings` installs them, :func:`keys` is what every consumer reads, and :func:`apply_bindings`
updates the shortcuts of existing actions (the menus show them; the help overlay rebuilds from :func:`keys`).

Keys follow mpv's defaults (docs: shared ux conventions). A row's ``scope`` says which object carries out the
action: ``player`` (the playback widget, usable on its own) or ``window`` (the main window). ``hold`` rows act
while their key is held down (flicker compare), so they get no QAction: the player watches press and release.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


@dataclass(frozen=True)
class ActionSpec:
    id: str
    text: str
    keys: tuple[str, ...]
    handler: str  # method name on the scope's object
    group: str
    scope: str = "player"
    args: tuple[Any, ...] = ()
    checkable: bool = False
    hold: bool = False


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open", "&Open…", ("Ctrl+O",), "open_dialog", "File", "window"),
    ActionSpec("open_truth", "Open &ground truth…", ("Ctrl+Shift+O",), "open_truth_dialog", "File", "window"),
    ActionSpec("new_study", "&New study…", (), "new_study_dialog", "File", "window"),
    ActionSpec("open_study", "Open s&tudy…", ("Ctrl+Shift+T",), "open_study_dialog", "File", "window"),
    ActionSpec("save_nerv", "&Save as .nerv…", ("Ctrl+S",), "save_nerv", "File", "window"),
    ActionSpec("preferences", "Pr&eferences…", ("Ctrl+,",), "show_preferences", "File", "window"),
    ActionSpec("quit", "&Quit", ("Ctrl+Q",), "close", "File", "window"),
    ActionSpec("play", "Play / pause", ("Space", "P"), "toggle_play", "Playback"),
    ActionSpec("next_frame", "Next frame", (".",), "step", "Playback", args=(1,)),
    ActionSpec("prev_frame", "Previous frame", (",",), "step", "Playback", args=(-1,)),
    ActionSpec("forward", "Forward 1 s (next frame when paused)", ("Right",), "seek_or_step", "Seek", args=(1,)),
    ActionSpec("back", "Back 1 s (previous frame when paused)", ("Left",), "seek_or_step", "Seek", args=(-1,)),
    ActionSpec("forward_10", "Forward 10 s", ("Up",), "seek", "Seek", args=(10,)),
    ActionSpec("back_10", "Back 10 s", ("Down",), "seek", "Seek", args=(-10,)),
    ActionSpec("first", "First frame", ("Home",), "go_to", "Seek", args=(0,)),
    ActionSpec("last", "Last frame", ("End",), "go_to", "Seek", args=(-1,)),
    ActionSpec("worst", "Worst frame (lowest PSNR)", ("W",), "jump_to_worst", "Seek"),
    ActionSpec("slower", "Slower (÷1.1)", ("[",), "scale_speed", "Speed", args=(1 / 1.1,)),
    ActionSpec("faster", "Faster (×1.1)", ("]",), "scale_speed", "Speed", args=(1.1,)),
    ActionSpec("half", "Half speed", ("{",), "scale_speed", "Speed", args=(0.5,)),
    ActionSpec("double", "Double speed", ("}",), "scale_speed", "Speed", args=(2.0,)),
    ActionSpec("normal", "Normal speed", ("Backspace",), "reset_speed", "Speed"),
    ActionSpec("ab_loop", "Loop: set A, set B, clear", ("L",), "cycle_ab_loop", "Loop"),
    ActionSpec("loop_all", "Loop the whole clip", ("Shift+L",), "toggle_loop_all", "Loop", checkable=True),
    ActionSpec("compare", "Ground-truth overlay on / off", ("G",), "toggle_compare", "Compare"),
    ActionSpec(
        "compare_mode",
        "Next compare mode (wipe, side by side, difference, flicker)",
        ("C",),
        "cycle_compare",
        "Compare",
    ),
    ActionSpec("diff_mode", "Difference view; again: next mode (×1, ×4, ×16, signed)", ("D",), "cycle_diff", "Compare"),
    ActionSpec("flicker", "Show the ground truth while held", ("X",), "hold_truth", "Compare", hold=True),
    ActionSpec("fit", "Fit to window", ("0",), "zoom_fit", "View"),
    ActionSpec("native", "Native size (1:1)", ("1",), "zoom_native", "View"),
    ActionSpec("zoom_in", "Zoom in", ("+", "="), "zoom_step", "View", args=(1.25,)),
    ActionSpec("zoom_out", "Zoom out", ("-",), "zoom_step", "View", args=(0.8,)),
    ActionSpec("fullscreen", "Fullscreen", ("F",), "toggle_fullscreen", "View", "window", checkable=True),
    ActionSpec("leave_fullscreen", "Leave fullscreen", ("Esc",), "leave_fullscreen", "View", "window"),
    ActionSpec("stats", "Statistics overlay", ("I",), "toggle_stats", "View", checkable=True),
    ActionSpec("help", "Key help", ("?", "F1"), "toggle_help", "View", checkable=True),
    ActionSpec("shot", "Screenshot of the decoded frame (native size)", ("S",), "screenshot_frame", "View"),
    ActionSpec("shot_view", "Screenshot of the view as shown", ("Shift+S",), "screenshot_view", "View"),
    ActionSpec("fit_start", "&Start fitting", ("Ctrl+Return",), "start_fit", "Fit", "window"),
    ActionSpec("fit_pause", "&Pause / resume", ("Ctrl+P",), "toggle_pause_fit", "Fit", "window"),
    ActionSpec("fit_cancel", "&Cancel", ("Ctrl+Shift+X",), "cancel_fit", "Fit", "window"),
    ActionSpec("plugins", "&Plugins…", (), "show_plugins", "Help", "window"),
    ActionSpec("about", "&About nervplayer", (), "show_about", "Help", "window"),
)

# Menus of the main window, each listing its groups (separated by a line).
MENUS: dict[str, tuple[str, ...]] = {
    "&File": ("File",),
    "&Playback": ("Playback", "Seek", "Speed", "Loop"),
    "&View": ("Compare", "View"),
    "F&it": ("Fit",),
    "&Help": ("Help",),
}


_bindings: dict[str, tuple[str, ...]] = {}  # action id -> the user's keys, where not the table's


def spec(action_id: str) -> ActionSpec:
    return next(s for s in ACTIONS if s.id == action_id)


def keys(row: ActionSpec) -> tuple[str, ...]:
    """The keys of a row: the user's binding if there is one, else the table's."""
    return _bindings.get(row.id, row.keys)


def set_bindings(bindings: dict[str, tuple[str, ...]]) -> None:
    """Install the user's bindings (ids not in the table are ignored: a setting of another version)."""
    ids = {row.id for row in ACTIONS}
    _bindings.clear()
    _bindings.update({k: tuple(v) for k, v in bindings.items() if k in ids})


def check_bindings(bindings: dict[str, tuple[str, ...]]) -> list[str]:
    """What is wrong with ``bindings`` (unknown key names, a key bound to two actions), one line each."""
    problems: list[str] = []
    owner: dict[str, str] = {}  # key text -> the action it is bound to
    for row in ACTIONS:
        for key in bindings.get(row.id, row.keys):
            text = QKeySequence(key).toString(QKeySequence.SequenceFormat.PortableText)
            if not text or QKeySequence(key).count() != 1:
                problems.append(f"{row.text.replace('&', '')}: {key!r} is not a key")
            elif text in owner:
                problems.append(f"{text} is bound to both '{owner[text]}' and '{row.text.replace('&', '')}'")
            else:
                owner[text] = row.text.replace("&", "")
    return problems


def hold_keys(action_id: str) -> list[QKeySequence]:
    return [QKeySequence(k) for k in keys(spec(action_id))]


def create_actions(target: Any, scope: str, owner: QWidget) -> dict[str, QAction]:
    """A QAction per row of ``scope`` (hold rows excluded), triggering ``target.<handler>(*args)``.

    The actions are added to ``owner`` with window-wide shortcuts, so they work wherever focus is in the window
    (widgets that use a key themselves, such as text fields, still get it first).
    """
    actions: dict[str, QAction] = {}
    for row in ACTIONS:
        if row.scope != scope or row.hold:
            continue
        action = QAction(row.text, owner)
        action.setObjectName(row.id)
        action.setShortcuts([QKeySequence(k) for k in keys(row)])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(row.checkable)
        handler = getattr(target, row.handler)
        action.triggered.connect(lambda _checked=False, h=handler, a=row.args: h(*a))
        owner.addAction(action)
        actions[row.id] = action
    return actions


def apply_bindings(actions: dict[str, QAction]) -> None:
    """Give existing actions the keys :func:`keys` now says (after :func:`set_bindings`)."""
    for action_id, action in actions.items():
        action.setShortcuts([QKeySequence(k) for k in keys(spec(action_id))])


def key_text(row: ActionSpec) -> str:
    """The keys of a row as the user reads them (``Space, P``)."""
    text = ", ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) for k in keys(row))
    return text + (" (hold)" if row.hold else "")
