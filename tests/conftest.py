"""Shared fixtures: a tiny MNIST-like IDX set on disk, an environment with no user data, real Fashion-MNIST."""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from cnnlab.data import FILES, SPECS, load_dataset, make_synthetic, write_idx

FASHION_DIR = Path(SPECS["fashion-mnist"].system_dirs[0])


@pytest.fixture
def idx_dir(tmp_path) -> Path:
    """A directory with the four gzipped IDX files of a tiny learnable MNIST-like set: 200 training and
    50 test 28x28 images (the synthetic patterns), labels 0-9. Load it with
    load_dataset("mnist", data_dir=idx_dir, download=False)."""
    directory = tmp_path / "idx"
    directory.mkdir()
    train, test = make_synthetic(train_size=200, test_size=50, seed=1)
    for split, (images_file, labels_file) in zip((train, test), FILES.values()):
        write_idx(directory / images_file, split.images.numpy())
        write_idx(directory / labels_file, split.labels.numpy())
    return directory


@pytest.fixture
def no_user_data(tmp_path, monkeypatch) -> Path:
    """An empty home and cache, no CNNLAB_DATA / CNNLAB_MIRRORS, no proxy for local servers: tests neither
    see nor write the real user's data. Returns the cache root (XDG_CACHE_HOME)."""
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    for name in ("CNNLAB_DATA", "CNNLAB_MIRRORS", "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return cache


@pytest.fixture(scope="session")
def fashion_mnist():
    """The real Fashion-MNIST from the Debian package (loaded once per session), or skip."""
    if not all((FASHION_DIR / f).exists() for pair in FILES.values() for f in pair):
        pytest.skip(f"real Fashion-MNIST not installed in {FASHION_DIR} (sudo apt-get install dataset-fashion-mnist)")
    return load_dataset("fashion-mnist", data_dir=FASHION_DIR, download=False)


@pytest.fixture(scope="session")
def good_run(tmp_path_factory) -> Path:
    """A finished tiny basic-cnn run on synthetic data (last.pt, best.pt, config.json, metrics.csv), trained once
    per test session (once per xdist worker) and shared by every module: tests read it, or copy it to change it."""
    import cnnlab

    run = tmp_path_factory.mktemp("good") / "run"
    cnnlab.train("basic-cnn", dataset="synthetic", epochs=1, train_limit=200, test_limit=100, threads=1,
                 precision="fp32", progress=False, out=str(run))
    return run


# The longest files first. pytest-xdist (`make test`: 2 workers, --dist loadfile) hands out whole files in collection
# order, so a long file collected last (test_views.py, alphabetically near the end) kept one worker busy for half a
# minute after the other had finished. The order: the files' measured totals (`pytest --durations=0`), longest
# first; a file missing here keeps its alphabetical place after these. On an idle 2-core Intel Xeon, alternating:
# 182 s and 178 s in this order, 204 s and 203 s in alphabetical order.
LONGEST_FIRST = ("test_views.py", "test_train.py", "test_own_network.py", "test_matrix.py", "test_explore_browser.py",
                 "test_tools.py", "test_first_hour.py", "test_distributed.py", "test_explore.py", "test_d2l.py",
                 "test_hostile_files.py", "test_errors.py", "test_models.py", "test_untrusted.py", "test_report.py",
                 "test_d2l_chapters.py", "test_explore_security.py", "test_notebooks.py")


def pytest_configure(config):
    """The whole run gets a cache root of its own (XDG_CACHE_HOME, inherited by xdist workers and every subprocess):
    runs with --precision auto cache their timings there, not in the user's ~/.cache/cnnlab/precision.json, which
    the suite used to fill with entries for its temporary networks, and no test reads a choice an earlier run of
    the user's cached. matplotlib keeps its font cache where it was, so no process rebuilds it."""
    if "PYTEST_XDIST_WORKER" in os.environ or "CNNLAB_TEST_CACHE" in os.environ:  # a worker, or a nested run
        return
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    os.environ.setdefault("MPLCONFIGDIR", str(user_cache / "matplotlib"))
    config.cnnlab_test_cache = tempfile.mkdtemp(prefix="cnnlab-test-cache-")  # this process made it, and removes it
    os.environ["CNNLAB_TEST_CACHE"] = os.environ["XDG_CACHE_HOME"] = config.cnnlab_test_cache


def pytest_unconfigure(config):
    made = getattr(config, "cnnlab_test_cache", None)
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its own order
