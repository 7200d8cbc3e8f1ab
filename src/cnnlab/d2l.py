"""The names d2l's convolution chapters use, for `from cnnlab import d2l` in place of `from d2l import torch as d2l`:
the book's semantics on cnnlab's in-memory data, its curves live in Jupyter and as a PNG elsewhere.
The list and every deliberate difference from d2l 2.0 are in docs/d2l.md."""
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import load_dataset
from .notebook import LiveFigure, Progress, bar, in_notebook
from .ops import corr2d  # d2l 6.2's loop, the first rung of cnnlab's convolution ladder
from .plots import subplots
from .report import openmp_note
from .steps import xavier_init

__all__ = ["Accumulator", "Animator", "Timer", "accuracy", "corr2d", "evaluate_accuracy_gpu", "get_fashion_mnist_labels",
           "load_data_fashion_mnist", "show_images", "train_ch6", "try_all_gpus", "try_gpu"]


def __getattr__(name: str):
    """A d2l name this module does not have: say what it covers, not just 'no attribute'."""
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError(f"cnnlab.d2l has no '{name}': it covers the names d2l's convolution chapters use "
                         f"({', '.join(__all__)}); see docs/d2l.md")


# ---------------------------------------------------------------- devices
def try_gpu(i: int = 0) -> torch.device:
    """GPU i if there is one, else the CPU."""
    return torch.device(f"cuda:{i}") if torch.cuda.device_count() >= i + 1 else torch.device("cpu")


def try_all_gpus() -> list[torch.device]:
    """Every GPU, or [cpu] if there is none."""
    return [torch.device(f"cuda:{i}") for i in range(torch.cuda.device_count())] or [torch.device("cpu")]


# ---------------------------------------------------------------- counting
class Accumulator:
    """Sums of n running quantities (d2l: e.g. loss total, correct predictions, examples)."""

    def __init__(self, n: int):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def reset(self):
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]


class Timer:
    """Records several running times; starts on creation."""

    def __init__(self):
        self.times = []
        self.start()

    def start(self):
        self.tik = time.time()

    def stop(self) -> float:
        self.times.append(time.time() - self.tik)
        return self.times[-1]

    def avg(self) -> float:
        return sum(self.times) / len(self.times)

    def sum(self) -> float:
        return sum(self.times)

    def cumsum(self) -> list:
        return np.array(self.times).cumsum().tolist()


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """The number of correct predictions (not the fraction: d2l divides later)."""
    if y_hat.dim() > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    return float((y_hat.type(y.dtype) == y).type(y.dtype).sum())


def evaluate_accuracy_gpu(net, data_iter, device=None) -> float:
    """Accuracy of `net` over `data_iter`, computed on `device` (default: where the parameters are)."""
    if isinstance(net, nn.Module):
        net.eval()
        if not device:
            device = next(iter(net.parameters())).device
    metric = Accumulator(2)  # correct predictions, examples
    with torch.no_grad():
        for X, y in data_iter:
            X = [x.to(device) for x in X] if isinstance(X, list) else X.to(device)
            y = y.to(device)
            metric.add(accuracy(net(X), y), y.numel())
    return metric[0] / metric[1]


# ---------------------------------------------------------------- data
TEXT_LABELS = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")


def get_fashion_mnist_labels(labels) -> list[str]:
    """Fashion-MNIST's class names for numeric labels, as d2l spells them."""
    return [TEXT_LABELS[int(i)] for i in labels]


