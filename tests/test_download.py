"""Downloading against a local HTTP server: MD5 check, no leftovers, mirror fallback, clear failure, the CLI."""
import dataclasses
import functools
import hashlib
import shutil
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from cnnlab.cli import main
from cnnlab.data import FILES, SPECS, cache_dir, fetch, load_dataset
from cnnlab.errors import DatasetError

ALL_FILES = [name for pair in FILES.values() for name in pair]  # in download order: train images first


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def server(tmp_path, idx_dir):
    """A local HTTP server whose /good/ serves the tiny set's four .gz files; yields its base URL."""
    root = tmp_path / "www"
    shutil.copytree(idx_dir, root / "good")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def refused_url():
    """A URL on a port nobody listens on: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def mnist_from(idx_dir, monkeypatch):
    """Point the mnist spec at given mirrors, with the tiny files' real MD5s (or given ones)."""
    real_md5 = {name: hashlib.md5((idx_dir / name).read_bytes()).hexdigest() for name in ALL_FILES}

    def configure(*mirrors, md5=None):
        spec = dataclasses.replace(SPECS["mnist"], mirrors=mirrors, md5=md5 or real_md5)
        monkeypatch.setitem(SPECS, "mnist", spec)
    return configure


def test_download_saves_files_to_cache_and_load_dataset_then_uses_them(no_user_data, server, mnist_from, idx_dir,
                                                                      refused_url):
    mnist_from(f"{server}/good/")
    assert fetch("mnist", progress=False) == cache_dir("mnist") == no_user_data / "cnnlab" / "mnist"
    assert sorted(p.name for p in cache_dir("mnist").iterdir()) == sorted(p.name for p in idx_dir.iterdir())
    mnist_from(refused_url)  # from now on the cache alone must do
    data = load_dataset("mnist", download=False)
    assert data.source == str(cache_dir("mnist"))
    assert data.train.images.shape == (200, 28, 28) and data.test.labels.dtype == torch.int64


def test_load_dataset_downloads_when_data_is_missing(no_user_data, server, mnist_from):
    mnist_from(f"{server}/good/")
    data = load_dataset("mnist")
    assert data.source == str(cache_dir("mnist")) and len(data.test) == 50


def test_wrong_checksum_is_rejected_and_leaves_no_file_behind(no_user_data, server, mnist_from, idx_dir):
    mnist_from(f"{server}/good/", md5={name: "0" * 32 for name in ALL_FILES})
    with pytest.raises(DatasetError, match=f"{server}/good/train-images-idx3-ubyte.gz: checksum mismatch: MD5 "
                                           f"[0-9a-f]{{32}}, expected 0{{32}}"):
        fetch("mnist", progress=False)
    assert list(cache_dir("mnist").iterdir()) == []  # neither the file nor a .part


@pytest.mark.parametrize("failing", ["404", "refused"])
def test_failing_first_mirror_falls_back_to_second(no_user_data, server, mnist_from, refused_url, failing):
    first = f"{server}/missing/" if failing == "404" else refused_url
    mnist_from(first, f"{server}/good/")
    assert load_dataset("mnist").train.images.shape == (200, 28, 28)


def test_all_mirrors_failing_says_why_and_how_to_get_the_data(no_user_data, server, mnist_from, refused_url):
    mnist_from(f"{server}/missing", refused_url)  # a mirror without the trailing slash works too
    with pytest.raises(DatasetError) as caught:
        load_dataset("mnist")
    message = str(caught.value)
    assert f"{server}/missing/train-images-idx3-ubyte.gz: HTTP Error 404" in message
    assert f"{refused_url}train-images-idx3-ubyte.gz: [Errno 111] Connection refused" in message
    assert "--data-dir DIR or set CNNLAB_DATA=DIR" in message and "cnnlab download mnist" in message
    assert list(cache_dir("mnist").iterdir()) == []


def test_malformed_mirror_url_is_a_download_failure_not_a_crash(no_user_data, mnist_from):
    mnist_from("not-a-url/")
    with pytest.raises(DatasetError, match="could not download train-images-idx3-ubyte.gz"):
        fetch("mnist", progress=False)


def test_files_already_downloaded_are_not_fetched_again(no_user_data, server, mnist_from, refused_url):
    mnist_from(f"{server}/good/")
    fetch("mnist", progress=False)
    mnist_from(refused_url)  # would fail if anything were downloaded
    assert fetch("mnist", progress=False) == cache_dir("mnist")


def test_synthetic_has_nothing_to_download(no_user_data, monkeypatch, server):
    monkeypatch.setenv("CNNLAB_MIRRORS", f"{server}/good/")
    with pytest.raises(DatasetError, match="generated"):
        fetch("synthetic")
    assert not cache_dir("synthetic").exists()


def test_download_command_uses_cnnlab_mirrors(no_user_data, server, mnist_from, refused_url, monkeypatch, capsys):
    mnist_from(refused_url)  # the spec's own mirrors fail: only $CNNLAB_MIRRORS can succeed
    monkeypatch.setenv("CNNLAB_MIRRORS", f"{refused_url} {server}/good/")
    assert main(["download", "mnist"]) == 0
    assert capsys.readouterr().out.strip() == f"saved to {cache_dir('mnist')}"
    assert load_dataset("mnist", download=False).source == str(cache_dir("mnist"))
    assert main(["datasets"]) == 0
    mnist_line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("mnist "))
    assert mnist_line.endswith(str(cache_dir("mnist")))


def test_download_command_failure_is_one_line_and_exit_2(no_user_data, mnist_from, refused_url, capsys):
    mnist_from(refused_url)
    assert main(["download", "mnist"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnnlab: error: could not download") and err.count("\n") == 1
