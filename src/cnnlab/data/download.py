"""Downloading a named data set from its mirrors into the cache, each file renamed into place only once its
MD5 matches."""
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import DatasetError
from . import checksum
from .catalog import MIRRORS_ENV, cache_dir, dataset_spec, ways_to_get


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
        got = checksum.md5(partial)
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
        if target.exists() and checksum.md5(target) == md5:
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
