"""Fuzzing read_idx: random and mutated IDX files, raw and gzipped, give a valid array or a DatasetError naming
the file, never another exception, a hang or a large allocation."""
import gzip
import struct
import tracemalloc

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnlab.data import read_idx
from cnnlab.errors import DatasetError

# Bounded: each test runs its examples in a few seconds; a slow example (a hang) fails the deadline.
FUZZ = settings(max_examples=300, deadline=5000,  # generous: shared CI machines stall; a real hang still fails
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
MAX_PEAK = 4 * 2**20  # inputs are under 2 KB; reading one must never take more than a few MB


def check_read(path, data: bytes) -> None:
    """The property: read_idx on `data` returns an array consistent with its header, or raises DatasetError."""
    path.write_bytes(data)
    tracemalloc.start()
    try:
        try:
            array = read_idx(path)
        except DatasetError as error:
            assert str(error).startswith(str(path))
        else:
            assert array.dtype == np.uint8 and array.ndim in (1, 3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MAX_PEAK


@st.composite
def idx_files(draw) -> bytes:
    """A valid small IDX file (images or labels), often with a mutated header or body."""
    kind = draw(st.sampled_from(["images", "labels"]))
    count = draw(st.integers(0, 5))
    shape = (count,) + ((draw(st.integers(1, 6)), draw(st.integers(1, 6))) if kind == "images" else ())
    body = draw(st.binary(min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    data = bytearray(struct.pack(f">I{len(shape)}I", 2051 if kind == "images" else 2049, *shape) + body)
    for _ in range(draw(st.integers(0, 3))):
        data = mutate(draw, data)
    return bytes(data)


def mutate(draw, data: bytearray) -> bytearray:
    """One random edit: flip a byte, set a (header) word to an arbitrary 32-bit value, cut, or insert bytes."""
    how = draw(st.sampled_from(["flip", "word", "cut", "insert"]))
    at = draw(st.integers(0, max(len(data) - 1, 0)))
    if how == "flip" and data:
        data[at] ^= draw(st.integers(1, 255))
    elif how == "word":  # header words decide how much we read: try huge and zero dimensions
        word = draw(st.integers(0, 4)) * 4
        value = draw(st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 2**31, 2**32 - 1, 10**9])))
        data[word:word + 4] = struct.pack(">I", value)
    elif how == "cut":
        del data[at:]
    else:
        data[at:at] = draw(st.binary(min_size=1, max_size=8))
    return data


@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_bytes_raw_or_named_gz_give_array_or_dataset_error(tmp_path, data):
    check_read(tmp_path / "x-ubyte", data)
    check_read(tmp_path / "x-ubyte.gz", data)


@FUZZ
@given(data=idx_files())
def test_mutated_raw_idx_gives_array_or_dataset_error(tmp_path, data):
    check_read(tmp_path / "x-ubyte", data)


@FUZZ
@given(data=idx_files(), compressed_edits=st.data())
def test_mutated_gzipped_idx_gives_array_or_dataset_error(tmp_path, data, compressed_edits):
    compressed = bytearray(gzip.compress(data, mtime=0))
    for _ in range(compressed_edits.draw(st.integers(0, 2))):  # also damage the gzip stream itself
        compressed = mutate(compressed_edits.draw, compressed)
    check_read(tmp_path / "x-ubyte.gz", bytes(compressed))


def test_unmutated_generated_files_read_back(tmp_path):
    """The generator is sound: with no mutation the file is valid, so the fuzzing above reaches the data path."""
    path = tmp_path / "x-ubyte"
    for shape, magic in [((3, 2, 4), 2051), ((5,), 2049), ((0, 1, 1), 2051)]:
        body = bytes(range(int(np.prod(shape))))
        path.write_bytes(struct.pack(f">I{len(shape)}I", magic, *shape) + body)
        assert read_idx(path).tobytes() == body and read_idx(path).shape == shape
