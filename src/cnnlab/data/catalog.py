"""The named data sets (classes, sizes, normalisation, checksums, mirrors), where each is looked for and how
a user gets it, as the sentences error messages use."""
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import unknown_name
from . import cifar

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
    "emnist-letters": _emnist("letters", tuple(f"{upper}{lower}" for upper, lower in zip(_UPPER, _LOWER)),
                              (124_800, 20_800), label_offset=1),
    "emnist-digits": _emnist("digits", _DIGITS, (240_000, 40_000)),
    "emnist-mnist": _emnist("mnist", _DIGITS, (60_000, 10_000)),
    # CIFAR-10 (Krizhevsky 2009), binary version: 32x32 colour images in fixed 3,073-byte records (see cifar.py)
    "cifar10": DatasetSpec(
        "cifar10", ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        (50_000, 10_000), md5={cifar.ARCHIVE: cifar.ARCHIVE_MD5},
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


def missing_files(directory: Path, name: str) -> list[str]:
    present = _files(directory, name)
    return [f for f in required_files(name) if f not in present]


def where_looked(name: str, data_dir=None) -> str:
    """The places searched for `name`, each half-filled one with the files it lacks."""
    looked = []
    for _, directory in candidate_dirs(name, data_dir):
        present = _files(directory, name)
        missing = f" (missing {', '.join(missing_files(directory, name))})" if present else ""
        looked.append(f"{directory}{missing}")
    return ", ".join(looked)


def how_to_get(name: str, data_dir=None) -> str:
    """The 'not found' message: where we looked (and what a half-filled directory lacks), then the ways to get it."""
    return f"data set '{name}' not found (looked in {where_looked(name, data_dir)}); {ways_to_get(name)}"
