"""Data: IDX files, the named data sets (MNIST, Fashion-MNIST, synthetic), where they come from, and
batches drawn from uint8 tensors held in memory (normalised and resized per batch, never per sample)."""
import gzip
import hashlib
import http.client
import math
import os
import struct
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import cifar
from .errors import ConfigError, DatasetError, unknown_name

# ---------------------------------------------------------------- IDX format
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
                raise DatasetError(f"{path}: truncated: header ends after {4 + len(raw)} bytes, expected {4 + 4 * ndim}")
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
    return DatasetError(f"{path}: {problem}: expected {expected:,} bytes, found {found:,}" + (" or more" if more else ""))


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


# ---------------------------------------------------------------- named data sets
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def emnist_files(split: str) -> dict:
    """The four IDX files of one EMNIST split, as named inside the official gzip.zip (under gzip/)."""
    return {part: (f"emnist-{split}-{part}-images-idx3-ubyte.gz", f"emnist-{split}-{part}-labels-idx1-ubyte.gz")
            for part in ("train", "test")}


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    classes: tuple[str, ...]
    sizes: tuple[int, int]  # (train, test)
    # Normalize() constants: mean and std of the training pixels in [0, 1], one per channel (a float for grey);
    # None: computed from the training set when it is loaded
    mean: float | tuple | None = None
    std: float | tuple | None = None
    md5: dict = field(default_factory=dict)  # file name -> md5 of the official download
    mirrors: tuple[str, ...] = ()  # base URLs, tried in order
    system_dirs: tuple[str, ...] = ()  # where an OS package puts the files
    apt_package: str = ""  # the Debian/Ubuntu package that installs them into system_dirs
    kind: str = "idx"  # idx, cifar10 (cifar.py), digits (scikit-learn), synthetic
    files: dict = field(default_factory=lambda: FILES)  # idx: split -> (images file, labels file)
    archive: str = ""  # idx: an archive holding the files (EMNIST's gzip.zip), used when they are not extracted
    transpose: bool = False  # idx: images stored column by column (EMNIST)
    label_offset: int = 0  # idx: the first label's value (EMNIST letters count from 1)
    cache: str = ""  # cache directory name when several sets share one download (EMNIST's splits)
    homepage: str = ""


_DIGITS = tuple(str(d) for d in range(10))
_UPPER = tuple(chr(c) for c in range(ord("A"), ord("Z") + 1))
_LOWER = tuple(chr(c) for c in range(ord("a"), ord("z") + 1))
_MERGED = _DIGITS + _UPPER + tuple("abdefghnqrt")  # EMNIST bymerge/balanced: 15 lower-case letters merged


def _emnist(split: str, classes, sizes, label_offset=0) -> DatasetSpec:
    return DatasetSpec(
        f"emnist-{split}", tuple(classes), sizes, md5={"gzip.zip": "58c8d27c78d21e728a6bc7b3cc06412e"},
        mirrors=("https://biometrics.nist.gov/cs_links/EMNIST/",), files=emnist_files(split), archive="gzip.zip",
        transpose=True, label_offset=label_offset, cache="emnist",
        homepage="https://www.nist.gov/itl/products-and-services/emnist-dataset")


