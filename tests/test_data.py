"""The data layer: IDX round trip and every kind of bad file, where data sets are found, the synthetic set,
Batches (shapes, normalisation, resize, order, sharding) and the real Fashion-MNIST."""
import dataclasses
import gzip
import shutil
import struct
import tracemalloc

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnlab.data import (
    FILES,
    SPECS,
    Batches,
    Split,
    cache_dir,
    load_dataset,
    locate,
    make_synthetic,
    read_idx,
    write_idx,
)
from cnnlab.errors import DatasetError

rng = np.random.default_rng(0)
IMAGES = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
LABELS = rng.integers(0, 10, size=7, dtype=np.uint8)


def idx_bytes(magic: int, shape: tuple, payload: bytes = b"") -> bytes:
    """An IDX file's bytes built by hand, so a test can make its header lie."""
    return struct.pack(f">I{len(shape)}I", magic, *shape) + payload


# ---------------------------------------------------------------- IDX round trip
@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("array", [IMAGES, LABELS], ids=["images", "labels"])
def test_idx_round_trip_preserves_shape_and_values(tmp_path, suffix, array):
    path = tmp_path / f"file-ubyte{suffix}"
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == np.uint8 and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable  # torch.from_numpy needs no copy and gives no warning


def test_idx_gz_file_is_really_gzip_and_raw_file_is_not(tmp_path):
    write_idx(tmp_path / "a.gz", LABELS)
    write_idx(tmp_path / "a", LABELS)
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == (tmp_path / "a").read_bytes()
    assert (tmp_path / "a").read_bytes()[:4] == b"\x00\x00\x08\x01"  # magic 2049


def test_write_idx_gzip_bytes_are_reproducible(tmp_path):
    write_idx(tmp_path / "a.gz", IMAGES)
    write_idx(tmp_path / "b.gz", IMAGES)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


@pytest.mark.parametrize("array, problem", [(np.zeros((2, 2)), "1-D and images 3-D"),
                                            (np.array([0, 256]), "0-255"), (np.array([-1, 3]), "0-255")])
def test_write_idx_refuses_arrays_idx_cannot_hold(tmp_path, array, problem):
    with pytest.raises(ValueError, match=problem):
        write_idx(tmp_path / "x", array)


# ---------------------------------------------------------------- bad files: one clear DatasetError each
def gzip_bytes(payload: bytes) -> bytes:
    return gzip.compress(payload, mtime=0)


VALID_IMAGES = idx_bytes(2051, IMAGES.shape, IMAGES.tobytes())


def corrupt_crc(data: bytes) -> bytes:
    """Flip the stored CRC32 (the trailer's first 4 bytes) of a gzip stream."""
    return data[:-8] + bytes(b ^ 0xFF for b in data[-8:-4]) + data[-4:]


def corrupt_deflate(data: bytes) -> bytes:
    """Make the first deflate block use the reserved block type 3 (zlib: 'invalid block type')."""
    return data[:10] + b"\xff" + data[11:]


