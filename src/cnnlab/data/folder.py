"""Image folders (`--dataset folder:PATH`): one sub-folder of PNG/JPEG/BMP/WebP images per class, the layout
torchvision's ImageFolder made standard; or train/ and test/ sub-folders, each laid out so.

Every image is decoded once, in parallel threads, scaled so its shorter side is the image size and cut to the
centred square, and kept as uint8 like the IDX sets: (N, S, S) when every file is grey, (N, 3, S, S) when every
file is colour. The decoded arrays are cached (~/.cache/cnnlab/folders/), keyed by the folder, the image size
and every file's name, size and modification time, so a second run reads the cache and a changed, added or
removed file means decoding again. Without train/ and test/, a seeded stratified split holds out a fraction of
each class (data.stratified_split): every run on the same folder tests on the same images."""
import hashlib
import json
import os
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ..errors import DatasetError
from .catalog import FOLDER_PREFIX, cache_dir
from .split import DEFAULT_TEST_SPLIT, Dataset, Split, channel_stats, stratified_split

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
KINDS = "PNG, JPEG, BMP or WebP"
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")
GREY_TOLERANCE = 2  # an RGB image whose channels never differ by more than this is grey (lossy codecs wobble)
CACHE_FORMAT = 1  # bump when what is cached changes
LISTED = 5  # bad files named in a message; the rest are counted


# ---------------------------------------------------------------- listing
def _is_image(path: Path) -> bool:
    return path.suffix.lower() in EXTENSIONS


def _unreadable(error: OSError, what: str):
    where = error.filename or "?"
    raise DatasetError(f"{where}: cannot read {what} ({error.strerror or error}): give cnnlab permission to read it, "
                       "or move it out of the data set")


def _class_dirs(root: Path) -> list[Path]:
    try:
        return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as error:
        _unreadable(error, "the folder")


def _class_files(class_dir: Path) -> list[Path]:
    """The image files under a class folder (any depth), sorted; DatasetError if it has none, or if it or a
    folder inside it cannot be read (an unreadable folder is not an empty one)."""
    def unreadable(error):
        _unreadable(error, f"the folder of class '{class_dir.name}'")

    files = sorted(Path(parent) / name for parent, _, names in os.walk(class_dir, onerror=unreadable, followlinks=True)
                   for name in names if not name.startswith("."))
    files = [p for p in files if p.is_file()]
    images = [p for p in files if _is_image(p)]
    if not images:
        others = (f" (it holds {len(files)} other file{'s' if len(files) > 1 else ''}, e.g. {files[0].name})"
                  if files else "")
        raise DatasetError(f"{class_dir}: class '{class_dir.name}' has no images ({KINDS} files){others}")
    return images


def _classes(root: Path, what: str = "") -> dict[str, list[Path]]:
    """{class name: its image files} for a folder of class sub-folders, checked: at least two classes, none empty."""
    dirs = _class_dirs(root)
    loose = [p for p in root.iterdir() if p.is_file() and _is_image(p)]
    if not dirs:
        if loose:
            raise DatasetError(f"{root}: {len(loose)} images but no class sub-folders: put each class's images in a "
                               f"sub-folder named after the class ({root}/cats/1.jpg, {root}/dogs/1.jpg, ...)")
        raise DatasetError(f"{root}: empty {what}folder: expected one sub-folder of images per class "
                           f"({root}/cats/1.jpg, {root}/dogs/1.jpg, ...)")
    if len(dirs) == 1 and not what:
        raise DatasetError(f"{root}: only one class sub-folder ({dirs[0].name}): a classifier needs at least two")
    return {d.name: _class_files(d) for d in dirs}


def _resolve(path: str) -> Path:
    root = Path(os.path.expanduser(path)).resolve()
    if not root.exists():
        raise DatasetError(f"{root}: no such folder (--dataset folder:PATH needs a folder of class sub-folders)")
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder (--dataset folder:PATH needs a folder of class sub-folders)")
    return root


def list_folder(root: Path) -> tuple[tuple[str, ...], dict[str, list[tuple[Path, int]]]]:
    """The classes and, per split present on disk ("all", or "train" and "test"), the (file, class index) pairs."""
    if (root / "train").is_dir() and (root / "test").is_dir():
        train = _classes(root / "train")
        test = _classes(root / "test", what="test ")
        extra = sorted(set(test) - set(train))
        if extra:
            raise DatasetError(f"{root / 'test' / extra[0]}: class '{extra[0]}' is not among the training classes "
                               f"({', '.join(sorted(train))})")
        classes = tuple(sorted(train))
        parts = {"train": train, "test": test}
    else:
        found = _classes(root)
        classes = tuple(sorted(found))
        parts = {"all": found}
    index = {name: k for k, name in enumerate(classes)}
    return classes, {part: [(f, index[name]) for name in sorted(members) for f in members[name]]
                     for part, members in parts.items()}


