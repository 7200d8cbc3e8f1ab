"""load_dataset: both splits of a named set, an image folder or generated data, as uint8 tensors in memory."""
import os
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import DatasetError
from . import cifar
from .catalog import (
    FOLDER_PREFIX,
    DatasetSpec,
    cache_dir,
    candidate_dirs,
    dataset_spec,
    how_to_get,
    locate,
    missing_files,
    ways_to_get,
    where_looked,
)
from .download import fetch
from .idx import READ_BLOCK, read_idx
from .split import Dataset, Split, channel_stats
from .synthetic import load_digits, make_synthetic


def _file(directory: Path, filename: str) -> Path:
    """`filename` (a .gz name) in `directory`, or its uncompressed twin when only that is there."""
    gz = directory / filename
    return gz if gz.exists() else directory / filename[:-3]


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
                           f"{', '.join(missing_files(place, name))}); {ways_to_get(name)}")
    if directory is None:
        if not download or not spec.mirrors:
            raise DatasetError(how_to_get(name, data_dir))
        try:
            directory = fetch(name)
        except DatasetError as error:  # its message already says how to get the data another way
            raise DatasetError(f"data set '{name}' not found (looked in {where_looked(name, data_dir)}) "
                               f"and {error}") from None
    if spec.kind == "cifar10":
        train, test = cifar.read(directory)
    else:
        train, test = _load_idx(name, directory)
    if spec.mean is None:
        mean, std = channel_stats(train.images)
    else:
        mean, std = spec.mean, spec.std
    return Dataset(name, train, test, spec.classes, mean, std, str(directory))
