"""A data set in memory: Split (uint8 images and labels), Dataset (both splits, classes and normalisation),
per-channel statistics and the seeded stratified split. The leaf of cnnlab.data: it imports nothing above it."""
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError

DEFAULT_TEST_SPLIT = 0.2  # fraction of each class held out when a set has no test split of its own
SPLIT_SEED = 0  # the held-out images depend on this alone: every run on the same folder tests on the same images


@dataclass
class Split:
    images: torch.Tensor  # uint8: (N, H, W) grey, or (N, C, H, W) colour
    labels: torch.Tensor  # (N,) int64

    def __len__(self):
        return len(self.labels)

    @property
    def channels(self) -> int:
        return 1 if self.images.ndim == 3 else self.images.shape[1]


@dataclass
class Dataset:
    name: str
    train: Split
    test: Split
    classes: tuple[str, ...]
    mean: float | tuple  # per channel (a float for grey sets), of the training pixels in [0, 1]
    std: float | tuple
    source: str  # directory or file the data came from, or "generated"

    @property
    def channels(self) -> int:
        return self.train.channels


def channel_stats(images: torch.Tensor) -> tuple:
    """Mean and std of uint8 images scaled to [0, 1], per channel: floats for (N, H, W), tuples for (N, C, H, W).
    Exact, from a 256-bin histogram per channel (no float copy of the data)."""
    planes = [images] if images.ndim == 3 else [images[:, c] for c in range(images.shape[1])]
    values = torch.arange(256, dtype=torch.float64) / 255
    means, stds = [], []
    for plane in planes:
        counts = torch.bincount(plane.reshape(-1).long(), minlength=256).double()
        total = counts.sum().clamp(min=1)
        mean = (counts * values).sum() / total
        var = (counts * (values - mean) ** 2).sum() / total
        means.append(round(mean.item(), 4))
        stds.append(round(max(var.sqrt().item(), 1e-3), 4))  # a constant image set would divide by zero
    if images.ndim == 3:
        return means[0], stds[0]
    return tuple(means), tuple(stds)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) holding out `test_fraction` of each class, chosen by a seeded shuffle: the same
    labels, fraction and seed always give the same split. A class of n >= 2 images keeps at least one on each side."""
    if not 0 < test_fraction < 1:
        raise ConfigError(f"--test-split must be between 0 and 1 (a fraction of each class), got {test_fraction}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for k in np.unique(labels):
        members = np.flatnonzero(labels == k)
        rng.shuffle(members)
        n_test = int(round(len(members) * test_fraction))
        if len(members) >= 2:
            n_test = min(max(n_test, 1), len(members) - 1)
        test.append(members[:n_test])
        train.append(members[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
