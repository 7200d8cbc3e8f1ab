"""d2l's data names: Fashion-MNIST held in memory (cnnlab's data layer), the synthetic linear-regression set and
load_array over tensors."""
import torch
import torch.nn.functional as F
from torch.utils import data as torch_data

from ..data import load_dataset

TEXT_LABELS = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")


def synthetic_data(w: torch.Tensor, b, num_examples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """d2l 3.2's data set: X ~ N(0, 1) of shape (num_examples, len(w)), y = Xw + b + N(0, 0.01) noise as a column
    (num_examples, 1)."""
    X = torch.normal(0, 1, (num_examples, len(w)))
    y = torch.matmul(X, w) + b
    y += torch.normal(0, 0.01, y.shape)
    return X, y.reshape((-1, 1))


def load_array(data_arrays, batch_size: int, is_train: bool = True) -> torch_data.DataLoader:
    """A DataLoader over tensors that share their first dimension (d2l 3.3), shuffled each pass when training."""
    return torch_data.DataLoader(torch_data.TensorDataset(*data_arrays), batch_size, shuffle=is_train)


def get_fashion_mnist_labels(labels) -> list[str]:
    """Fashion-MNIST's class names for numeric labels, as d2l spells them."""
    return [TEXT_LABELS[int(i)] for i in labels]


def get_dataloader_workers() -> int:
    """d2l's worker-process count for its DataLoader (4). cnnlab's loader needs none: the data is in memory."""
    return 4


class DataIter:
    """An epoch-after-epoch iterable over a split held in memory, like d2l's DataLoader: len() batches of
    float32 images in [0, 1], (B, 1, H, W), and int64 labels. The images are converted to float once, here
    (d2l's pipeline has no Normalize, so there is nothing left to do per batch): an epoch is then one shuffling
    gather, and a batch a view of it (resized per batch when asked). Unlike data.Batches, which normalises and
    resizes each batch from uint8 so that any data set and input size fit in memory. Each shuffled pass draws its
    order from torch's global generator, so torch.manual_seed makes runs repeat, as with a DataLoader, and gathers
    each batch when it is due: one 188 MB gather per epoch (fresh pages, faulted in one by one) took 0.25 s of
    every Fashion-MNIST epoch; a batch's 0.8 MB reuses the same memory every time."""

    def __init__(self, split, batch_size: int, shuffle: bool, resize=None, limit=None):
        n = len(split) if limit is None else min(limit, len(split))
        self.images = split.images[:n].unsqueeze(1).float().div_(255)  # (N, 1, 28, 28) in [0, 1], as ToTensor
        self.labels = split.labels[:n]
        self.batch_size, self.shuffle, self.resize = batch_size, shuffle, resize

    def __len__(self):
        return (len(self.labels) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        order = torch.randperm(len(self.labels)) if self.shuffle else None
        for i in range(0, len(self.labels), self.batch_size):
            if order is None:
                X, y = self.images[i:i + self.batch_size], self.labels[i:i + self.batch_size]
            else:
                batch = order[i:i + self.batch_size]
                X, y = self.images.index_select(0, batch), self.labels.index_select(0, batch)
            if self.resize is not None and self.resize != X.shape[-1]:
                X = F.interpolate(X, size=(self.resize, self.resize), mode="bilinear", align_corners=False)
            yield X, y


def load_data_fashion_mnist(batch_size: int, resize=None, *, limit=None) -> tuple[DataIter, DataIter]:
    """Fashion-MNIST as (train_iter, test_iter): the training set reshuffled every pass, the test set in order;
    images optionally resized to resize x resize (bilinear, per batch). Read once into memory from wherever
    cnnlab finds the files (downloaded into the cache if they are nowhere). `limit` (cnnlab's addition, for
    quick tries): only the first `limit` images of each split."""
    data = load_dataset("fashion-mnist")
    return (DataIter(data.train, batch_size, shuffle=True, resize=resize, limit=limit),
            DataIter(data.test, batch_size, shuffle=False, resize=resize, limit=limit))
