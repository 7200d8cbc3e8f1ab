"""A file's MD5, read in blocks: how downloads and the CIFAR-10 archive are checked against their official sums."""
import hashlib
from pathlib import Path


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
