"""d2l's downloads (the MLP chapter's Kaggle house prices): DATA_HUB maps a name to (url, SHA-1); download() keeps
a file in a cache folder and fetches it only when missing or changed. A failed download is one DatasetError line
naming the URL, the reason and where to put the file by hand."""
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from ..errors import DatasetError

DATA_URL = "http://d2l-data.s3-accelerate.amazonaws.com/"
DATA_HUB = {
    # name: (url, SHA-1 of the file), as the book registers them (d2l 4.10)
    "kaggle_house_train": (DATA_URL + "kaggle_house_pred_train.csv", "585e9cc93e70b39160e7921475f9bcd7d31219ce"),
    "kaggle_house_test": (DATA_URL + "kaggle_house_pred_test.csv", "fa19780a7b011d9b009e8bff8e99922a8ee2eb90"),
}
DEFAULT_CACHE = os.path.join("..", "data")  # the book's: a data/ folder beside the notebooks' folder
TIMEOUT = 30  # seconds without an answer before a download counts as failed


def _sha1(path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _reason(error: Exception) -> str:
    """'[Errno 111] Connection refused', 'HTTP Error 404: Not Found', 'timed out', ..."""
    if isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError):
        return str(error.reason)
    return str(error) or type(error).__name__


def download(name: str, cache_dir=DEFAULT_CACHE) -> str:
    """The local path of DATA_HUB[name]'s file in `cache_dir` (d2l's default: ../data), downloaded first unless a
    copy with the right SHA-1 is there. The file is renamed into place only once its SHA-1 matches."""
    if name not in DATA_HUB:
        raise DatasetError(f"'{name}' is not in d2l.DATA_HUB (it has {', '.join(sorted(DATA_HUB))}); add it as "
                           f"d2l.DATA_HUB['{name}'] = (url, sha1)")
    url, sha1_hash = DATA_HUB[name]
    os.makedirs(cache_dir, exist_ok=True)
    fname = os.path.join(cache_dir, url.split("/")[-1])
    if os.path.exists(fname) and _sha1(fname) == sha1_hash:
        return fname  # the cached copy
    print(f"Downloading {fname} from {url}...")
    fd, partial = tempfile.mkstemp(dir=cache_dir, prefix=os.path.basename(fname) + ".", suffix=".part")
    try:
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as response, open(fd, "wb") as out:
                shutil.copyfileobj(response, out, 1 << 16)
        # URLError and timeouts are OSErrors; a dropped connection can be an HTTPException
        except (OSError, http.client.HTTPException, ValueError) as error:
            raise DatasetError(f"{url}: cannot download d2l's '{name}' ({_reason(error)}); check the network "
                               f"connection, or put the file at {os.path.abspath(fname)}") from None
        got = _sha1(partial)
        if got != sha1_hash:
            raise DatasetError(f"{url}: checksum mismatch for d2l's '{name}': SHA-1 {got}, expected {sha1_hash}")
        os.replace(partial, fname)
    finally:
        Path(partial).unlink(missing_ok=True)
    return fname


def download_extract(name: str, folder=None) -> str:
    """Download a .zip or .tar(.gz) archive of DATA_HUB and unpack it beside itself; returns the folder it made
    (the archive's name without extension, or `folder` inside the cache)."""
    fname = download(name)
    base_dir = os.path.dirname(fname)
    data_dir, ext = os.path.splitext(fname)
    if ext == ".zip":
        with zipfile.ZipFile(fname, "r") as archive:
            archive.extractall(base_dir)
    elif ext in (".tar", ".gz"):
        with tarfile.open(fname, "r") as archive:
            archive.extractall(base_dir, filter="data")  # no absolute paths, links out of base_dir or devices
    else:
        raise DatasetError(f"{fname}: only zip/tar files can be extracted")
    return os.path.join(base_dir, folder) if folder else data_dir


def download_all() -> None:
    """Download every file of DATA_HUB."""
    for name in DATA_HUB:
        download(name)
