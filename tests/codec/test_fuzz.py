"""Property: whatever is done to a valid file, opening it either works or raises NervFormatError, never
anything else (no crash, no hang, no giant allocation). Three mutators, ~1000 examples each: raw bytes (caught
by the checksums), header values with the checksum fixed (the validator), section payloads with the checksums
fixed (the entropy decoders). Every coder is covered (the valid file is drawn from one per coder, and one whose
latents are coded as temporal differences, and a grid whose latents use the laplace model with contexts), the module
runs under an address-space cap (:data:`MEMORY_CAP` above what the process uses at its start) and each case under
a :data:`CASE_TIMEOUT`, so a giant allocation or a hang fails its case instead of stalling the machine."""

from __future__ import annotations

import json
import resource
import signal
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nervplayer.codec import NervVideo, container, nervfile
from nervplayer.codec.entropy import CODERS
from nervplayer.errors import NervFormatError

from .conftest import context_grid_nerv, tiny_grid_nerv, tiny_latent_nerv, tiny_nerv, tiny_step_nerv

VALIDS = [
    nervfile.encode(tiny_nerv(coder=coder, mask_model="channel" if coder == "range" else "tensor"))[0]
    for coder in CODERS
] + [
    nervfile.encode(tiny_latent_nerv())[0],  # latents coded as temporal differences
    nervfile.encode(context_grid_nerv())[0],  # laplace models, latents with contexts (codec/context.py)
]
VALID = VALIDS[0]
PRE = struct.Struct("<8sHHII")
SETTINGS = settings(
    max_examples=1000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MEMORY_CAP = 2 << 30  # bytes of address space a case may add
CASE_TIMEOUT = 20  # seconds


@pytest.fixture(scope="module", autouse=True)
def memory_cap():
    """Cap the address space for this module's cases (restored afterwards)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        used = int(f.read().split()[0]) * resource.getpagesize()
    cap = used + MEMORY_CAP if hard == resource.RLIM_INFINITY else min(hard, used + MEMORY_CAP)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    yield cap
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _timed_out(signum, frame):
    raise TimeoutError(f"a fuzz case ran past {CASE_TIMEOUT} s")


def opens_or_fails_cleanly(data: bytes) -> None:
    previous = signal.signal(signal.SIGALRM, _timed_out)
    signal.alarm(CASE_TIMEOUT)
    try:
        try:
            header, sections = container.unpack(data)
            nf = nervfile.decode(header, sections)
        except NervFormatError:
            return
        frame = NervVideo(nf).frame(0)  # whatever loads must also decode
        assert frame.shape == (nf.model.height, nf.model.width, 3)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def split(data: bytes) -> tuple[dict, list[tuple[str, bytes]]]:
    header, sections = container.unpack(data)
    return header, list(sections.items())


@SETTINGS
@given(
    st.sampled_from(VALIDS),
    st.lists(
        st.tuples(
            st.sampled_from(["flip", "set", "insert", "delete", "truncate"]), st.integers(0, 10**6), st.integers(0, 255)
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_raw_byte_mutations(valid, edits):
    data = bytearray(valid)
    for op, pos, value in edits:
        pos = pos % max(len(data), 1)
        if op == "flip" and data:
            data[pos] ^= 1 << (value % 8)
        elif op == "set" and data:
            data[pos] = value
        elif op == "insert":
            data[pos:pos] = bytes([value]) * (1 + value % 9)
        elif op == "delete":
            del data[pos : pos + 1 + value % 9]
        elif op == "truncate":
            del data[pos:]
    opens_or_fails_cleanly(bytes(data))


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.just([]),
    st.just({}),
    st.lists(st.integers(-5, 10**6), max_size=6),
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


HEADER_PATHS = [p for p in _paths(split(VALID)[0]) if p and p[0] != "sections"]


@SETTINGS
@given(
    st.sampled_from(VALIDS),
    st.lists(
        st.tuples(st.sampled_from(HEADER_PATHS), st.sampled_from(["replace", "delete"]), json_leaf),
        min_size=1,
        max_size=3,
    ),
)
def test_header_mutations_with_valid_checksum(valid, edits):
    header, sections = split(valid)
    for path, op, value in edits:
        parent = header
        try:
            for key in path[:-1]:
                parent = parent[key]
            if op == "delete" and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    head = json.dumps(header).encode()
    if len(head) > container.MAX_HEADER_BYTES:
        return
    opens_or_fails_cleanly(
        PRE.pack(container.MAGIC, *container.VERSION, len(head), zlib.crc32(head))
        + head
        + valid[PRE.size + PRE.unpack_from(valid)[3] :]
    )


@SETTINGS
@given(
    st.sampled_from(VALIDS),
    st.integers(0, 3),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6),
    st.integers(-3, 3),
)
def test_payload_mutations_with_valid_checksums(valid, which, edits, resize):
    header, sections = split(valid)
    tag, payload = sections[which]
    payload = bytearray(payload)
    for pos, value in edits:
        if payload:
            payload[pos % len(payload)] = value
    if resize > 0:
        payload += bytes(resize)
    elif resize < 0:
        del payload[resize:]
    sections[which] = (tag, bytes(payload))
    opens_or_fails_cleanly(container.pack({k: v for k, v in header.items() if k != "sections"}, sections))


CONTEXT_VALID = VALIDS[-1]


@settings(SETTINGS, max_examples=500)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6))
def test_laplace_parameter_mutations(edits):
    """The stored laplace parameters of the contextual tensor (contexts, centre, thresholds, decays) mutated,
    with the checksums fixed: either the same symbols come out or a format error."""
    header, sections = split(CONTEXT_VALID)
    first = header["tensors"][0]  # grids.0: its parameters open TABL
    assert first.get("entropy") == "laplace" and first["table_bytes"] > 7
    which = [tag for tag, _ in sections].index("TABL")
    payload = bytearray(sections[which][1])
    for pos, value in edits:
        payload[pos % first["table_bytes"]] = value
    sections[which] = ("TABL", bytes(payload))
    opens_or_fails_cleanly(container.pack({k: v for k, v in header.items() if k != "sections"}, sections))


# Semantic mutations: header values that stay valid JSON of plausible shape but mean something hostile or wrong
# (types swapped, numbers huge, negative, fractional or infinite, lists of the wrong length), on every header path
# of a file of each kind: a grid, a step-quantized (rate-aware) NeRV, an HNeRV with predicted latents, a grid with
# contextual laplace models, a pruned NeRV. A header that is read must also be readable by everything that reads
# one: ``info``'s description, the player's summary and the decoder.
SEMANTIC_VALIDS = [
    nervfile.encode(make())[0] for make in (tiny_grid_nerv, tiny_step_nerv, tiny_latent_nerv, context_grid_nerv)
] + [VALID]
SEMANTIC_PATHS = [[p for p in _paths(split(v)[0]) if p and p[0] != "sections"] for v in SEMANTIC_VALIDS]
INF = float("inf")  # written as 1e999, which JSON parsers read as infinity
hostile_value = st.one_of(
    st.sampled_from([0, -1, 1, 2, 12, 13, 4096, 100_000, 2**31 - 1, 2**31, 2**53 + 1, 2**63, -(2**63), 10**30]),
    st.sampled_from([0.0, -0.0, 0.5, -1.5, 1e-308, 3e38, 1e308, -1e308, INF, -INF, float("nan")]),
    st.sampled_from(["", "4", "1e999", "../x", "a/b", "\x00", "Infinity"]),
    st.sampled_from([True, False, None]),
    st.sampled_from([[], [0], [1], [1, 2, 3], [[1]], [2**40, 2**40], ["a"], {}, {"a": 1}]),
)


def _mutate(value, op: str, new):
    if op == "replace":
        return new
    if op == "wrap":
        return [value]
    if op == "text":
        return json.dumps(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):  # "scale"
        return value * new if isinstance(new, (int, float)) and not isinstance(new, bool) else -value
    return new


def _header_json(header: dict) -> bytes:
    return json.dumps(header).replace("-Infinity", "-1e999").replace("Infinity", "1e999").encode()


def reads_cleanly_everywhere(data: bytes) -> None:
    """Like :func:`opens_or_fails_cleanly`, and a header that is accepted is read by every reader of headers."""
    from nervplayer.codec.report import describe
    from nervplayer.opening import describe_nerv

    previous = signal.signal(signal.SIGALRM, _timed_out)
    signal.alarm(CASE_TIMEOUT)
    try:
        try:
            header, sections = container.unpack(data)
            nf = nervfile.decode(header, sections)
        except NervFormatError:
            return
        describe(header, len(data))
        video = NervVideo(nf, memory_budget=256 << 20)
        describe_nerv("x.nerv", video, len(data))
        frames = video.decode([0, nf.num_frames - 1])
        assert frames.shape == (2, nf.model.height, nf.model.width, 3)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@settings(SETTINGS, max_examples=1000)
@given(
    st.integers(0, len(SEMANTIC_VALIDS) - 1),
    st.data(),
)
def test_header_semantic_mutations(which, data):
    valid = SEMANTIC_VALIDS[which]
    header, _ = split(valid)
    edits = data.draw(
        st.lists(
            st.tuples(
                st.sampled_from(SEMANTIC_PATHS[which]),
                st.sampled_from(["replace", "replace", "scale", "wrap", "text", "delete"]),
                hostile_value,
            ),
            min_size=1,
            max_size=3,
        )
    )
    for path, op, value in edits:
        parent = header
        try:
            for key in path[:-1]:
                parent = parent[key]
            if op == "delete" and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = _mutate(parent[path[-1]], op, value)
        except (KeyError, IndexError, TypeError):
            continue
    head = _header_json(header)
    reads_cleanly_everywhere(
        PRE.pack(container.MAGIC, *container.VERSION, len(head), zlib.crc32(head))
        + head
        + valid[PRE.size + PRE.unpack_from(valid)[3] :]
    )


def test_the_cap_holds(memory_cap):
    """The cap is real: an allocation past it fails instead of taking the machine's memory."""
    with pytest.raises(MemoryError):
        bytearray(memory_cap)