SPECS = {
    "mnist": DatasetSpec(
        "mnist", _DIGITS, (60_000, 10_000),
        mean=0.1307, std=0.3081,  # Liu Er's lecture 10: Normalize((0.1307,), (0.3081,))
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    ),
    "fashion-mnist": DatasetSpec(
        "fashion-mnist",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        (60_000, 10_000),
        mean=0.2860, std=0.3530,  # computed from the 60,000 training images (tests/test_data.py checks it)
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        apt_package="dataset-fashion-mnist",
    ),
    # Kuzushiji-MNIST: one cursive hiragana character per row of the syllabary (Clanuwat et al. 2018)
    "kmnist": DatasetSpec(
        "kmnist", ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"), (60_000, 10_000),
        md5={
            "train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
            "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
            "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
            "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134",
        },
        mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",), homepage="https://github.com/rois-codh/kmnist",
    ),
    # EMNIST (Cohen et al. 2017): NIST Special Database 19 in MNIST's format; every split is in one gzip.zip
    "emnist-byclass": _emnist("byclass", _DIGITS + _UPPER + _LOWER, (697_932, 116_323)),
    "emnist-bymerge": _emnist("bymerge", _MERGED, (697_932, 116_323)),
    "emnist-balanced": _emnist("balanced", _MERGED, (112_800, 18_800)),
    "emnist-letters": _emnist("letters", tuple(f"{u}{l}" for u, l in zip(_UPPER, _LOWER)), (124_800, 20_800),
                              label_offset=1),
    "emnist-digits": _emnist("digits", _DIGITS, (240_000, 40_000)),
    "emnist-mnist": _emnist("mnist", _DIGITS, (60_000, 10_000)),
    # CIFAR-10 (Krizhevsky 2009), binary version: 32x32 colour images in fixed 3,073-byte records (see cifar.py)
    "cifar10": DatasetSpec(
        "cifar10", ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        (50_000, 10_000), md5={"cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530"},
        mirrors=("https://www.cs.toronto.edu/~kriz/",), kind="cifar10",
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
    ),
    # scikit-learn's copy of the UCI optical digits: 1,797 real 8x8 digits, 0-16 per pixel, shipped offline
    "digits": DatasetSpec("digits", _DIGITS, (1_438, 359), kind="digits"),
    "synthetic": DatasetSpec(
        "synthetic",
        ("hbar", "vbar", "diag", "antidiag", "box", "block", "cross", "plus", "corner", "dots"),
        (6_000, 1_000),
        mean=0.1718, std=0.1948,  # of the generated training images (tests check it)
        kind="synthetic",
    ),
}

# Mirrors can be replaced (tests, private hosting): CNNLAB_MIRRORS="url1 url2" applies to every data set.
MIRRORS_ENV = "CNNLAB_MIRRORS"
FOLDER_PREFIX = "folder:"  # --dataset folder:PATH: an image folder (see folder.py)
DEFAULT_TEST_SPLIT = 0.2  # fraction of each class held out when a set has no test split of its own
SPLIT_SEED = 0  # the held-out images depend on this alone: every run on the same folder tests on the same images


def dataset_spec(name: str) -> DatasetSpec:
    if name not in SPECS:
        raise unknown_name("dataset", name, [*SPECS, FOLDER_PREFIX + "PATH"])
    return SPECS[name]


def dataset_label(name: str) -> str:
    """`name` as it can appear in a file name: folder:~/my photos -> folder-my_photos."""
    if name.startswith(FOLDER_PREFIX):
        folder = Path(os.path.expanduser(name[len(FOLDER_PREFIX):])).resolve().name or "root"
        name = "folder-" + folder
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


@dataclass
class Split:
    images: torch.Tensor  # uint8: (N, H, W) grey, or (N, C, H, W) colour
    labels: torch.Tensor  # (N,) int64

    def __len__(self):
        return len(self.labels)

    @property
    def channels(self) -> int:
        return 1 if self.images.ndim == 3 else self.images.shape[1]


@dataclass
class Dataset:
    name: str
    train: Split
    test: Split
    classes: tuple[str, ...]
    mean: float | tuple  # per channel (a float for grey sets), of the training pixels in [0, 1]
    std: float | tuple
    source: str  # directory or file the data came from, or "generated"

    @property
    def channels(self) -> int:
        return self.train.channels