BAD_FILES = {
    # name: (file name, bytes, words the message must contain)
    "empty raw": ("x-ubyte", b"", ["empty file"]),
    "empty gz": ("x-ubyte.gz", gzip_bytes(b""), ["empty file"]),
    "zero-byte gz": ("x-ubyte.gz", b"", ["empty file"]),
    "short magic": ("x-ubyte", b"\x00\x00", ["truncated", "4 header bytes"]),
    "short header": ("x-ubyte", idx_bytes(2051, (60_000,)), ["truncated", "header ends after 8 bytes, expected 16"]),
    "truncated raw": ("x-ubyte", idx_bytes(2051, (60_000, 28, 28), bytes(1000 - 16)),
                      ["truncated: expected 47,040,016 bytes, found 1,000"]),
    "truncated gz": ("x-ubyte.gz", gzip_bytes(idx_bytes(2051, (60_000, 28, 28), bytes(1000 - 16))),
                     ["truncated: expected 47,040,016 bytes, found 1,000"]),
    "too long raw": ("x-ubyte", VALID_IMAGES + b"junk", ["too long", f"expected {len(VALID_IMAGES):,} bytes"]),
    "too long gz": ("x-ubyte.gz", gzip_bytes(VALID_IMAGES + b"junk"), ["too long", "or more"]),
    "wrong magic": ("x-ubyte", idx_bytes(2052, (1, 1, 1), b"\x00"), ["magic number 2052", "2051", "2049"]),
    "gzip without .gz": ("x-ubyte", gzip_bytes(VALID_IMAGES), ["magic number", "looks gzipped", ".gz"]),
    "gz bad header": ("x-ubyte.gz", VALID_IMAGES, ["corrupt gzip", "Not a gzipped file"]),
    "gz bad crc": ("x-ubyte.gz", corrupt_crc(gzip_bytes(VALID_IMAGES)), ["corrupt gzip", "CRC check failed"]),
    "gz bad deflate data": ("x-ubyte.gz", corrupt_deflate(gzip_bytes(VALID_IMAGES)),
                            ["corrupt gzip", "invalid block type"]),
    "gz stream cut short": ("x-ubyte.gz", gzip_bytes(VALID_IMAGES)[:-30], ["corrupt gzip", "truncated gzip stream"]),
    "implausible dimensions": ("x-ubyte", idx_bytes(2051, (10**6, 10**3, 10**3)), ["corrupt header", "not plausible"]),
    "zero-sized images": ("x-ubyte", idx_bytes(2051, (5, 0, 28)), ["corrupt header", "not plausible"]),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_idx_file_raises_dataset_error_naming_file_and_problem(tmp_path, case):
    filename, data, words = BAD_FILES[case]
    path = tmp_path / filename
    path.write_bytes(data)
    with pytest.raises(DatasetError) as caught:
        read_idx(path)
    message = str(caught.value)
    assert message.startswith(str(path) + ":")
    for word in words:
        assert word in message


def test_missing_file_raises_dataset_error_naming_it(tmp_path):
    with pytest.raises(DatasetError, match=r"nothing-here\.gz: file not found"):
        read_idx(tmp_path / "nothing-here.gz")


def test_directory_in_place_of_file_raises_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="cannot read"):
        read_idx(tmp_path)


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("shape", [(10**6, 10**3, 10**3), (10**8, 3, 3), (100_000, 28, 28)])
def test_header_claiming_huge_count_is_refused_without_allocating_it(tmp_path, suffix, shape):
    path = tmp_path / f"x-ubyte{suffix}"
    data = idx_bytes(2051, shape, bytes(100))
    path.write_bytes(gzip_bytes(data) if suffix else data)
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match="corrupt header|truncated"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20  # the claims are 1e12, 9e8 and 78 MB; a few MB of read buffers at most


# ---------------------------------------------------------------- bad file pairs in a data set directory
def test_image_and_label_counts_that_differ_name_both_files(idx_dir):
    write_idx(idx_dir / "t10k-labels-idx1-ubyte.gz", np.zeros(49, np.uint8))
    with pytest.raises(DatasetError) as caught:
        load_dataset("mnist", data_dir=idx_dir, download=False)
    message = str(caught.value)
    assert "t10k-labels-idx1-ubyte.gz: 49 labels for 50 images in t10k-images-idx3-ubyte.gz" in message


def test_labels_out_of_range_are_reported_with_file_and_value(idx_dir):
    labels = np.zeros(200, np.uint8)
    labels[17] = 10
    write_idx(idx_dir / "train-labels-idx1-ubyte.gz", labels)
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte.gz: 1 labels out of range 0-9 "
                                           r"\(first: 10 at index 17\)"):
        load_dataset("mnist", data_dir=idx_dir, download=False)


