"""Header values whose bytes are valid but whose meaning is not (issue 21): each is a format error where the file
is read, quickly and before anything large is built or allocated, whoever reads it (``info``, ``eval``, the
player's open path)."""

from __future__ import annotations

import re
import threading
import time
import tracemalloc

import numpy as np
import pytest
from test_cli_contract import assert_one_line_error, nervplayer

from nervplayer.cli.main import main
from nervplayer.codec import container, entropy, nervfile
from nervplayer.codec.quantize import levels
from nervplayer.errors import NervFormatError
from nervplayer.opening import load_nerv
from nervplayer.plugins import get_registry

from .conftest import tiny_grid_nerv, tiny_latent_nerv, tiny_step_nerv
from .test_container import load_bytes, repack_header

GRID = nervfile.encode(tiny_grid_nerv())[0]
HNERV = nervfile.encode(tiny_latent_nerv())[0]
STEP = nervfile.encode(tiny_step_nerv())[0]


def refused_quickly(data: bytes, match: str) -> None:
    get_registry()  # loading the plugins (once per test here) is not the reader's work
    t0 = time.perf_counter()
    with pytest.raises(NervFormatError, match=match):
        load_bytes(data)
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.parametrize(
    "data, edit, match",
    [
        (GRID, lambda m: m.update(levels=100_000), r"model levels = 100000 is outside the plugin's limits \[1, 12\]"),
        (GRID, lambda m: m.update(levels=20_000), "model levels"),
        (GRID, lambda m: m.update(levels=4.5), "model levels must be an integer"),
        (GRID, lambda m: m.update(channels="4"), "model channels must be a number"),
        (GRID, lambda m: m.update(hidden=10**9), "model hidden"),
        (GRID, lambda m: m.update(latent_gain=1e999), "model latent_gain"),  # JSON 1e999 reads as inf
        (GRID, lambda m: m.update(grid_t=10**9), r"model grid_t must be an integer in \[1, 16\]"),
        (GRID, lambda m: m.update(grid_h=0), "model grid_h"),
        (GRID, lambda m: m.pop("grid_w"), "model grid_w"),
        (HNERV, lambda m: m.update(strides=[1] * 100_000), "model strides must be a list of 1 to 12"),
        (HNERV, lambda m: m.update(strides=[32] * 12), "upscale more than"),
        (HNERV, lambda m: m.update(embed_dim=10**6), "model embed_dim"),
        (HNERV, lambda m: m.update(c0=[64]), "model c0 must be a number"),
        (HNERV, lambda m: m.update(grid_h=1), "model grid_h must be"),
    ],
)
def test_model_params_beyond_the_plugins_limits_are_refused_before_building(data, edit, match):
    """A 6 KB grid file declaring 100,000 levels took 46 s to refuse (the model was built on the meta device
    before the tensor list was compared); every declared parameter is now held to the plugin's limits first."""
    refused_quickly(repack_header(data, lambda h: edit(h["model"])), match)


# Every header field a reader uses, set to a value of the wrong type or out of range.
BAD_FIELDS = {
    "video.start wrong type": (("video", "start"), "zero"),
    "video.start negative": (("video", "start"), -1),
    "video.end wrong type": (("video", "end"), [16]),
    "video.end before the start": (("video", "end"), 0),
    "video.original_size short": (("video", "original_size"), [48]),
    "video.original_size wrong type": (("video", "original_size"), "48x80"),
    "video.crop wrong type": (("video", "crop"), 0),
    "video.fps boolean": (("video", "fps"), True),
    "source wrong type": (("source",), "synthetic.mp4"),
    "source.name wrong type": (("source", "name"), 5),
    "source.name a path": (("source", "name"), "../../clip.mp4"),
    "source.sha256 wrong type": (("source", "sha256"), 0),
    "metrics wrong type": (("metrics",), [30.5]),
    "metrics.psnr wrong type": (("metrics", "psnr"), "high"),
    "metrics.psnr infinite": (("metrics", "psnr"), 1e999),
    "compression.prune_ratio wrong type": (("compression", "prune_ratio"), "40%"),
    "compression.prune_ratio out of range": (("compression", "prune_ratio"), 4.0),
    "compression.bits wrong type": (("compression", "bits"), "8"),
    "compression.per_channel wrong type": (("compression", "per_channel"), "yes"),
    "compression.finetune_epochs negative": (("compression", "finetune_epochs"), -1),
    "created wrong type": (("created",), "today"),
}


def with_field(path: tuple[str, ...], value) -> bytes:
    def edit(h):
        parent = h
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value

    return repack_header(STEP, edit)