def channel_stats(images: torch.Tensor) -> tuple:
    """Mean and std of uint8 images scaled to [0, 1], per channel: floats for (N, H, W), tuples for (N, C, H, W).
    Exact, from a 256-bin histogram per channel (no float copy of the data)."""
    planes = [images] if images.ndim == 3 else [images[:, c] for c in range(images.shape[1])]
    values = torch.arange(256, dtype=torch.float64) / 255
    means, stds = [], []
    for plane in planes:
        counts = torch.bincount(plane.reshape(-1).long(), minlength=256).double()
        total = counts.sum().clamp(min=1)
        mean = (counts * values).sum() / total
        var = (counts * (values - mean) ** 2).sum() / total
        means.append(round(mean.item(), 4))
        stds.append(round(max(var.sqrt().item(), 1e-3), 4))  # a constant image set would divide by zero
    if images.ndim == 3:
        return means[0], stds[0]
    return tuple(means), tuple(stds)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) holding out `test_fraction` of each class, chosen by a seeded shuffle: the same
    labels, fraction and seed always give the same split. A class of n >= 2 images keeps at least one on each side."""
    if not 0 < test_fraction < 1:
        raise ConfigError(f"--test-split must be between 0 and 1 (a fraction of each class), got {test_fraction}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for k in np.unique(labels):
        members = np.flatnonzero(labels == k)
        rng.shuffle(members)
        n_test = int(round(len(members) * test_fraction))
        if len(members) >= 2:
            n_test = min(max(n_test, 1), len(members) - 1)
        test.append(members[:n_test])
        train.append(members[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def cache_dir(name: str) -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    if name in SPECS and SPECS[name].cache:
        name = SPECS[name].cache
    return Path(root) / "cnnlab" / name


def candidate_dirs(name: str, data_dir=None) -> list[tuple[str, Path]]:
    """Where files are looked for, in order: explicit dir / $CNNLAB_DATA, the user cache, system locations.
    An explicit directory is the only place looked in (see load_dataset)."""
    spec = dataset_spec(name)
    if data_dir is not None:
        return [("--data-dir", Path(os.path.expanduser(str(data_dir))))]
    found = []
    if os.environ.get("CNNLAB_DATA"):
        base = Path(os.environ["CNNLAB_DATA"])
        found += [("CNNLAB_DATA", base / name), ("CNNLAB_DATA", base)]
        if spec.cache:
            found.append(("CNNLAB_DATA", base / spec.cache))
    found.append(("cache", cache_dir(name)))
    found += [("system", Path(d)) for d in spec.system_dirs]
    return found


def required_files(name: str) -> list[str]:
    """The files a directory must hold for `name` (IDX sets: gzipped or not; CIFAR-10: the archive)."""
    spec = dataset_spec(name)
    if spec.kind == "cifar10":
        return [cifar.ARCHIVE]
    return [f for pair in spec.files.values() for f in pair]


def _files(directory: Path, name: str) -> list[str]:
    """Which of `name`'s files `directory` holds."""
    spec = dataset_spec(name)
    if spec.kind == "cifar10":
        return [cifar.ARCHIVE] if cifar.holds(directory) else []
    if spec.archive and (directory / spec.archive).is_file():
        return required_files(name)
    return [f for f in required_files(name) if (directory / f).exists() or (directory / f[:-3]).exists()]


def _has_files(directory: Path, name: str) -> bool:
    return len(_files(directory, name)) == len(required_files(name))


def locate(name: str, data_dir=None) -> Path | None:
    """The first directory holding all of `name`'s files, or None."""
    for _, directory in candidate_dirs(name, data_dir):
        if _has_files(directory, name):
            return directory
    return None


def _file(directory: Path, filename: str) -> Path:
    gz = directory / filename
    return gz if gz.exists() else directory / filename[:-3]


def ways_to_get(name: str) -> str:
    """The ways to obtain `name`'s files, as one sentence for error messages."""
    spec = dataset_spec(name)
    if spec.kind == "cifar10":
        ways = [f"put {cifar.ARCHIVE} (from {spec.homepage}) or its extracted {cifar.FOLDER}/ in a directory and "
                "pass --data-dir DIR or set CNNLAB_DATA=DIR"]
    elif spec.archive:
        ways = [f"put {spec.archive} (from {spec.homepage}) or the four IDX files ({', '.join(required_files(name))}) "
                "in a directory and pass --data-dir DIR or set CNNLAB_DATA=DIR"]
    else:
        ways = [f"put the four IDX files ({', '.join(required_files(name))}) in a directory and pass --data-dir DIR "
                "or set CNNLAB_DATA=DIR"]
    if spec.apt_package:
        ways.append(f"on Debian/Ubuntu: sudo apt-get install {spec.apt_package}")
    ways.append(f"run 'cnnlab download {name}' where the internet is reachable (saves to {cache_dir(name)})")
    return "to get it: " + "; or ".join(ways)


def _missing(directory: Path, name: str) -> list[str]:
    present = _files(directory, name)
    return [f for f in required_files(name) if f not in present]


def where_looked(name: str, data_dir=None) -> str:
    """The places searched for `name`, each half-filled one with the files it lacks."""
    looked = []
    for _, directory in candidate_dirs(name, data_dir):
        present = _files(directory, name)
        looked.append(f"{directory} (missing {', '.join(_missing(directory, name))})" if present else str(directory))
    return ", ".join(looked)


