import threading

import numpy as np
import pytest
import torch

from nervplayer.codec import NervVideo, nervfile
from nervplayer.errors import ConfigError
from nervplayer.model.render import to_uint8

from .conftest import TINY_MODEL, tiny_nerv


def test_properties_and_frames(tiny_file):
    video = NervVideo.open(tiny_file[1])
    assert (video.num_frames, video.fps, video.size) == (16, 25.0, (24, 40))
    f = video.frame(3)
    assert f.dtype == np.uint8 and f.shape == (24, 40, 3)
    clip = video.frames(2, 13)
    assert clip.shape == (11, 24, 40, 3)
    assert (clip[1] == f).all()


def test_file_equals_the_in_memory_quantized_model_bit_for_bit(tiny_file, tmp_path):
    nf = tiny_nerv(bits=5, prune=0.6, seed=3)
    path = tmp_path / "x.nerv"
    nervfile.save(nf, path)
    a, b = NervVideo(nf), NervVideo.open(path)
    for t in (0, 7, 7.5, 15):
        assert torch.equal(a.predict([t]), b.predict([t]))
    # ... and both equal a plain NeRV loaded with the dequantized weights.
    from nervplayer.model import NeRV

    model = NeRV(TINY_MODEL, torch.nn.SiLU).eval()
    model.load_state_dict(nf.state_dict())
    with torch.no_grad():
        assert torch.equal(model(torch.tensor([7 / 16])), a.predict([7]))


def test_fractional_index_is_between_frames(tiny_file):
    video = NervVideo.open(tiny_file[1])
    a, mid, b = (video.predict([t]) for t in (4, 4.5, 5))
    assert not torch.equal(mid, a) and not torch.equal(mid, b)
    assert video.frame(4.5).shape == (24, 40, 3)


def test_out_of_range(tiny_file):
    video = NervVideo.open(tiny_file[1])
    for bad in (-1, 15.5, 16):
        with pytest.raises(ConfigError, match="outside the video"):
            video.frame(bad)
    with pytest.raises(ConfigError):
        video.frames(10, 17)


def test_many_threads_share_one_video(tiny_file):
    video = NervVideo.open(tiny_file[1])
    expected = [video.frame(i) for i in range(16)]
    errors, results = [], {}

    def worker(k):
        try:
            for i in range(16):
                results[(k, i)] = video.frame((i + k) % 16)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all((results[(k, i)] == expected[(i + k) % 16]).all() for k in range(4) for i in range(16))


def test_open_nerv_decodes_uint8_frames_by_index(tiny_file):
    import nervplayer

    video = nervplayer.open_nerv(tiny_file[1])
    assert isinstance(video, NervVideo)
    frames = video.decode([0, 3, 4.5])  # the decode contract: uint8 [B, H, W, 3] on the host
    assert frames.dtype == np.uint8 and frames.shape == (3, *video.size, 3)
    assert (frames[1] == video.frame(3)).all() and (video.frames(3, 4)[0] == frames[1]).all()
    assert (frames[:1] == to_uint8(video.predict([0]))).all()  # predict: the float frames decode rounds
