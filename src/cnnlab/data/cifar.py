"""CIFAR-10 from its official binary version, cifar-10-binary.tar.gz: six files of fixed 3,073-byte records,
each one label byte (0-9) then 32x32 red, 32x32 green and 32x32 blue bytes, row by row. Nothing is unpickled:
the python version of the archive (pickled numpy arrays) is refused, since unpickling can run code.

A directory holds the data as the archive, as its extracted cifar-10-batches-bin/ folder, or as the six .bin
files themselves. catalog.py finds it and download.py fetches it (MD5-checked); this module reads and checks it."""
import os
import sys
import tarfile
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import DatasetError
from .checksum import md5
from .split import Split

ARCHIVE = "cifar-10-binary.tar.gz"
ARCHIVE_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"  # the official archive's, from its homepage
FOLDER = "cifar-10-batches-bin"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILES = ("test_batch.bin",)
SIDE, CHANNELS = 32, 3
RECORD = 1 + CHANNELS * SIDE * SIDE  # 3,073 bytes: the label, then the red, green and blue planes
RECORDS_PER_FILE = 10_000
FILE_BYTES = RECORD * RECORDS_PER_FILE  # 30,730,000: every official batch file; a larger one is refused unread
UNVERIFIED = "CNNLAB_UNVERIFIED_DATA"  # set to 1: train on an archive whose MD5 is not the official one's
PICKLE_ARCHIVE, PICKLE_FOLDER = "cifar-10-python.tar.gz", "cifar-10-batches-py"
PAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"


def _bin_dir(directory: Path) -> Path | None:
    """The folder holding the six .bin files (`directory` or its cifar-10-batches-bin/), or None."""
    for place in (directory, directory / FOLDER):
        if all((place / f).is_file() for f in TRAIN_FILES + TEST_FILES):
            return place
    return None


def holds(directory: Path) -> bool:
    return (directory / ARCHIVE).is_file() or _bin_dir(directory) is not None


def refuse_pickle_version(place: Path) -> None:
    """Raise DatasetError when `place` holds only the python (pickle) version of CIFAR-10."""
    if holds(place):
        return
    for name in (PICKLE_ARCHIVE, PICKLE_FOLDER, "data_batch_1"):
        if (place / name).exists():
            _refuse(place / name)


def _refuse(path) -> None:
    raise DatasetError(f"{path}: the python (pickle) version of CIFAR-10, which cnnlab does not read: unpickling "
                       f"a downloaded file can run any code in it; fetch the binary version {ARCHIVE} from {PAGE} "
                       "instead (or run 'cnnlab download cifar10')")


def parse_records(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, 32, 32) uint8 images and (N,) int64 labels from the bytes of one .bin file; `source` names it."""
    if len(data) == 0:
        raise DatasetError(f"{source}: empty file")
    if len(data) % RECORD:
        raise DatasetError(f"{source}: {len(data):,} bytes is not a whole number of {RECORD:,}-byte records "
                           f"({len(data) // RECORD:,} records and {len(data) % RECORD:,} bytes left over): truncated, "
                           "or not a CIFAR-10 binary file")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)
    labels = records[:, 0]
    bad = labels > 9
    if bad.any():
        raise DatasetError(f"{source}: {int(bad.sum()):,} labels out of range 0-9 (first: {int(labels[bad][0])} in "
                           f"record {int(bad.argmax()):,}): not a CIFAR-10 binary file (CIFAR-100's has two label "
                           "bytes)")
    images = records[:, 1:].reshape(-1, CHANNELS, SIDE, SIDE)
    return images, labels.astype(np.int64)


def _read_archive(path: Path) -> dict[str, bytes]:
    """The six .bin files' bytes from the .tar.gz, read member by member (nothing is extracted to disk)."""
    wanted = {f"{FOLDER}/{name}": name for name in TRAIN_FILES + TEST_FILES}
    found = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if member.name.startswith(PICKLE_FOLDER + "/"):
                    _refuse(path)
                if member.name in wanted:
                    if not member.isfile():
                        raise DatasetError(f"{path}: {member.name} is not a regular file inside the archive")
                    _check_size(f"{path}:{member.name}", member.size)  # before reading it into memory
                    found[wanted[member.name]] = tar.extractfile(member).read()
            while tar.fileobj.read(1 << 20):  # to the end of the gzip stream, where its CRC and length are checked
                pass
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:  # gzip.BadGzipFile is an OSError
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise DatasetError(f"{path}: truncated or corrupt archive ({reason})") from None
    missing = [f"{FOLDER}/{n}" for n in TRAIN_FILES + TEST_FILES if n not in found]
    if missing:
        raise DatasetError(f"{path}: {', '.join(missing)} not inside: not the CIFAR-10 binary archive ({ARCHIVE})")
    return found