def how_to_get(name: str, data_dir=None) -> str:
    """The 'not found' message: where we looked (and what a half-filled directory lacks), then the ways to get it."""
    return f"data set '{name}' not found (looked in {where_looked(name, data_dir)}); {ways_to_get(name)}"


def _read_split(images_path: Path, labels_path: Path, spec: DatasetSpec) -> Split:
    """One split's two files, checked against each other: kinds, counts, label range."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    n_classes = len(spec.classes)
    if images.ndim != 3:
        raise DatasetError(f"{images_path}: holds labels (IDX magic 2049), expected images (2051)")
    if labels.ndim != 1:
        raise DatasetError(f"{labels_path}: holds images (IDX magic 2051), expected labels (2049)")
    if len(images) != len(labels):
        raise DatasetError(f"{labels_path}: {len(labels):,} labels for {len(images):,} images in {images_path.name}")
    first, last = spec.label_offset, spec.label_offset + n_classes - 1
    bad = (labels < first) | (labels > last)
    if bad.any():
        raise DatasetError(f"{labels_path}: {int(bad.sum()):,} labels out of range {first}-{last} "
                           f"(first: {int(labels[bad][0])} at index {int(bad.argmax()):,})")
    if spec.transpose:  # EMNIST stores each image column by column
        images = np.ascontiguousarray(images.transpose(0, 2, 1))
    return Split(torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64) - spec.label_offset))


def _extract_members(archive: Path, names: list[str], dest: Path) -> Path:
    """Copy `names` out of a zip archive (found under any folder inside, e.g. gzip/) into `dest`, each renamed
    into place only when complete. Returns `dest`."""
    try:
        with zipfile.ZipFile(archive) as z:
            members = {Path(info.filename).name: info for info in z.infolist() if not info.is_dir()}
            missing = [n for n in names if n not in members]
            if missing:
                raise DatasetError(f"{archive}: {', '.join(missing)} not inside: not the archive this data set "
                                   "comes in")
            dest.mkdir(parents=True, exist_ok=True)
            for name in names:
                if (dest / name).is_file() and (dest / name).stat().st_size == members[name].file_size:
                    continue
                fd, partial = tempfile.mkstemp(dir=dest, prefix=name + ".", suffix=".part")
                try:
                    with z.open(members[name]) as src, open(fd, "wb") as out:
                        for block in iter(lambda: src.read(READ_BLOCK), b""):
                            out.write(block)
                    os.replace(partial, dest / name)
                finally:
                    Path(partial).unlink(missing_ok=True)
    except FileNotFoundError:
        raise DatasetError(f"{archive}: file not found") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise DatasetError(f"{archive}: corrupt or truncated zip archive ({error})") from None
    except OSError as error:
        raise DatasetError(f"{archive}: cannot extract: {error.strerror or error}") from None
    return dest


def _idx_directory(directory: Path, spec: DatasetSpec) -> Path:
    """Where `spec`'s IDX files can be read: `directory`, or for an archive the cache it is extracted into."""
    names = [f for pair in spec.files.values() for f in pair]
    if all((directory / f).exists() or (directory / f[:-3]).exists() for f in names) or not spec.archive:
        return directory
    return _extract_members(directory / spec.archive, names, cache_dir(spec.name))


def _load_idx(name: str, directory: Path) -> tuple[Split, Split]:
    spec = dataset_spec(name)
    directory = _idx_directory(directory, spec)
    splits = {split: _read_split(_file(directory, images), _file(directory, labels), spec)
              for split, (images, labels) in spec.files.items()}
    if splits["train"].images.shape[1:] != splits["test"].images.shape[1:]:
        raise DatasetError(f"{directory}: training images are {tuple(splits['train'].images.shape[1:])} but test "
                           f"images {tuple(splits['test'].images.shape[1:])}: the files come from different sets")
    return splits["train"], splits["test"]


