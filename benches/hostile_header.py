"""How long the reader takes to refuse a few-KB grid ``.nerv`` whose header declares an absurd number of levels
(issue 21: 100,000 levels took 46 s, the model being built on the meta device before anything was compared).

    python benches/hostile_header.py [--levels 20000 100000]
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
import zlib

import torch

from nervplayer.codec import container, nervfile
from nervplayer.codec.packing import pack_model
from nervplayer.errors import NervFormatError
from nervplayer.model import architectures
from nervplayer.plugins import get_registry
from nervplayer.plugins.api import Frames

PREAMBLE = struct.Struct("<8sHHII")


def grid_file(levels: int) -> bytes:
    """A valid small grid file whose header then says ``levels`` levels (the checksum fixed)."""
    torch.manual_seed(0)
    spec = architectures.resolve("grid", Frames(24, 40, 8))
    state = architectures.build(spec).state_dict()
    video = {"num_frames": 8, "fps": 25.0, "start": 0, "end": 8, "stride": 1, "size": [24, 40]}
    nf = pack_model(
        state,
        spec,
        dict.fromkeys(state, 6),
        True,
        {},
        video=video,
        activation={"id": "silu", "version": "1.0", "params": {}},
        coder="ans",
        mask_model="tensor",
    )
    data = nervfile.encode(nf)[0]
    n = PREAMBLE.unpack_from(data)[3]
    header = json.loads(data[PREAMBLE.size : PREAMBLE.size + n])
    header["model"]["levels"] = levels
    head = json.dumps(header).encode()
    return (
        PREAMBLE.pack(container.MAGIC, *container.VERSION, len(head), zlib.crc32(head))
        + head
        + data[PREAMBLE.size + n :]
    )


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--levels", type=int, nargs="+", default=[20_000, 100_000])
    args = p.parse_args(argv)
    get_registry()  # loading the plugins is not the reader's work
    for levels in args.levels:
        data = grid_file(levels)
        t0 = time.perf_counter()
        try:
            nervfile.decode(*container.unpack(data))
            outcome = "accepted"
        except NervFormatError as e:
            outcome = f"refused: {str(e)[:100]}"
        print(f"{len(data):,} bytes, {levels:,} levels: {time.perf_counter() - t0:.3f} s, {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
