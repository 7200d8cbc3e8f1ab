"""Mini-batches cut by index from uint8 tensors held in memory (normalised and resized per batch on the
device, never per sample), and the way back from a model input to a picture to draw."""
import math

import numpy as np
import torch
import torch.nn.functional as F

from .split import Split


class Batches:
    """Mini-batches from a Split held in memory: seeded shuffle per epoch, uint8 -> float, normalise and resize
    per batch on `device`. With world_size > 1, each rank takes its share of every global batch.

    Iterating yields (x, y): x (B, C, S, S) float32, y (B,) int64. `mean` and `std` are one value, or one per
    channel. Every rank yields len(self) batches; with world_size > 1 train with drop_last=True, since a last
    global batch smaller than world_size leaves some ranks an empty shard (harmless when evaluating: counts
    still add up)."""

    def __init__(self, split: Split, batch_size: int, *, shuffle=False, seed=0, drop_last=False, mean=0.0, std=1.0,
                 size=None, limit=None, device="cpu", rank=0, world_size=1, channels_last=False):
        if batch_size < 1 or (limit is not None and limit < 0):
            raise ValueError(f"batch_size must be >= 1 and limit >= 0, got {batch_size} and {limit}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..world_size-1, got rank {rank} of {world_size}")
        self.split, self.batch_size, self.shuffle, self.seed = split, batch_size, shuffle, seed
        self.drop_last, self.mean, self.std, self.size = drop_last, mean, std, size
        self.n = len(split) if limit is None else min(limit, len(split))
        self.device, self.rank, self.world_size = torch.device(device), rank, world_size
        self.channels_last = channels_last
        self.epoch = 0
        self.subset = None  # see select
        # Keep the uint8 data on the device once (4x smaller than float); batches are cut from it by index.
        self.images = split.images[: self.n].to(self.device)
        self.labels = split.labels[: self.n].to(self.device)
        # (x / 255 - mean) / std as one multiply and one subtract, per channel
        std_t = torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
        mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
        self._scale, self._shift = (1 / (255 * std_t)).to(self.device), (mean_t / std_t).to(self.device)

    @property
    def channels(self) -> int:
        return self.split.channels
    def set_epoch(self, epoch: int) -> None:
        """Each epoch's order depends only on (seed, epoch): resuming at epoch k replays the same batches."""
        self.epoch = epoch

    def select(self, indices: torch.Tensor | None) -> None:
        """From now on iterate over only these images (indices into the split; None: all of them again)."""
        self.subset = indices

    @property
    def count(self) -> int:
        """Images per epoch: all n, or those of `select`."""
        return self.n if self.subset is None else len(self.subset)

    def steps(self, count: int) -> int:
        """Batches in an epoch of `count` images."""
        return count // self.batch_size if self.drop_last else math.ceil(count / self.batch_size)

    def __len__(self):
        return self.steps(self.count)

    def order(self) -> torch.Tensor:
        """The epoch's images (indices into the split), in the epoch's seeded order when shuffling."""
        pool = torch.arange(self.n) if self.subset is None else self.subset.cpu()
        if not self.shuffle:
            return pool
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        shuffled = torch.randperm(self.count, generator=g)
        return shuffled if self.subset is None else pool[shuffled]

    def __iter__(self):
        for _, x, y in self.indexed():
            yield x, y

    def indexed(self):
        """Like iterating, with each batch's place in the split first: (index, x, y)."""
        images, labels, order = self.images, self.labels, self.order().to(self.device)
        if self.shuffle or self.subset is not None:  # one gather per epoch (47 MB of uint8 for Fashion-MNIST)
            images, labels = images.index_select(0, order), labels.index_select(0, order)
        for i in range(len(self)):
            batch = slice(i * self.batch_size, min((i + 1) * self.batch_size, self.count))
            index, x, y = order[batch], images[batch], labels[batch]
            if self.world_size > 1:  # this rank's share of the global batch (views, no copy)
                index, x, y = (t.tensor_split(self.world_size)[self.rank] for t in (index, x, y))
            yield index, self.transform(x), y

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W) or (B, C, H, W) -> normalised float (B, C, S, S)."""
        x = images.unsqueeze(1) if images.ndim == 3 else images
        x = x.float().mul_(self._scale).sub_(self._shift)  # two passes over the batch instead of three
        if self.size is not None and self.size != x.shape[-1]:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x



def display_images(images: torch.Tensor) -> np.ndarray:
    """uint8 images as matplotlib draws them: (N, H, W) grey stays, (N, C, H, W) colour becomes (N, H, W, C)."""
    images = images.cpu()
    return (images if images.ndim == 3 else images.permute(0, 2, 3, 1)).numpy()


def display_input(x: torch.Tensor, mean, std) -> np.ndarray:
    """One model input (C, S, S), normalised with `mean` and `std`, back in [0, 1] to draw: (S, S) grey or
    (S, S, 3) colour, what the network actually sees."""
    x = x.detach().float().cpu()
    pixels = (x * torch.as_tensor(std).reshape(-1, 1, 1) + torch.as_tensor(mean).reshape(-1, 1, 1)).clamp(0, 1)
    return pixels[0].numpy() if pixels.shape[0] == 1 else pixels.permute(1, 2, 0).numpy()