def load_digits(test_split: float | None = None) -> tuple[Split, Split]:
    """scikit-learn's 1,797 8x8 digits (values 0-16, scaled to 0-255), split per class (DEFAULT_TEST_SPLIT)."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    train, test = stratified_split(labels, test_split or DEFAULT_TEST_SPLIT)
    return (Split(torch.from_numpy(images[train]), torch.from_numpy(labels[train])),
            Split(torch.from_numpy(images[test]), torch.from_numpy(labels[test])))


def dataset_options(config: dict, input_size: int | None = None) -> dict:
    """load_dataset's options as a run's settings give them (TrainConfig fields, or a checkpoint's config)."""
    return dict(image_size=config.get("image_size") or input_size, test_split=config.get("test_split"),
                skip_bad=bool(config.get("skip_bad")))


def load_dataset(name: str, data_dir=None, download: bool = True, *, image_size: int | None = None,
                 test_split: float | None = None, skip_bad: bool = False, progress: bool = True) -> Dataset:
    """Load both splits of `name` into memory as uint8 tensors.

    `name` is a named set (see SPECS) or "folder:PATH", an image folder (folder.py: decoded at `image_size`,
    split by `test_split` unless it has train/ and test/, unreadable files left out with `skip_bad`).
    Named sets are looked for in `data_dir` alone when it is given (an error names what it lacks), else in
    $CNNLAB_DATA, the cache and system locations, then downloaded into the cache (MD5-checked) unless
    `download=False`."""
    if name.startswith(FOLDER_PREFIX):
        from .folder import load_folder

        return load_folder(name[len(FOLDER_PREFIX):], image_size=image_size, test_split=test_split,
                           skip_bad=skip_bad, progress=progress)
    spec = dataset_spec(name)
    if spec.kind == "synthetic":
        train, test = make_synthetic()
        return Dataset(name, train, test, spec.classes, spec.mean, spec.std, "generated")
    if spec.kind == "digits":
        train, test = load_digits(test_split)
        return Dataset(name, train, test, spec.classes, *channel_stats(train.images), "scikit-learn")
    if spec.kind == "cifar10" and data_dir is not None and Path(os.path.expanduser(str(data_dir))).is_file():
        directory = Path(os.path.expanduser(str(data_dir)))  # the archive itself
    else:
        if spec.kind == "cifar10":
            for _, place in candidate_dirs(name, data_dir):
                cifar.refuse_pickle_version(place)
        directory = locate(name, data_dir)
    if directory is None and data_dir is not None:
        place = candidate_dirs(name, data_dir)[0][1]
        if not place.is_dir():
            problem = "no such directory" if not place.exists() else "not a directory"
            raise DatasetError(f"{place}: --data-dir: {problem}; {ways_to_get(name)}")
        raise DatasetError(f"{place}: --data-dir does not hold data set '{name}' (missing "
                           f"{', '.join(_missing(place, name))}); {ways_to_get(name)}")
    if directory is None:
        if not download or not spec.mirrors:
            raise DatasetError(how_to_get(name, data_dir))
        try:
            directory = fetch(name)
        except DatasetError as error:  # its message already says how to get the data another way
            raise DatasetError(f"data set '{name}' not found (looked in {where_looked(name, data_dir)}) and {error}") from None
    if spec.kind == "cifar10":
        train, test = cifar.read(directory)
    else:
        train, test = _load_idx(name, directory)
    if spec.mean is None:
        mean, std = channel_stats(train.images)
    else:
        mean, std = spec.mean, spec.std
    return Dataset(name, train, test, spec.classes, mean, std, str(directory))


# ---------------------------------------------------------------- download
def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_file(url: str, target: Path, md5: str, progress: bool) -> None:
    """Stream `url` to a temporary file beside `target`; rename only after the MD5 matches.
    The temporary name is unique, so ranks of a distributed run downloading at once do not clobber each other."""
    from tqdm import tqdm

    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".part")
    partial = Path(partial)
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(fd, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name, leave=False,
                      disable=None if progress else True) as bar:  # None: shown on a terminal only
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    bar.update(len(block))
        got = _md5(partial)
        if got != md5:
            raise DatasetError(f"checksum mismatch: MD5 {got}, expected {md5}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _reason(error: Exception) -> str:
    """A short reason for a failed download: 'HTTP Error 404: Not Found', '[Errno 111] Connection refused'."""
    if isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError):
        return str(error.reason)
    return str(error) or type(error).__name__