def _check_size(source, size: int) -> None:
    if size > FILE_BYTES:
        raise DatasetError(f"{source}: {size:,} bytes, more than a CIFAR-10 batch file holds ({FILE_BYTES:,}): not "
                           "a CIFAR-10 binary file")


def verify(path: Path) -> None:
    """Refuse an archive whose MD5 is not the official one's (ARCHIVE_MD5, as downloads check it): a changed or
    different file would otherwise train and report as `cifar10`. With UNVERIFIED=1 a warning says so instead."""
    expected, got = ARCHIVE_MD5, md5(path)
    if got == expected:
        return
    if os.environ.get(UNVERIFIED) == "1":
        print(f"warning: {path} is not the official CIFAR-10 archive (MD5 {got}, expected {expected}); using it as "
              f"{UNVERIFIED}=1 asks", file=sys.stderr)
        return
    raise DatasetError(f"{path}: MD5 {got} is not the official CIFAR-10 archive's ({expected}): a changed or "
                       f"different file; get the official one ('cnnlab download cifar10' or {PAGE}), or to train on "
                       f"your own data in CIFAR-10's format set {UNVERIFIED}=1")


def read(place: Path) -> tuple:
    """Both splits of CIFAR-10 from `place`: the archive itself, or a directory holding it or the .bin files.
    Returns (train, test) data.Split's."""
    place = Path(place)
    if place.is_file():
        if place.name == PICKLE_ARCHIVE:
            _refuse(place)
        files = _read_archive(place)
        name_of = {n: f"{place}:{FOLDER}/{n}" for n in files}
    else:
        bins = _bin_dir(place)
        if bins is None:
            return read(place / ARCHIVE)
        files, name_of = {}, {}
        for name in TRAIN_FILES + TEST_FILES:
            try:
                _check_size(bins / name, (bins / name).stat().st_size)
                files[name] = (bins / name).read_bytes()
            except OSError as error:
                raise DatasetError(f"{bins / name}: cannot read: {error.strerror or error}") from None
            name_of[name] = str(bins / name)
    splits = []
    for names in (TRAIN_FILES, TEST_FILES):
        parts = [parse_records(files[n], name_of[n]) for n in names]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        splits.append(Split(torch.from_numpy(images), torch.from_numpy(labels)))
    if place.is_file():
        verify(place)  # after every record is checked, so a damaged archive is named as such
    return splits[0], splits[1]


def write_archive(path, train: tuple, test: tuple) -> None:
    """Write (images (N, 3, 32, 32) uint8, labels (N,)) pairs as a CIFAR-10 binary .tar.gz: the training
    records spread over the five data_batch files, the test records in test_batch. For tests and for packing
    one's own 32x32 data in the format."""
    import io

    def records(images, labels):
        images = np.asarray(images, dtype=np.uint8).reshape(len(images), -1)
        return np.concatenate([np.asarray(labels, dtype=np.uint8)[:, None], images], axis=1).tobytes()

    train_images, train_labels = train
    chunks = np.array_split(np.arange(len(train_labels)), len(TRAIN_FILES))
    contents = {name: records(train_images[c], train_labels[c]) for name, c in zip(TRAIN_FILES, chunks)}
    contents[TEST_FILES[0]] = records(*test)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in contents.items():
            info = tarfile.TarInfo(f"{FOLDER}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