def test_swapped_image_and_label_files_are_reported(idx_dir):
    shutil.copy(idx_dir / "t10k-labels-idx1-ubyte.gz", idx_dir / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte.gz: holds labels"):
        load_dataset("mnist", data_dir=idx_dir, download=False)


def test_train_and_test_images_of_different_sizes_are_reported(idx_dir):
    write_idx(idx_dir / "t10k-images-idx3-ubyte.gz", np.zeros((50, 32, 32), np.uint8))
    with pytest.raises(DatasetError, match=r"\(28, 28\) but test images \(32, 32\)"):
        load_dataset("mnist", data_dir=idx_dir, download=False)


def test_uncompressed_files_are_found_and_loaded(idx_dir):
    for pair in FILES.values():
        for name in pair:
            (idx_dir / name[:-3]).write_bytes(gzip.decompress((idx_dir / name).read_bytes()))
            (idx_dir / name).unlink()
    data = load_dataset("mnist", data_dir=idx_dir, download=False)
    assert data.train.images.shape == (200, 28, 28) and data.test.labels.shape == (50,)
    assert data.source == str(idx_dir)


# ---------------------------------------------------------------- where data sets are found
@pytest.fixture
def four_places(tmp_path, idx_dir, no_user_data, monkeypatch):
    """The same tiny set in an explicit dir, under $CNNLAB_DATA, in the cache and in a system dir."""
    places = {"explicit": tmp_path / "explicit", "env": tmp_path / "env" / "mnist",
              "cache": no_user_data / "cnnlab" / "mnist", "system": tmp_path / "system"}
    for directory in places.values():
        shutil.copytree(idx_dir, directory)
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path / "env"))
    monkeypatch.setitem(SPECS, "mnist", dataclasses.replace(SPECS["mnist"], system_dirs=(str(places["system"]),)))
    return places


def test_locate_prefers_explicit_dir_then_env_then_cache_then_system(four_places, monkeypatch):
    assert locate("mnist", four_places["explicit"]) == four_places["explicit"]
    assert locate("mnist") == four_places["env"]
    monkeypatch.delenv("CNNLAB_DATA")
    assert locate("mnist") == four_places["cache"]
    shutil.rmtree(four_places["cache"])
    assert locate("mnist") == four_places["system"]
    shutil.rmtree(four_places["system"])
    assert locate("mnist") is None


def test_locate_skips_a_directory_missing_one_file(four_places):
    (four_places["env"] / "t10k-labels-idx1-ubyte.gz").unlink()
    assert locate("mnist") == four_places["cache"]


def test_an_explicit_dir_lacking_a_file_is_an_error_naming_it_not_a_fall_back(four_places):
    """--data-dir is the one place looked in: a directory without the data set is an error naming what it
    lacks, even though $CNNLAB_DATA, the cache and the system directory hold the set."""
    (four_places["explicit"] / "t10k-labels-idx1-ubyte.gz").unlink()
    assert locate("mnist", four_places["explicit"]) is None
    with pytest.raises(DatasetError) as caught:
        load_dataset("mnist", data_dir=four_places["explicit"])
    message = str(caught.value)
    assert message.startswith(f"{four_places['explicit']}: --data-dir does not hold data set 'mnist' "
                              "(missing t10k-labels-idx1-ubyte.gz); to get it: put the four IDX files")


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_an_explicit_dir_that_is_not_a_directory_says_so(four_places, tmp_path, kind):
    place = tmp_path / "nowhere"
    if kind == "file":
        place.write_text("x")
    problem = "no such directory" if kind == "missing" else "not a directory"
    with pytest.raises(DatasetError, match=f"{place}: --data-dir: {problem}; to get"):
        load_dataset("mnist", data_dir=place)


def test_cnnlab_data_may_hold_the_files_directly(idx_dir, no_user_data, monkeypatch):
    monkeypatch.setenv("CNNLAB_DATA", str(idx_dir))
    assert locate("mnist") == idx_dir


def test_cache_is_under_home_when_xdg_cache_home_is_unset(no_user_data, tmp_path, monkeypatch):
    assert cache_dir("mnist") == no_user_data / "cnnlab" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir("mnist") == tmp_path / "home" / ".cache" / "cnnlab" / "mnist"