@pytest.mark.parametrize("case", BAD_FIELDS)
def test_each_bad_header_field_is_a_format_error_for_every_reader(case, tmp_path, capsys, shapes_clip):
    path, value = BAD_FIELDS[case]
    bad = tmp_path / "bad.nerv"
    bad.write_bytes(with_field(path, value))
    key = ".".join(path)
    with pytest.raises(NervFormatError, match=rf"bad\.nerv: (header\.)?{re.escape(key)}"):
        nervfile.load(bad)
    with pytest.raises(NervFormatError, match=re.escape(key)):  # the player's open path
        load_nerv(str(bad), None, None, threading.Event())
    capsys.readouterr()
    for command in (["info", str(bad)], ["eval", str(bad), str(shapes_clip), "--device", "cpu"]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and key in err[0], err


def test_a_bad_header_field_is_one_line_and_exit_2_from_the_cli(tmp_path, shapes_clip):
    """From a real process: before, ``eval`` reported "this is a bug in nervplayer (ValueError …)"."""
    bad = tmp_path / "bad.nerv"
    bad.write_bytes(with_field(("video", "start"), "zero"))
    assert "video.start" in assert_one_line_error(nervplayer("eval", bad, shapes_clip, "--device", "cpu"))
    bad.write_bytes(with_field(("metrics", "psnr"), "high"))
    assert "metrics.psnr" in assert_one_line_error(nervplayer("info", bad))


def test_the_fields_of_a_valid_file_pass(tmp_path):
    path = tmp_path / "ok.nerv"
    path.write_bytes(STEP)
    nf = nervfile.load(path)
    assert nf.metrics == {"psnr": 30.5, "ms_ssim": None} and nf.video["start"] == 0


def _sections_with(data: bytes, edit) -> bytes:
    """Apply ``edit(header, sections)`` to the parsed file and repack it with valid checksums."""
    header, sections = container.unpack(data)
    edit(header, sections)
    return container.pack({k: v for k, v in header.items() if k != "sections"}, list(sections.items()))


@pytest.mark.parametrize("field, section", [("mask_bytes", "MASK"), ("mask_table_bytes", "TABL")])
def test_stray_mask_bytes_on_a_step_tensor_are_refused(field, section):
    """A step-quantized tensor has no mask: bytes it declares for one were neither read nor refused, and shifted
    where every following tensor was read from."""

    def edit(header, sections):
        first = header["tensors"][0]
        first[field] = 4
        at = first["table_bytes"] if section == "TABL" else 0
        sections[section] = sections[section][:at] + b"\0\0\0\0" + sections[section][at:]

    with pytest.raises(NervFormatError, match="tensor stem.0.weight: mask data for a tensor without a mask"):
        load_bytes(_sections_with(STEP, edit))


@pytest.mark.parametrize(
    "step, offset",
    [(3e38, 0), (1.0, 2**31 - 10), (1.0, -(2**31)), (0.5, 200_000), (float("inf"), 0), (0.0, 0), (-0.01, 0)],
)
def test_a_step_or_offset_that_overflows_is_a_format_error_not_nan_frames(step, offset):
    def edit(header, sections):
        qpar = np.array([step], "<f4").tobytes() + np.array([offset], "<i4").tobytes()
        sections["QPAR"] = qpar + sections["QPAR"][8:]

    with pytest.raises(NervFormatError, match="tensor stem.0.weight: quantization step .* decode beyond"):
        load_bytes(_sections_with(STEP, edit))


def huge_constant_latent(frames: int) -> bytes:
    """The tiny HNeRV file made to declare ``frames`` frames of embeddings that are all the same: a few KB (a
    one-symbol table, no stream) for millions of values."""

    def edit(header, sections):
        emb = header["tensors"][0]
        assert emb["name"] == "embeddings" and emb["predict"] == "time" and not emb["per_channel"]
        header["video"].update(num_frames=frames, end=frames)
        emb["shape"][0] = frames
        emb["kept"] = int(np.prod(emb["shape"]))
        counts = np.zeros(2 ** (emb["bits"] + 1), np.int64)
        counts[levels(emb["bits"])] = emb["kept"]  # every residual is 0
        table = entropy.pack_counts(counts)
        sections["TABL"] = table + sections["TABL"][emb["table_bytes"] :]
        sections["WGHT"] = sections["WGHT"][emb["weights_bytes"] :]
        emb.update(table_bytes=len(table), weights_bytes=0)

    return _sections_with(HNERV, edit)


def test_a_huge_constant_latent_decodes_without_giant_temporaries():
    """A few KB declaring 4 million constant latents made about 40 bytes of temporaries per value (int32 and
    int64 copies of the whole tensor) before a frame was decoded; now the symbols and a bounded chunk."""
    data = huge_constant_latent(6400)
    values = 6400 * 640
    assert len(data) < 16 << 10
    tracemalloc.start()
    try:
        nf = load_bytes(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    symbols = nf.tensors["embeddings"].symbols
    assert symbols.size == values and (symbols == symbols[0]).all()
    assert peak < 2 * values + (16 << 20), f"{peak / values:.1f} bytes per value"


def test_the_constant_latent_file_still_decodes_frames():
    from nervplayer.codec import NervVideo

    video = NervVideo(load_bytes(huge_constant_latent(300)))
    first, last = video.decode([0, 299])
    assert np.array_equal(first, last)  # the same embedding everywhere
