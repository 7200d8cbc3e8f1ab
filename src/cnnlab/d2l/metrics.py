"""d2l's devices, counters and evaluation: try_gpu, Accumulator, Timer, accuracy and the evaluate_* functions."""
import time

import numpy as np
import torch
from torch import nn


def try_gpu(i: int = 0) -> torch.device:
    """GPU i if there is one, else the CPU."""
    return torch.device(f"cuda:{i}") if torch.cuda.device_count() >= i + 1 else torch.device("cpu")


def try_all_gpus() -> list[torch.device]:
    """Every GPU, or [cpu] if there is none."""
    return [torch.device(f"cuda:{i}") for i in range(torch.cuda.device_count())] or [torch.device("cpu")]


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


def correct(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The number of correct predictions as a tensor on y's device (no host sync): y_hat holds class scores per
    row, or the predicted classes themselves."""
    if y_hat.dim() > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    return (y_hat.type(y.dtype) == y).type(y.dtype).sum()


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """The number of correct predictions (not the fraction: d2l divides later)."""
    return float(correct(y_hat, y))


def evaluate_accuracy(net, data_iter) -> float:
    """Accuracy of `net` over `data_iter` (d2l 3.6), in eval mode and without gradients, where the data is."""
    if isinstance(net, nn.Module):
        net.eval()
    hits, count = 0, 0
    with torch.no_grad():
        for X, y in data_iter:
            hits += correct(net(X), y)
            count += y.numel()
    return float(hits) / count


def evaluate_accuracy_gpu(net, data_iter, device=None) -> float:
    """Accuracy of `net` over `data_iter`, computed on `device` (default: where the parameters are). The counts
    stay on the device until the end: one host sync per call, not one per batch."""
    if isinstance(net, nn.Module):
        net.eval()
        if not device:
            device = next(iter(net.parameters())).device
    hits, count = 0, 0
    with torch.no_grad():
        for X, y in data_iter:
            X = [x.to(device) for x in X] if isinstance(X, list) else X.to(device)
            y = y.to(device)
            hits += correct(net(X), y)
            count += y.numel()
    return float(hits) / count


def evaluate_loss(net, data_iter, loss) -> float:
    """The mean of `loss` over `data_iter` (d2l 4.4): `loss` must give one value per example (reduction='none');
    labels are reshaped to the output's shape, as the book's regression examples need."""
    total, count = 0.0, 0
    with torch.no_grad():  # an evaluation: no graph to build (the book builds and drops one)
        for X, y in data_iter:
            out = net(X)
            l = loss(out, y.reshape(out.shape))
            total += float(l.sum())
            count += l.numel()
    return total / count