def test_not_found_error_lists_places_and_the_three_ways_to_get_the_data(no_user_data, tmp_path, monkeypatch):
    half = tmp_path / "half"
    half.mkdir()
    write_idx(half / "train-images-idx3-ubyte.gz", IMAGES)
    monkeypatch.setitem(SPECS, "fashion-mnist",
                        dataclasses.replace(SPECS["fashion-mnist"], system_dirs=(str(tmp_path / "none"),)))
    monkeypatch.setenv("CNNLAB_DATA", str(half))
    with pytest.raises(DatasetError) as caught:
        load_dataset("fashion-mnist", download=False)
    message = str(caught.value)
    assert "data set 'fashion-mnist' not found" in message
    assert f"{half} (missing train-labels-idx1-ubyte.gz, t10k-images" in message  # says what a half-filled dir lacks
    assert str(no_user_data / "cnnlab" / "fashion-mnist") in message and str(tmp_path / "none") in message
    assert "--data-dir DIR or set CNNLAB_DATA=DIR" in message  # way 1: files you have
    assert "sudo apt-get install dataset-fashion-mnist" in message  # way 2: the OS package
    assert "cnnlab download fashion-mnist" in message  # way 3: download


# ---------------------------------------------------------------- synthetic data
def test_synthetic_set_is_learnable_by_nearest_class_mean():
    train, test = make_synthetic()
    x, x_test = train.images.flatten(1).float(), test.images.flatten(1).float()
    means = torch.stack([x[train.labels == c].mean(0) for c in range(10)])
    accuracy = (torch.cdist(x_test, means).argmin(1) == test.labels).float().mean().item()
    assert accuracy > 0.5  # chance is 0.1; measured 0.70


def test_synthetic_set_is_deterministic_per_seed():
    a, b, c = make_synthetic(100, 10, seed=3), make_synthetic(100, 10, seed=3), make_synthetic(100, 10, seed=4)
    assert torch.equal(a[0].images, b[0].images) and torch.equal(a[1].labels, b[1].labels)
    assert not torch.equal(a[0].images, c[0].images)


def test_synthetic_spec_sizes_mean_and_std_match_generated_data():
    data = load_dataset("synthetic")
    spec = SPECS["synthetic"]
    assert (len(data.train), len(data.test)) == spec.sizes and data.source == "generated"
    assert data.train.images.dtype == torch.uint8 and data.train.labels.dtype == torch.int64
    assert set(data.train.labels.tolist()) == set(range(10))
    pixels = data.train.images.double() / 255
    assert pixels.mean().item() == pytest.approx(spec.mean, abs=1e-3)
    assert pixels.std().item() == pytest.approx(spec.std, abs=1e-3)


# ---------------------------------------------------------------- Batches
def numbered_split(n: int) -> Split:
    """Image i is filled with i % 256 and labelled i: a batch's labels tell exactly which items it holds."""
    images = (torch.arange(n) % 256).to(torch.uint8).view(n, 1, 1).expand(n, 28, 28).contiguous()
    return Split(images, torch.arange(n))


def labels_of(batches) -> list[torch.Tensor]:
    return [y for _, y in batches]


