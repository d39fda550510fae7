import numpy as np
import pytest
from clips import moving_shapes, write_png_folder, write_video

from nervplayer.errors import VideoError
from nervplayer.video import iter_frames, output_size, probe

FORMATS = [
    ("mp4", "libx264", "yuv420p"),
    ("mkv", "libx264", "yuv444p"),
    ("mkv", "libx265", "yuv420p10le"),
    ("webm", "libvpx-vp9", "yuv420p"),
    ("avi", "mpeg4", "yuv420p"),
    ("mkv", "ffv1", "gray"),
    ("mkv", "ffv1", "yuv444p10le"),
]


@pytest.mark.parametrize("ext,codec,pix_fmt", FORMATS)
def test_reads_containers_bit_depths_and_pixel_formats(tmp_path, ext, codec, pix_fmt):
    frames = moving_shapes(6, 48, 64)
    path = write_video(tmp_path / f"clip.{ext}", frames, codec, pix_fmt, options={})
    info = probe(path)
    assert (info.num_frames, info.height, info.width) == (6, 48, 64)
    got = np.stack(list(iter_frames(info)))
    assert got.shape == (6, 48, 64, 3) and got.dtype == np.uint8
    target = frames.mean(-1, keepdims=True) if pix_fmt == "gray" else frames
    assert np.abs(got.astype(float) - target).mean() < 25  # lossy codecs: close, not equal


def test_frame_range_and_resize(tmp_path):
    path = write_video(tmp_path / "c.mp4", moving_shapes(10, 64, 96))
    info = probe(path)
    got = list(iter_frames(info, 3, 7, output_size(info, scale=0.5)))
    assert len(got) == 4 and got[0].shape == (32, 48, 3)
    assert output_size(info, size=(20, 30)) == (20, 30)


def test_png_folder_in_natural_order(tmp_path):
    frames = moving_shapes(12, 32, 32)
    folder = write_png_folder(tmp_path / "f", frames)
    info = probe(folder)
    assert info.kind == "images" and info.num_frames == 12
    assert np.array_equal(np.stack(list(iter_frames(info))), frames)  # frame_10 sorts after frame_9


def test_unreadable_image_in_folder(tmp_path):
    folder = write_png_folder(tmp_path / "f", moving_shapes(3, 16, 16))
    (folder / "frame_2.png").write_bytes(b"garbage")
    with pytest.raises(VideoError, match="frame_2.png: not a readable image"):
        list(iter_frames(probe(folder)))