# ---------------------------------------------------------------- decoding
def decode(path: Path, size: int) -> tuple[np.ndarray, bool]:
    """One image file as a size x size uint8 array, (S, S) if grey or (S, S, 3) if colour, and whether it is
    grey: shorter side scaled to `size`, centre cut square; transparency goes onto white. Raises OSError,
    ValueError or PIL's errors for a file PIL cannot read."""
    from PIL import Image

    with Image.open(path) as image:
        image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale when the image is much larger
        image.load()
        return to_array(image, size)


def to_array(image, size: int) -> tuple[np.ndarray, bool]:
    """A loaded PIL image as decode() returns it: (S, S) or (S, S, 3) uint8, and whether it is grey."""
    from PIL import Image, ImageOps

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        grey = image.mode == "LA"
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
        image = image.convert("L" if grey else "RGB")
    elif image.mode == "P":
        image = image.convert("RGB")
        pixels = np.asarray(image)
        if (pixels == pixels[..., :1]).all():  # a palette of greys
            image = image.convert("L")
    elif image.mode in GREY_MODES:
        image = image.convert("L")
    else:
        image = image.convert("RGB")
    image = ImageOps.fit(image, (size, size), method=Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 3 and np.ptp(array.astype(np.int16), axis=2).max() <= GREY_TOLERANCE:
        array = np.ascontiguousarray(array[..., 1])  # grey stored as colour (WebP, most JPEG cameras): grey
    return array, array.ndim == 2


def picture(image, size: int, channels: int = 3) -> torch.Tensor:
    """A picture for a model trained on a folder, decoded as its training images were: (3, S, S) uint8 for a
    colour model, (S, S) for a grey one."""
    from PIL import Image

    array, grey = to_array(image, size)
    if channels == 1:
        return torch.from_numpy((array if grey else np.asarray(Image.fromarray(array).convert("L"))).copy())
    if grey:
        array = np.repeat(array[..., None], 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def _decode_one(args):
    path, size = args
    from PIL import Image, UnidentifiedImageError

    try:
        array, grey = decode(path, size)
        return array, grey, None
    except UnidentifiedImageError:
        return None, None, "not an image"
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        return None, None, getattr(error, "strerror", None) or str(error) or type(error).__name__


def _decode_all(root: Path, files: list[Path], size: int, progress: bool) -> list:
    from tqdm import tqdm

    workers = min(8, os.cpu_count() or 1)
    quiet = None if progress else True  # None: the bar shows on a terminal only
    with ThreadPoolExecutor(workers) as pool, \
            tqdm(total=len(files), desc=f"decoding {root.name}", unit="img", leave=False, disable=quiet) as bar:
        results = []
        for result in pool.map(_decode_one, [(f, size) for f in files], chunksize=16):
            results.append(result)
            bar.update()
    return results


# ---------------------------------------------------------------- cache
def _cache_key(root: Path, size: int, files: list[Path]) -> str:
    listing = [(str(f.relative_to(root)), *(lambda s: (s.st_size, s.st_mtime_ns))(f.stat())) for f in files]
    text = json.dumps([CACHE_FORMAT, str(root), size, listing])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _cache_path(key: str) -> Path:
    return cache_dir("folders") / f"{key}.npz"


def _read_cache(path: Path):
    try:
        with np.load(path, allow_pickle=False) as saved:
            return saved["images"], saved["grey"], saved["bad"], saved["reasons"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # absent, or cut short: decode again
        return None


def _write_cache(path: Path, images, grey, bad, reasons) -> None:
    """Written to a temporary file and renamed into place: a killed run leaves no half cache. Best effort:
    a cache that cannot be written only means decoding again next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".part")
        try:
            with open(fd, "wb") as out:
                np.savez(out, images=images, grey=grey, bad=bad, reasons=reasons)
            os.replace(partial, path)
        finally:
            Path(partial).unlink(missing_ok=True)
    except OSError:
        pass


def _decode_cached(root: Path, files: list[Path], size: int, progress: bool):
    """(images (N, S, S[, 3]) of the readable files, grey flags, indices of unreadable files, their reasons)."""
    path = _cache_path(_cache_key(root, size, files))
    cached = _read_cache(path)
    if cached is not None:
        return cached
    results = _decode_all(root, files, size, progress)
    good = [r for r in results if r[2] is None]
    bad = np.array([i for i, r in enumerate(results) if r[2] is not None], dtype=np.int64)
    reasons = np.array([r[2] for r in results if r[2] is not None], dtype=str)
    grey = np.array([r[1] for r in good], dtype=bool)
    kinds = {r[0].ndim for r in good}
    if len(kinds) > 1:  # mixed grey and colour: stacked neither way; _check_kinds reports it
        images = np.zeros((0, size, size), np.uint8)
    else:
        images = np.stack([r[0] for r in good]) if good else np.zeros((0, size, size), np.uint8)
    _write_cache(path, images, grey, bad, reasons)
    return images, grey, bad, reasons


# ---------------------------------------------------------------- the data set
def _listing(root: Path, paths) -> str:
    shown = ", ".join(str(p) for p in paths[:LISTED])
    return shown + (f" and {len(paths) - LISTED} more" if len(paths) > LISTED else "")


def _check_kinds(root: Path, files: list[Path], grey: np.ndarray) -> None:
    if grey.all() or not grey.any():
        return
    greys = [f.relative_to(root) for f, g in zip(files, grey) if g]
    colours = [f.relative_to(root) for f, g in zip(files, grey) if not g]
    fewer, kind = (greys, "grey") if len(greys) <= len(colours) else (colours, "colour")
    raise DatasetError(f"{root}: mixed grey and colour images ({len(greys):,} grey, {len(colours):,} colour); "
                       f"the {kind} ones: {_listing(root, fewer)}; convert them all to one kind")


def load_folder(path: str, image_size: int | None = None, test_split: float | None = None,
                skip_bad: bool = False, progress: bool = True):
    """The image folder at `path` as a data.Dataset (see the module docstring). `image_size` defaults to 28."""
    size = image_size or 28
    if size < 1:
        raise DatasetError(f"--image-size must be a positive integer, got {size}")
    root = _resolve(path)
    classes, parts = list_folder(root)
    files = [f for part in parts.values() for f, _ in part]
    labels = np.array([k for part in parts.values() for _, k in part], dtype=np.int64)
    part_of = np.array([name for name, part in parts.items() for _ in part])
    images, grey, bad, reasons = _decode_cached(root, files, size, progress)
    if len(bad):
        bad_files = [f"{files[i].relative_to(root)} ({why})" for i, why in zip(bad, reasons)]
        if len(bad) == len(files):
            raise DatasetError(f"{root}: none of the {len(files):,} image files can be read: "
                               f"{_listing(root, bad_files)}")
        if not skip_bad:
            raise DatasetError(f"{root}: {len(bad):,} of {len(files):,} image files cannot be read: "
                               f"{_listing(root, bad_files)}; remove them or pass --skip-bad to leave them out")
        print(f"{root}: left out {len(bad):,} unreadable file{'s' if len(bad) > 1 else ''} (--skip-bad): "
              f"{_listing(root, bad_files)}", file=sys.stderr)
    keep = np.setdiff1d(np.arange(len(files)), bad)
    files, labels, part_of = [files[i] for i in keep], labels[keep], part_of[keep]
    _check_kinds(root, files, grey)
    for k, name in enumerate(classes):  # --skip-bad may have emptied a class
        if "train" in parts and not (labels[part_of == "train"] == k).any() or not (labels == k).any():
            raise DatasetError(f"{root}: class '{name}' has no readable images left")
    if images.ndim == 4:
        images = images.transpose(0, 3, 1, 2)  # (N, S, S, 3) -> (N, 3, S, S)
    images = np.ascontiguousarray(images)
    if "all" in parts:
        train_idx, test_idx = stratified_split(labels, test_split or DEFAULT_TEST_SPLIT)
    else:
        train_idx, test_idx = np.flatnonzero(part_of == "train"), np.flatnonzero(part_of == "test")
    train = Split(torch.from_numpy(images[train_idx]), torch.from_numpy(labels[train_idx]))
    test = Split(torch.from_numpy(images[test_idx]), torch.from_numpy(labels[test_idx]))
    if len(test) == 0:
        raise DatasetError(f"{root}: no test images: every class has a single image; add images or give test/ and "
                           "train/ sub-folders")
    return Dataset(FOLDER_PREFIX + path, train, test, classes, *channel_stats(train.images), str(root))