def fetch(name: str, dest=None, mirrors=None, progress: bool = True) -> Path:
    """Download the four files of `name` into `dest` (default: the user cache), trying mirrors in order.
    Files already there with the right MD5 are kept; a file is only ever renamed into place once its MD5 matches."""
    spec = dataset_spec(name)
    if not spec.md5:
        origin = "it ships with scikit-learn" if spec.kind == "digits" else "it is generated on the fly"
        raise DatasetError(f"data set '{name}' has no files to download ({origin})")
    if mirrors is None:
        mirrors = os.environ.get(MIRRORS_ENV, "").split() or spec.mirrors
    if not mirrors:
        raise DatasetError(f"data set '{name}' has no download mirrors; {ways_to_get(name)}")
    dest = Path(dest) if dest is not None else cache_dir(name)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatasetError(f"{dest}: cannot create the download directory: {error.strerror or error}") from None
    for filename, md5 in spec.md5.items():
        target = dest / filename
        if target.exists() and _md5(target) == md5:
            continue
        failures = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + filename
            try:
                _download_file(url, target, md5, progress)
                break
            # URLError and timeouts are OSErrors; a dropped connection can be an HTTPException; a malformed
            # mirror URL (from $CNNLAB_MIRRORS) is a ValueError.
            except (OSError, DatasetError, http.client.HTTPException, ValueError) as error:
                failures.append(f"{url}: {_reason(error)}")
        else:
            raise DatasetError(f"could not download {filename} ({'; '.join(failures)}); {ways_to_get(name)}")
    return dest


# ---------------------------------------------------------------- synthetic data
def _synthetic_templates() -> torch.Tensor:
    """Ten 20x20 stroke patterns, one per class (bars, diagonals, box, block, cross, plus, corner, dots)."""
    t = torch.zeros(10, 20, 20)
    r = torch.arange(20)
    t[0, 9:12, 2:18] = 1  # horizontal bar
    t[1, 2:18, 9:12] = 1  # vertical bar
    t[2, r, r] = 1  # diagonal
    t[3, r, 19 - r] = 1  # anti-diagonal
    t[4, 3:17, 3:17] = 1
    t[4, 5:15, 5:15] = 0  # box outline
    t[5, 6:14, 6:14] = 1  # filled block
    t[6, r, r] = 1
    t[6, r, 19 - r] = 1  # X
    t[7, 9:11, 2:18] = 1
    t[7, 2:18, 9:11] = 1  # plus
    t[8, 2:18, 2:5] = 1
    t[8, 15:18, 2:18] = 1  # L corner
    t[9, 3:17:4, 3:17:4] = 1  # grid of dots
    return t


def make_synthetic(train_size=None, test_size=None, seed: int = 0) -> tuple[Split, Split]:
    """A learnable 10-class 28x28 set: each class's template at a random offset and brightness, plus noise."""
    spec = SPECS["synthetic"]
    sizes = (train_size or spec.sizes[0], test_size or spec.sizes[1])
    g = torch.Generator().manual_seed(seed)
    templates = _synthetic_templates()
    splits = []
    for n in sizes:
        labels = torch.randint(0, 10, (n,), generator=g)
        images = torch.zeros(n, 28, 28)
        dy, dx = torch.randint(0, 9, (2, n), generator=g)
        for y in range(9):  # place each template at its offset (9x9 possible positions, vectorised per row)
            for x in range(9):
                sel = ((dy == y) & (dx == x)).nonzero().flatten()
                images[sel, y:y + 20, x:x + 20] = templates[labels[sel]]
        brightness = 0.5 + 0.5 * torch.rand(n, 1, 1, generator=g)
        noise = 0.25 * torch.rand(n, 28, 28, generator=g)
        pixels = (images * brightness + noise).clamp_(0, 1)
        splits.append(Split((pixels * 255).round().to(torch.uint8), labels))
    return splits[0], splits[1]


