"""``nervplayer eval FILE.nerv VIDEO`` scores the file against its own source only: a video of another size,
too short for the recorded range, or (when the file records its hash) of other content is one line, exit 2,
unless ``--any-source`` says it is intended. In a real process."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from clips import moving_shapes, write_video
from codec.conftest import tiny_nerv
from test_cli_contract import assert_one_line_error, nervplayer

from nervplayer.codec import nervfile
from nervplayer.errors import VideoError
from nervplayer.opening import load_nerv
from nervplayer.video import file_hash


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny .nerv (16 frames, from a 80×48 source) that records ``source.mp4`` as its source, and videos that
    are not that source."""
    root = tmp_path_factory.mktemp("truth")
    source = write_video(root / "source.mp4", moving_shapes(16, 48, 80))
    nerv = tiny_nerv()
    nervfile.save(
        dataclasses.replace(nerv, source={"name": "source.mp4", "sha256": file_hash(source)}), root / "a.nerv"
    )
    nervfile.save(dataclasses.replace(nerv, source={"name": "source.mp4"}), root / "no-hash.nerv")
    others = {
        "size": write_video(root / "other-size.mp4", moving_shapes(16, 64, 64)),
        "frames": write_video(root / "short.mp4", moving_shapes(8, 48, 80)),
        "content": write_video(root / "reversed.mp4", moving_shapes(16, 48, 80)[::-1].copy()),
    }
    return root, source, others


def test_the_recorded_source_is_scored(files):
    root, source, _ = files
    result = nervplayer("eval", root / "a.nerv", source)
    assert result.returncode == 0, result.stderr
    assert "all frames    (  16): PSNR" in result.stdout


@pytest.mark.parametrize(
    "other,says",
    [("size", "is 64×64, the source was 80×48"), ("frames", "has 8 frames"), ("content", "its content differs")],
)
def test_a_video_that_is_not_the_source_is_one_line(files, other, says):
    root, _, others = files
    line = assert_one_line_error(nervplayer("eval", root / "a.nerv", others[other]))
    assert f"{others[other]} is not the source of {root / 'a.nerv'} (source.mp4)" in line, line
    assert says in line and "--any-source" in line, line


def test_any_source_scores_another_video_on_purpose(files):
    root, _, others = files
    result = nervplayer("eval", root / "a.nerv", others["content"], "--any-source")
    assert result.returncode == 0, result.stderr
    assert "PSNR" in result.stdout


def test_without_a_recorded_hash_size_and_length_are_checked(files):
    root, _, others = files
    assert nervplayer("eval", root / "no-hash.nerv", others["content"]).returncode == 0
    assert "is 64×64" in assert_one_line_error(nervplayer("eval", root / "no-hash.nerv", others["size"]))


def test_the_help_names_the_flag(files):
    result = nervplayer("eval", "--help")
    assert result.returncode == 0 and "--any-source" in result.stdout


def test_a_run_folder_is_checked_against_its_source_too(files):
    root, source, others = files
    run = root / "run"
    fit = ["fit", source, "-o", run, "--preset", "nerv-xs", "--epochs", "1", "--model", "stem_dim=16"]
    assert nervplayer(*fit, "--model", "fc_c=4", "--model", "lower_width=4").returncode == 0
    line = assert_one_line_error(nervplayer("eval", run, others["content"]))
    assert f"is not the source of {run} (source.mp4): its content differs" in line, line
    assert nervplayer("eval", run, others["content"], "--any-source").returncode == 0


def test_the_player_refuses_a_ground_truth_that_cannot_be_the_source(files):
    """Chosen by hand (``--gt``, File ▸ Open ground truth), a video of other content is compared as asked; one
    of another size or too short cannot be the source at all (it would be resized and scored silently)."""
    root, source, others = files
    nerv = str(root / "a.nerv")
    for other, says in (("size", "it is 64×64, the source was 80×48"), ("frames", "it has 8 frames")):
        with pytest.raises(VideoError, match=f"is not the source of this .nerv \\(source.mp4\\): {says}"):
            load_nerv(nerv, str(others[other]), None, threading.Event())
    assert load_nerv(nerv, str(others["content"]), None, threading.Event()).truth is not None
    assert load_nerv(nerv, None, None, threading.Event()).truth_path == str(source)  # found beside the file