def test_batches_have_expected_shapes_dtypes_and_count():
    batches = Batches(numbered_split(100), 32)
    got = list(batches)
    assert len(batches) == len(got) == 4
    assert [len(y) for _, y in got] == [32, 32, 32, 4]
    x, y = got[0]
    assert x.shape == (32, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64


def test_batches_normalise_with_mean_and_std():
    split = numbered_split(10)
    x, _ = next(iter(Batches(split, 10, mean=0.2, std=0.5)))
    expected = (split.images.unsqueeze(1).double() / 255 - 0.2) / 0.5
    torch.testing.assert_close(x.double(), expected, atol=1e-6, rtol=0)


def test_batches_resize_to_96_keeps_flat_images_flat():
    x, _ = next(iter(Batches(numbered_split(8), 8, size=96)))
    assert x.shape == (8, 1, 96, 96)
    # Bilinear interpolation of a constant image is that constant: each resized image equals its own value.
    torch.testing.assert_close(x, torch.arange(8).float().div(255).view(8, 1, 1, 1).expand_as(x))


def test_batches_resize_matches_bilinear_interpolation_of_the_normalised_batch():
    split = Split(torch.randint(0, 256, (4, 28, 28), dtype=torch.uint8), torch.zeros(4, dtype=torch.int64))
    x, _ = next(iter(Batches(split, 4, size=96, mean=0.3, std=0.4)))
    expected = F.interpolate((split.images.unsqueeze(1).float() / 255 - 0.3) / 0.4, size=(96, 96), mode="bilinear")
    torch.testing.assert_close(x, expected)


def test_batches_limit_uses_only_the_first_items():
    batches = Batches(numbered_split(100), 8, limit=20, shuffle=True)
    assert len(batches) == 3
    assert sorted(torch.cat(labels_of(batches)).tolist()) == list(range(20))


def test_batches_drop_last_yields_only_full_batches():
    batches = Batches(numbered_split(100), 32, drop_last=True)
    assert len(batches) == 3 and [len(y) for y in labels_of(batches)] == [32, 32, 32]


def test_unshuffled_batches_are_in_order():
    assert torch.cat(labels_of(Batches(numbered_split(50), 16))).tolist() == list(range(50))


def test_shuffled_epoch_is_a_permutation_and_depends_only_on_seed_and_epoch():
    split = numbered_split(100)
    a, b = Batches(split, 16, shuffle=True, seed=1), Batches(split, 16, shuffle=True, seed=1)
    a.set_epoch(3)
    b.set_epoch(3)
    epoch3 = torch.cat(labels_of(a))
    assert sorted(epoch3.tolist()) == list(range(100))
    assert torch.equal(epoch3, torch.cat(labels_of(b)))  # another instance, same (seed, epoch)
    assert torch.equal(epoch3, torch.cat(labels_of(a)))  # iterating again replays the epoch
    a.set_epoch(4)
    assert not torch.equal(epoch3, torch.cat(labels_of(a)))
    other_seed = Batches(split, 16, shuffle=True, seed=2)
    other_seed.set_epoch(3)
    assert not torch.equal(epoch3, torch.cat(labels_of(other_seed)))


@pytest.mark.parametrize("world_size, batch_size, drop_last", [(2, 16, False), (3, 16, True), (4, 10, True)])
def test_rank_shards_together_are_exactly_the_global_batch(world_size, batch_size, drop_last):
    split = numbered_split(103)
    common = dict(shuffle=True, seed=5, drop_last=drop_last)
    whole = Batches(split, batch_size, **common)
    whole.set_epoch(2)
    ranks = [Batches(split, batch_size, rank=r, world_size=world_size, **common) for r in range(world_size)]
    for r in ranks:
        r.set_epoch(2)
    per_rank = [labels_of(r) for r in ranks]
    assert all(len(labels) == len(whole) for labels in per_rank)  # every rank takes the same number of steps
    for i, global_batch in enumerate(labels_of(whole)):
        assert torch.equal(torch.cat([labels[i] for labels in per_rank]), global_batch)


@pytest.mark.parametrize("kwargs", [dict(batch_size=0), dict(batch_size=4, limit=-1),
                                    dict(batch_size=4, rank=2, world_size=2)])
def test_batches_reject_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        Batches(numbered_split(10), **kwargs)


# ---------------------------------------------------------------- real Fashion-MNIST
def test_fashion_mnist_has_official_shapes_dtypes_and_balanced_classes(fashion_mnist):
    train, test = fashion_mnist.train, fashion_mnist.test
    assert train.images.shape == (60_000, 28, 28) and test.images.shape == (10_000, 28, 28)
    assert train.images.dtype == test.images.dtype == torch.uint8
    assert train.labels.dtype == test.labels.dtype == torch.int64
    assert train.labels.min() == 0 and train.labels.max() == 9
    assert torch.bincount(train.labels).tolist() == [6_000] * 10
    assert torch.bincount(test.labels).tolist() == [1_000] * 10
    assert len(fashion_mnist.classes) == 10


def test_fashion_mnist_mean_and_std_match_spec(fashion_mnist):
    pixels = fashion_mnist.train.images.double() / 255
    spec = SPECS["fashion-mnist"]
    assert pixels.mean().item() == pytest.approx(spec.mean, abs=1e-3)
    assert pixels.std().item() == pytest.approx(spec.std, abs=1e-3)