# ---------------------------------------------------------------- batches
class Batches:
    """Mini-batches from a Split held in memory: seeded shuffle per epoch, uint8 -> float, normalise and resize
    per batch on `device`. With world_size > 1, each rank takes its share of every global batch.

    Iterating yields (x, y): x (B, C, S, S) float32, y (B,) int64. `mean` and `std` are one value, or one per
    channel. Every rank yields len(self) batches; with world_size > 1 train with drop_last=True, since a last
    global batch smaller than world_size leaves some ranks an empty shard (harmless when evaluating: counts
    still add up)."""

    def __init__(self, split: Split, batch_size: int, *, shuffle=False, seed=0, drop_last=False, mean=0.0, std=1.0,
                 size=None, limit=None, device="cpu", rank=0, world_size=1, channels_last=False):
        if batch_size < 1 or (limit is not None and limit < 0):
            raise ValueError(f"batch_size must be >= 1 and limit >= 0, got {batch_size} and {limit}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..world_size-1, got rank {rank} of {world_size}")
        self.split, self.batch_size, self.shuffle, self.seed = split, batch_size, shuffle, seed
        self.drop_last, self.mean, self.std, self.size = drop_last, mean, std, size
        self.n = len(split) if limit is None else min(limit, len(split))
        self.device, self.rank, self.world_size = torch.device(device), rank, world_size
        self.channels_last = channels_last
        self.epoch = 0
        self.subset = None  # see select
        # Keep the uint8 data on the device once (4x smaller than float); batches are cut from it by index.
        self.images = split.images[: self.n].to(self.device)
        self.labels = split.labels[: self.n].to(self.device)
        # (x / 255 - mean) / std as one multiply and one subtract, per channel
        std_t = torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
        mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
        self._scale, self._shift = (1 / (255 * std_t)).to(self.device), (mean_t / std_t).to(self.device)

    @property
    def channels(self) -> int:
        return self.split.channels
    def set_epoch(self, epoch: int) -> None:
        """Each epoch's order depends only on (seed, epoch): resuming at epoch k replays the same batches."""
        self.epoch = epoch

    def select(self, indices: torch.Tensor | None) -> None:
        """From now on iterate over only these images (indices into the split; None: all of them again)."""
        self.subset = indices

    @property
    def count(self) -> int:
        """Images per epoch: all n, or those of `select`."""
        return self.n if self.subset is None else len(self.subset)

    def steps(self, count: int) -> int:
        """Batches in an epoch of `count` images."""
        return count // self.batch_size if self.drop_last else math.ceil(count / self.batch_size)

    def __len__(self):
        return self.steps(self.count)

    def order(self) -> torch.Tensor:
        """The epoch's images (indices into the split), in the epoch's seeded order when shuffling."""
        pool = torch.arange(self.n) if self.subset is None else self.subset.cpu()
        if not self.shuffle:
            return pool
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        shuffled = torch.randperm(self.count, generator=g)
        return shuffled if self.subset is None else pool[shuffled]

    def __iter__(self):
        for _, x, y in self.indexed():
            yield x, y

    def indexed(self):
        """Like iterating, with each batch's place in the split first: (index, x, y)."""
        images, labels, order = self.images, self.labels, self.order().to(self.device)
        if self.shuffle or self.subset is not None:  # one gather per epoch (47 MB of uint8 for Fashion-MNIST)
            images, labels = images.index_select(0, order), labels.index_select(0, order)
        for i in range(len(self)):
            batch = slice(i * self.batch_size, min((i + 1) * self.batch_size, self.count))
            index, x, y = order[batch], images[batch], labels[batch]
            if self.world_size > 1:  # this rank's share of the global batch (views, no copy)
                index, x, y = (t.tensor_split(self.world_size)[self.rank] for t in (index, x, y))
            yield index, self.transform(x), y

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W) or (B, C, H, W) -> normalised float (B, C, S, S)."""
        x = images.unsqueeze(1) if images.ndim == 3 else images
        x = x.float().mul_(self._scale).sub_(self._shift)  # two passes over the batch instead of three
        if self.size is not None and self.size != x.shape[-1]:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


# ---------------------------------------------------------------- display
def display_images(images: torch.Tensor) -> np.ndarray:
    """uint8 images as matplotlib draws them: (N, H, W) grey stays, (N, C, H, W) colour becomes (N, H, W, C)."""
    images = images.cpu()
    return (images if images.ndim == 3 else images.permute(0, 2, 3, 1)).numpy()


def display_input(x: torch.Tensor, mean, std) -> np.ndarray:
    """One model input (C, S, S), normalised with `mean` and `std`, back in [0, 1] to draw: (S, S) grey or
    (S, S, 3) colour, what the network actually sees."""
    x = x.detach().float().cpu()
    pixels = (x * torch.as_tensor(std).reshape(-1, 1, 1) + torch.as_tensor(mean).reshape(-1, 1, 1)).clamp(0, 1)
    return pixels[0].numpy() if pixels.shape[0] == 1 else pixels.permute(1, 2, 0).numpy()
