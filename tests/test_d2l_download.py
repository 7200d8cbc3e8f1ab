"""d2l.download / download_extract / download_all (the MLP chapter's Kaggle house prices) against a local HTTP
server: SHA-1 checked, cached, no partial file left, and one clear line when the network is not there."""
import functools
import hashlib
import socket
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from cnnlab import d2l
from cnnlab.errors import DatasetError

CSV = b"Id,MSSubClass,SalePrice\n1,60,208500\n2,20,181500\n"


class CountingHandler(SimpleHTTPRequestHandler):
    requests: ClassVar[list] = []

    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over tmp_path/www holding a house-prices CSV and a zip; yields its base URL."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "kaggle_house_pred_train.csv").write_bytes(CSV)
    with zipfile.ZipFile(root / "tiny.zip", "w") as archive:
        archive.writestr("tiny/a.txt", "hello")
    CountingHandler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(CountingHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """d2l.DATA_HUB emptied for the test (the book's entries restored after; it is the dict download() reads, so
    the book's `d2l.DATA_HUB[name] = ...` works), working directory tmp_path/work so
    that d2l's default cache ../data is tmp_path/data."""
    saved = dict(d2l.DATA_HUB)
    d2l.DATA_HUB.clear()
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    yield d2l.DATA_HUB
    d2l.DATA_HUB.clear()
    d2l.DATA_HUB.update(saved)


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def test_the_books_kaggle_entries_are_registered():
    assert d2l.DATA_URL == "http://d2l-data.s3-accelerate.amazonaws.com/"
    url, digest = d2l.DATA_HUB["kaggle_house_train"]
    assert url == d2l.DATA_URL + "kaggle_house_pred_train.csv" and len(digest) == 40
    assert d2l.DATA_HUB["kaggle_house_test"][0].endswith("kaggle_house_pred_test.csv")


def test_download_fetches_checks_and_then_uses_the_cache(server, hub, tmp_path, capsys):
    hub["kaggle_house_train"] = (server + "kaggle_house_pred_train.csv", sha1(CSV))
    fname = d2l.download("kaggle_house_train")
    assert fname == "../data/kaggle_house_pred_train.csv" and (tmp_path / "data" / "kaggle_house_pred_train.csv"
                                                               ).read_bytes() == CSV
    assert capsys.readouterr().out == f"Downloading {fname} from {server}kaggle_house_pred_train.csv...\n"
    assert d2l.download("kaggle_house_train") == fname and CountingHandler.requests == ["/kaggle_house_pred_train.csv"]
    assert capsys.readouterr().out == ""  # the cached copy: no second request, nothing printed
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["kaggle_house_pred_train.csv"]
    assert d2l.download("kaggle_house_train", cache_dir=str(tmp_path / "other")).startswith(str(tmp_path / "other"))


def test_a_wrong_checksum_is_refused_and_leaves_no_file(server, hub, tmp_path):
    hub["kaggle_house_train"] = (server + "kaggle_house_pred_train.csv", "0" * 40)
    with pytest.raises(DatasetError, match=f"^{server}kaggle_house_pred_train.csv: checksum mismatch for d2l's "
                                           f"'kaggle_house_train': SHA-1 {sha1(CSV)}, expected 0{{40}}$"):
        d2l.download("kaggle_house_train")
    assert list((tmp_path / "data").iterdir()) == []


def test_offline_is_one_clear_line(hub, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens there once the socket is closed
    hub["kaggle_house_test"] = (f"http://127.0.0.1:{port}/kaggle_house_pred_test.csv", "0" * 40)
    with pytest.raises(DatasetError) as caught:
        d2l.download("kaggle_house_test")
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"http://127.0.0.1:{port}/kaggle_house_pred_test.csv: cannot "
                                                       f"download d2l's 'kaggle_house_test' (")
    assert "Connection refused" in message and message.endswith(
        f"check the network connection, or put the file at {tmp_path / 'data' / 'kaggle_house_pred_test.csv'}")
    assert caught.value.__suppress_context__ and list((tmp_path / "data").iterdir()) == []


def test_an_unknown_name_says_what_the_hub_has(hub):
    hub["kaggle_house_train"] = ("http://127.0.0.1:9/x.csv", "0" * 40)
    with pytest.raises(DatasetError, match=r"'pokemon' is not in d2l.DATA_HUB \(it has kaggle_house_train\)"):
        d2l.download("pokemon")


def test_download_extract_unpacks_a_zip_and_download_all_fetches_everything(server, hub, tmp_path):
    with open(tmp_path / "www" / "tiny.zip", "rb") as f:
        zipped = f.read()
    hub["tiny"] = (server + "tiny.zip", sha1(zipped))
    assert d2l.download_extract("tiny") == "../data/tiny"
    assert (tmp_path / "data" / "tiny" / "a.txt").read_text() == "hello"
    assert d2l.download_extract("tiny", "tiny") == "../data/tiny"
    hub["kaggle_house_train"] = (server + "kaggle_house_pred_train.csv", sha1(CSV))
    d2l.download_all()
    assert (tmp_path / "data" / "kaggle_house_pred_train.csv").read_bytes() == CSV
    hub["plain"] = (server + "kaggle_house_pred_train.csv?x.txt", sha1(CSV))
    with pytest.raises(DatasetError, match="only zip/tar files can be extracted"):
        d2l.download_extract("plain")
