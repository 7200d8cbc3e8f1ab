"""The small trained network cnnlab ships, so that a first `cnnlab explore` opens a trained model: Liu Er's basic
CNN (lecture 10) trained by cnnlab's liuer recipe on Fashion-MNIST, 10 epochs. `make pretrained` rebuilds it
(`--deterministic`, one thread, float32: the same command gives the same metrics.csv on the same machine).
Every command that reads a run names it `pretrained` (a file or folder of that name in the working directory wins)."""
import csv
from pathlib import Path

NAME = "pretrained"
RUN = "fashion-basic-cnn"
VIEWS = Path("runs") / "pretrained-views"  # where views of it write: the package's folder is not the user's


def directory() -> Path:
    """The shipped run directory (best.pt, config.json, metrics.csv, curves.png)."""
    return Path(__file__).resolve().parent / RUN


def resolve(path) -> Path:
    """`path` as a Path, except the name `pretrained` (when nothing of that name is here): the shipped run."""
    if str(path) == NAME and not Path(path).exists():
        return directory()
    return Path(path)


def is_shipped(path) -> bool:
    try:
        return Path(path).resolve() == directory()
    except OSError:
        return False


def describe() -> str:
    """One line saying what the shipped network is and how to train your own."""
    with open(directory() / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return (f"{NAME}: Liu Er's basic CNN trained by cnnlab on Fashion-MNIST ({len(rows)} epochs, test accuracy "
            f"{float(rows[-1]['test_acc']):.4f}), shipped with cnnlab; train your own with "
            f"`cnnlab train --recipe liuer --out runs/mine`, then `cnnlab explore runs/mine`")