class DataIter:
    """An epoch-after-epoch iterable over a split held in memory, like d2l's DataLoader: len() batches of
    float32 images in [0, 1], (B, 1, H, W), and int64 labels. The images are converted to float once, here
    (d2l's pipeline has no Normalize, so there is nothing left to do per batch): an epoch is then one shuffling
    gather, and a batch a view of it (resized per batch when asked). Unlike data.Batches, which normalises and
    resizes each batch from uint8 so that any data set and input size fit in memory. Each shuffled pass draws its
    order from torch's global generator, so torch.manual_seed makes runs repeat, as with a DataLoader."""

    def __init__(self, split, batch_size: int, shuffle: bool, resize=None, limit=None):
        n = len(split) if limit is None else min(limit, len(split))
        self.images = split.images[:n].unsqueeze(1).float().div_(255)  # (N, 1, 28, 28) in [0, 1], as ToTensor
        self.labels = split.labels[:n]
        self.batch_size, self.shuffle, self.resize = batch_size, shuffle, resize

    def __len__(self):
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self):
        images, labels = self.images, self.labels
        if self.shuffle:
            order = torch.randperm(len(labels))
            images, labels = images.index_select(0, order), labels.index_select(0, order)
        for i in range(0, len(labels), self.batch_size):
            X = images[i:i + self.batch_size]
            if self.resize is not None and self.resize != X.shape[-1]:
                X = F.interpolate(X, size=(self.resize, self.resize), mode="bilinear", align_corners=False)
            yield X, labels[i:i + self.batch_size]


def load_data_fashion_mnist(batch_size: int, resize=None, *, limit=None) -> tuple[DataIter, DataIter]:
    """Fashion-MNIST as (train_iter, test_iter): the training set reshuffled every pass, the test set in order;
    images optionally resized to resize x resize (bilinear, per batch). Read once into memory from wherever
    cnnlab finds the files (downloaded into the cache if they are nowhere). `limit` (cnnlab's addition, for
    quick tries): only the first `limit` images of each split."""
    data = load_dataset("fashion-mnist")
    return (DataIter(data.train, batch_size, shuffle=True, resize=resize, limit=limit),
            DataIter(data.test, batch_size, shuffle=False, resize=resize, limit=limit))


# ---------------------------------------------------------------- pictures
def _show(fig, name: str):
    """A finished picture: inline in a notebook, else a PNG in the working directory (named on stdout)."""
    if in_notebook():
        from IPython.display import Image, display

        from .notebook import png_bytes

        display(Image(data=png_bytes(fig)))
    else:
        fig.savefig(name, dpi=100)
        print(f"figure written to {name}")


def show_images(imgs, num_rows: int, num_cols: int, titles=None, scale: float = 1.5, path="show_images.png"):
    """A grid of images with optional titles; returns the axes (flattened), as d2l does."""
    fig, axes = subplots(num_rows, num_cols, figsize=(num_cols * scale, num_rows * scale), squeeze=False)
    axes = axes.flatten()
    for i, (ax, img) in enumerate(zip(axes, imgs)):
        ax.imshow(img.detach().cpu().numpy() if torch.is_tensor(img) else img)
        ax.axes.get_xaxis().set_visible(False)
        ax.axes.get_yaxis().set_visible(False)
        if titles:
            ax.set_title(titles[i])
    _show(fig, path)
    return axes


class Animator:
    """Lines that grow point by point (d2l's training curves). In Jupyter: one figure in the cell, redrawn in
    place by each add(), leaving the cell's other output alone; elsewhere the figure is rewritten to `path`
    (default animator.png) at each add(), since a terminal has nowhere to show it (d2l shows nothing there)."""

    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None, xscale="linear",
                 yscale="linear", fmts=("-", "m--", "g-.", "r:"), nrows=1, ncols=1, figsize=(3.5, 2.5), path=None):
        self.legend = legend or []
        self.fig, axes = subplots(nrows, ncols, figsize=figsize, squeeze=False)
        self.axes = list(axes.flatten())
        self.config_axes = lambda: self._configure(self.axes[0], xlabel, ylabel, xlim, ylim, xscale, yscale)
        self.X, self.Y, self.fmts = None, None, fmts
        self.notebook = in_notebook()
        self.path = Path(path) if path is not None else (None if self.notebook else Path("animator.png"))
        self.live = None  # the cell's figure output, made by the first add()
        self.told = False

    def _configure(self, ax, xlabel, ylabel, xlim, ylim, xscale, yscale):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_xscale(xscale)
        ax.set_yscale(yscale)
        if not (xlim and xlim[0] == xlim[1]):  # train_ch6 over one epoch asks for [1, 1]: matplotlib would warn
            ax.set_xlim(xlim)
        ax.set_ylim(ylim)
        if self.legend:
            ax.legend(self.legend)
        ax.grid()

    def add(self, x, y):
        """Append one point to each line: y a number or one per line (None: no point for that line); x one
        number for all lines or one per line."""
        if not hasattr(y, "__len__"):
            y = [y]
        n = len(y)
        if not hasattr(x, "__len__"):
            x = [x] * n
        if not self.X:
            self.X = [[] for _ in range(n)]
        if not self.Y:
            self.Y = [[] for _ in range(n)]
        for i, (a, b) in enumerate(zip(x, y)):
            if a is not None and b is not None:
                self.X[i].append(a)
                self.Y[i].append(b)
        ax = self.axes[0]
        ax.cla()
        for xs, ys, fmt in zip(self.X, self.Y, self.fmts):
            ax.plot(xs, ys, fmt)
        self.config_axes()
        self.draw()

    def draw(self):
        if self.notebook:
            if self.live is None:
                self.live = LiveFigure(self.fig)
            else:
                self.live.update()
        if self.path is not None:
            self.fig.savefig(self.path, dpi=100)
            if not self.told and not self.notebook:
                print(f"curves written to {self.path} (updated as training goes)")
                self.told = True


