"""A full garbage collection, which may run on the GUI thread, scans only what was made since the window opened
its file: start-up's and the opening's objects (torch, Qt, the window, the model: some 340,000) are frozen out of it
(0.3-1 s of the event loop per full collection before, on a loaded 2-core machine)."""

import gc


def test_a_full_collection_scans_only_what_was_made_since_the_file_opened(make_window, qtbot, shapes_clip):
    window = make_window([str(shapes_clip)])
    qtbot.waitUntil(lambda: window.fit_panel.state == "ready", timeout=60_000)
    assert gc.get_freeze_count() > 100_000
    assert len(gc.get_objects()) < 20_000  # what the next full collection scans
