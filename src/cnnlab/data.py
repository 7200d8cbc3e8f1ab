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
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .errors import DatasetError, unknown_name

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
@dataclass(frozen=True)
class DatasetSpec:
    name: str
    classes: tuple[str, ...]
    sizes: tuple[int, int]  # (train, test)
    mean: float  # of the training pixels in [0, 1]: the Normalize() constants
    std: float
    md5: dict = field(default_factory=dict)  # file name -> md5 of the official .gz
    mirrors: tuple[str, ...] = ()  # base URLs, tried in order
    system_dirs: tuple[str, ...] = ()  # where an OS package puts the files
    apt_package: str = ""  # the Debian/Ubuntu package that installs them into system_dirs


FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

SPECS = {
    "mnist": DatasetSpec(
        "mnist", tuple(str(d) for d in range(10)), (60_000, 10_000),
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
    "synthetic": DatasetSpec(
        "synthetic",
        ("hbar", "vbar", "diag", "antidiag", "box", "block", "cross", "plus", "corner", "dots"),
        (6_000, 1_000),
        mean=0.1718, std=0.1948,  # of the generated training images (tests check it)
    ),
}

# Mirrors can be replaced (tests, private hosting): CNNLAB_MIRRORS="url1 url2" applies to every data set.
MIRRORS_ENV = "CNNLAB_MIRRORS"


def dataset_spec(name: str) -> DatasetSpec:
    if name not in SPECS:
        raise unknown_name("dataset", name, SPECS)
    return SPECS[name]


@dataclass
class Split:
    images: torch.Tensor  # (N, 28, 28) uint8
    labels: torch.Tensor  # (N,) int64

    def __len__(self):
        return len(self.labels)


@dataclass
class Dataset:
    name: str
    train: Split
    test: Split
    classes: tuple[str, ...]
    mean: float
    std: float
    source: str  # directory the files came from, or "generated"


def cache_dir(name: str) -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
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
    found.append(("cache", cache_dir(name)))
    found += [("system", Path(d)) for d in spec.system_dirs]
    return found


def _files(directory: Path) -> list[str]:
    """Which of the four files `directory` holds (gzipped or not)."""
    return [f for pair in FILES.values() for f in pair if (directory / f).exists() or (directory / f[:-3]).exists()]


def _has_files(directory: Path) -> bool:
    return len(_files(directory)) == 4


def locate(name: str, data_dir=None) -> Path | None:
    """The first directory holding all four files of `name`, or None."""
    for _, directory in candidate_dirs(name, data_dir):
        if _has_files(directory):
            return directory
    return None


def _file(directory: Path, filename: str) -> Path:
    gz = directory / filename
    return gz if gz.exists() else directory / filename[:-3]


def ways_to_get(name: str) -> str:
    """The ways to obtain `name`'s files, as one sentence for error messages."""
    spec = dataset_spec(name)
    files = ", ".join(f for pair in FILES.values() for f in pair)
    ways = [f"put the four IDX files ({files}) in a directory and pass --data-dir DIR or set CNNLAB_DATA=DIR"]
    if spec.apt_package:
        ways.append(f"on Debian/Ubuntu: sudo apt-get install {spec.apt_package}")
    ways.append(f"run 'cnnlab download {name}' where the internet is reachable (saves to {cache_dir(name)})")
    return "to get it: " + "; or ".join(ways)


def where_looked(name: str, data_dir=None) -> str:
    """The places searched for `name`, each half-filled one with the files it lacks."""
    looked = []
    for _, directory in candidate_dirs(name, data_dir):
        present = _files(directory)
        missing = [f for pair in FILES.values() for f in pair if f not in present]
        looked.append(f"{directory} (missing {', '.join(missing)})" if present else str(directory))
    return ", ".join(looked)


def how_to_get(name: str, data_dir=None) -> str:
    """The 'not found' message: where we looked (and what a half-filled directory lacks), then the ways to get it."""
    return f"data set '{name}' not found (looked in {where_looked(name, data_dir)}); {ways_to_get(name)}"


def _read_split(images_path: Path, labels_path: Path, n_classes: int) -> Split:
    """One split's two files, checked against each other: kinds, counts, label range."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3:
        raise DatasetError(f"{images_path}: holds labels (IDX magic 2049), expected images (2051)")
    if labels.ndim != 1:
        raise DatasetError(f"{labels_path}: holds images (IDX magic 2051), expected labels (2049)")
    if len(images) != len(labels):
        raise DatasetError(f"{labels_path}: {len(labels):,} labels for {len(images):,} images in {images_path.name}")
    bad = labels >= n_classes  # uint8: never negative
    if bad.any():
        raise DatasetError(f"{labels_path}: {int(bad.sum()):,} labels out of range 0-{n_classes - 1} "
                           f"(first: {int(labels[bad][0])} at index {int(bad.argmax()):,})")
    return Split(torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)))


def load_dataset(name: str, data_dir=None, download: bool = True) -> Dataset:
    """Load both splits of `name` into memory as uint8 tensors. Looks in `data_dir` / $CNNLAB_DATA, the cache,
    system locations, then downloads into the cache (MD5-checked) unless `download=False`."""
    spec = dataset_spec(name)
    if name == "synthetic":
        train, test = make_synthetic()
        return Dataset(name, train, test, spec.classes, spec.mean, spec.std, "generated")
    directory = locate(name, data_dir)
    if directory is None and data_dir is not None:  # an explicit directory: no fall-back, no download
        place = candidate_dirs(name, data_dir)[0][1]
        if not place.is_dir():
            problem = "no such directory" if not place.exists() else "not a directory"
            raise DatasetError(f"{place}: --data-dir: {problem}; {ways_to_get(name)}")
        present = _files(place)
        missing = [f for pair in FILES.values() for f in pair if f not in present]
        raise DatasetError(f"{place}: --data-dir does not hold data set '{name}' (missing {', '.join(missing)}); "
                           f"{ways_to_get(name)}")
    if directory is None:
        if not download or not spec.mirrors:
            raise DatasetError(how_to_get(name, data_dir))
        try:
            directory = fetch(name)
        except DatasetError as error:  # its message already says how to get the data another way
            raise DatasetError(f"data set '{name}' not found (looked in {where_looked(name, data_dir)}) and {error}") from None
    splits = {split: _read_split(_file(directory, images), _file(directory, labels), len(spec.classes))
              for split, (images, labels) in FILES.items()}
    if splits["train"].images.shape[1:] != splits["test"].images.shape[1:]:
        raise DatasetError(f"{directory}: training images are {tuple(splits['train'].images.shape[1:])} but test "
                           f"images {tuple(splits['test'].images.shape[1:])}: the files come from different sets")
    return Dataset(name, splits["train"], splits["test"], spec.classes, spec.mean, spec.std, str(directory))


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
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name, disable=not progress, leave=False) as bar:
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
        raise DatasetError(f"data set '{name}' has no files to download (it is generated on the fly)")
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

    Iterating yields (x, y): x (B, 1, S, S) float32, y (B,) int64. Every rank yields len(self) batches; with
    world_size > 1 train with drop_last=True, since a last global batch smaller than world_size leaves some ranks
    an empty shard (harmless when evaluating: counts still add up)."""

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
        # Keep the uint8 data on the device once (4x smaller than float); batches are cut from it by index.
        self.images = split.images[: self.n].to(self.device)
        self.labels = split.labels[: self.n].to(self.device)

    def set_epoch(self, epoch: int) -> None:
        """Each epoch's order depends only on (seed, epoch): resuming at epoch k replays the same batches."""
        self.epoch = epoch

    def __len__(self):
        return self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)

    def order(self) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.n)
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return torch.randperm(self.n, generator=g)

    def __iter__(self):
        images, labels = self.images, self.labels
        if self.shuffle:  # one gather per epoch (a 47 MB uint8 copy for Fashion-MNIST); batches are then slices
            order = self.order().to(self.device)
            images, labels = images.index_select(0, order), labels.index_select(0, order)
        for i in range(len(self)):
            batch = slice(i * self.batch_size, min((i + 1) * self.batch_size, self.n))
            x, y = images[batch], labels[batch]
            if self.world_size > 1:  # this rank's share of the global batch (views, no copy)
                x, y = x.tensor_split(self.world_size)[self.rank], y.tensor_split(self.world_size)[self.rank]
            yield self.transform(x), y

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W) -> normalised float (B, 1, S, S)."""
        # (x / 255 - mean) / std as one multiply and one subtract: two passes over the batch instead of three.
        x = images.unsqueeze(1).float().mul_(1 / (255 * self.std)).sub_(self.mean / self.std)  # (B, 1, H, W)
        if self.size is not None and self.size != x.shape[-1]:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x