# ---------------------------------------------------------------- training (d2l 6.6)
def train_ch6(net, train_iter, test_iter, num_epochs: int, lr: float, device, path="train_ch6.png"):
    """d2l's train_ch6: Xavier-uniform init of every Linear and Conv2d, plain SGD at `lr`, cross-entropy; the
    curves (train loss, train acc, test acc) live, then d2l's two closing lines. In a terminal one line per epoch
    as well, and the curves in `path`. Returns nothing, as d2l's does."""
    xavier_init(net)
    print("training on", device)
    note = openmp_note(torch.get_num_threads()) if torch.device(device).type == "cpu" else None
    if note:
        print(note)
    net.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    animator = Animator(xlabel="epoch", xlim=[1, num_epochs], legend=["train loss", "train acc", "test acc"],
                        path=None if in_notebook() else path)
    progress = Progress(f"epoch 1/{num_epochs}") if animator.notebook else None
    timer, num_batches, seen = Timer(), len(train_iter), 0
    for epoch in range(num_epochs):
        metric = Accumulator(3)  # sum of training loss, correct predictions, examples
        net.train()
        for i, (X, y) in enumerate(train_iter):
            timer.start()
            optimizer.zero_grad()
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            l = loss(y_hat, y)
            l.backward()
            optimizer.step()
            with torch.no_grad():
                metric.add(l * X.shape[0], accuracy(y_hat, y), X.shape[0])
            timer.stop()
            train_l, train_acc = metric[0] / metric[2], metric[1] / metric[2]
            if (i + 1) % max(1, num_batches // 5) == 0 or i == num_batches - 1:
                animator.add(epoch + (i + 1) / num_batches, (train_l, train_acc, None))
            if progress:
                seen += X.shape[0]
                progress.update(f"epoch {epoch + 1}/{num_epochs} {bar(i + 1, num_batches)} loss {train_l:.3f}, "
                                f"train acc {train_acc:.3f}, {seen / timer.sum():,.0f} examples/sec")
        test_acc = evaluate_accuracy_gpu(net, test_iter)
        animator.add(epoch + 1, (None, None, test_acc))
        if progress:
            progress.update(f"epoch {epoch + 1}/{num_epochs} done: loss {train_l:.3f}, train acc {train_acc:.3f}, "
                            f"test acc {test_acc:.3f}", force=True)
        else:
            print(f"epoch {epoch + 1}/{num_epochs}: loss {train_l:.3f}, train acc {train_acc:.3f}, "
                  f"test acc {test_acc:.3f}", flush=True)
    print(f"loss {train_l:.3f}, train acc {train_acc:.3f}, test acc {test_acc:.3f}")
    print(f"{metric[2] * num_epochs / timer.sum():.1f} examples/sec on {str(device)}")
