"""Classic codecs through PyAV: a round trip per encoder, and encoding leaves the caller's thread as it was."""

import os
import subprocess
import sys

import numpy as np
import pytest

from nervplayer.codec.classic import CODECS, encode_clip


def frames() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (6, 36, 50, 3), dtype=np.uint8)  # odd-free but not a multiple of 16


@pytest.mark.parametrize("codec", list(CODECS))
def test_a_clip_round_trips_at_its_size(codec):
    clip = frames()
    encoded = encode_clip(clip, 25.0, codec, CODECS[codec][1][0])
    assert encoded.frames.shape == clip.shape and encoded.bytes > 0


CHECK = """
import os, threading
import numpy as np
from nervplayer.codec.classic import CODECS, encode_clip
os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))  # whatever this test's parent was left with
before = (os.SCHED_OTHER, 0)
clip = np.random.default_rng(0).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
for codec in CODECS:
    encode_clip(clip, 25.0, codec, CODECS[codec][1][-1])
    after = (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)
    assert after == before, (codec, before, after)
started = []
thread = threading.Thread(target=lambda: started.append(os.sched_getscheduler(0)))
thread.start()
thread.join()
assert started == [before[0]], started
"""


@pytest.mark.skipif(not hasattr(os, "sched_getscheduler"), reason="scheduling policies are Linux's")
def test_encoding_leaves_the_threads_scheduling_alone():
    """SVT-AV1 run as root switched the encoding thread to real-time scheduling (SCHED_FIFO 99), inherited by
    every thread started after it: a full test run then hung in busy-waiting decode threads. In a fresh process,
    as it happens once per process."""
    r = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
