"""The IDX codec: MNIST's file format (big-endian magic, one uint32 per dimension, then unsigned bytes), read
with every defect reported as a DatasetError naming the file, and written byte-for-byte reproducibly."""
import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DatasetError

# http://yann.lecun.com/exdb/mnist/ : big-endian magic (0, 0, dtype code, ndim), one uint32 per dimension, data.
IDX_MAGIC = {2049: 1, 2051: 3}  # labels: 1-D, images: 3-D (the only kinds MNIST-like sets use)
# A header claiming more is corrupt: refuse before allocating anything. The largest MNIST-like set we know
# (EMNIST ByClass, 814,255 x 28 x 28 = 638M bytes) fits; a flipped high byte in a dimension does not.
MAX_IDX_ITEMS = 10**9
READ_BLOCK = 1 << 20  # read 1 MiB at a time (gzip allocates a whole block per read): memory follows the data present
GZIP_MAGIC = b"\x1f\x8b"


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _read_at_most(f, n: int) -> bytearray:
    """Up to `n` bytes of `f`, read in blocks: a header's claim never decides how much memory we take."""
    data = bytearray()
    while len(data) < n:
        block = f.read(min(READ_BLOCK, n - len(data)))
        if not block:
            break
        data += block
    return data


def read_idx(path) -> np.ndarray:
    """Read an IDX file of unsigned bytes (gzipped if the name ends in .gz) into a writable uint8 array.
    Any defect raises DatasetError naming the file and the problem."""
    path = Path(path)
    try:
        with _open(path) as f:
            header = f.read(4)
            if len(header) == 0:
                raise DatasetError(f"{path}: empty file")
            if len(header) < 4:
                raise DatasetError(f"{path}: truncated: expected at least 4 header bytes, found {len(header)}")
            magic = struct.unpack(">I", header)[0]
            if magic not in IDX_MAGIC:
                hint = " (the file looks gzipped: its name should end in .gz)" if header[:2] == GZIP_MAGIC else ""
                raise DatasetError(f"{path}: not an IDX image or label file: magic number {magic}, "
                                   f"expected 2051 (images) or 2049 (labels){hint}")
            ndim = IDX_MAGIC[magic]
            raw = f.read(4 * ndim)
            if len(raw) < 4 * ndim:
                raise DatasetError(f"{path}: truncated: header ends after {4 + len(raw)} bytes, "
                                   f"expected {4 + 4 * ndim}")
            shape = struct.unpack(f">{ndim}I", raw)
            count = math.prod(shape)
            if count > MAX_IDX_ITEMS or 0 in shape[1:]:
                raise DatasetError(f"{path}: corrupt header: dimensions {shape} are not plausible")
            expected = 4 + 4 * ndim + count
            if not isinstance(f, gzip.GzipFile):
                # Raw file: its size must match the header; know that before reading a byte of data.
                size = os.fstat(f.fileno()).st_size
                if size != expected:
                    raise _size_error(path, expected, size)
            data = _read_at_most(f, count + 1)  # one byte more than needed reveals trailing garbage
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except EOFError as error:  # gzip: the compressed stream stops before its end marker
        raise DatasetError(f"{path}: corrupt gzip file: truncated gzip stream ({error})") from None
    except (gzip.BadGzipFile, zlib.error) as error:  # bad header, bad CRC or length, bad deflate data
        raise DatasetError(f"{path}: corrupt gzip file: {error}") from None
    except OSError as error:  # a directory, no permission, I/O error
        raise DatasetError(f"{path}: cannot read: {error.strerror or error}") from None
    if len(data) != count:
        raise _size_error(path, expected, 4 + 4 * ndim + len(data), more=len(data) > count)
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def _size_error(path: Path, expected: int, found: int, more: bool = False) -> DatasetError:
    problem = "truncated" if found < expected else "too long (trailing bytes)"
    return DatasetError(f"{path}: {problem}: expected {expected:,} bytes, found {found:,}{' or more' if more else ''}")


def write_idx(path, array) -> None:
    """Write a uint8 array (N,) as labels or (N, H, W) as images; gzip if the name ends in .gz."""
    array = np.asarray(array)
    if array.size and (array.min() < 0 or array.max() > 255):
        raise ValueError(f"IDX stores unsigned bytes: values must be in 0-255, got {array.min()}-{array.max()}")
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = {1: 2049, 3: 2051}.get(array.ndim)
    if magic is None:
        raise ValueError(f"IDX labels are 1-D and images 3-D, got shape {array.shape}")
    payload = struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        # No file name or time in the gzip header: the same array always gives the same bytes.
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
