import numpy as np
from PySide6.QtCore import Qt

from nervplayer.video.source import ArraySource


def test_first_frame_is_shown(make_player, clip, qtbot, kit):
    player = make_player(ArraySource(clip))
    qtbot.waitUntil(lambda: player.canvas.displayed_index == 0, timeout=3000)
    assert np.array_equal(kit.shown(player), clip[0])
    qtbot.keyClick(player.canvas, Qt.Key.Key_Period)
    qtbot.waitUntil(lambda: player.canvas.displayed_index == 1, timeout=3000)
    assert np.array_equal(kit.shown(player), clip[1])
