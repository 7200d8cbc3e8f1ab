"""Benchmark: cnnlab.d2l against d2l 2.0's own pipeline on Fashion-MNIST, in one process, alternating. Prints
figures; not a test.

  (b) one pass over load_data_fashion_mnist(256)'s training set, nothing else done with the batches;
  (c) d2l.train_ch6 on seed 003's LeNet (lr 0.9, batch 256), --epochs epochs, wall time of the call;
  (a) seed 003's LeNet section run unchanged but for the import (its own train_ch6 loop, 10 epochs): test acc.

d2l's pipeline, written out (torchvision is not a dependency of cnnlab): a per-sample data set doing what
torchvision's FashionMNIST with Compose([Resize(r)?, ToTensor()]) does per item (uint8 -> PIL image -> optional
PIL bilinear resize -> float tensor in [0, 1]), DataLoader(shuffle=True for training, num_workers=4) as
d2l.get_dataloader_workers() says; and seed 003's train_ch6 exactly as printed, with d2l's own Timer, Accumulator,
accuracy and evaluate_accuracy_gpu (under torch.no_grad, as d2l 2.0 has it; the seed's copy lacks it) and an
Animator that draws its lines into a figure but renders nothing, as d2l's does outside Jupyter. cnnlab's
train_ch6 pays for writing its PNG at every point.

    .venv/bin/python benchmarks/bench_d2l.py [--epochs 3] [--reps 3] [--skip-accuracy]
"""
import argparse
import ast
import contextlib
import io
import os
import re
import resource
import statistics
import time
import types
from pathlib import Path

from cnnlab import d2l  # first: cnnlab sets OpenMP's wait policy before torch loads

# isort: split
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from cnnlab.data import load_dataset  # noqa: E402
from cnnlab.plots import subplots  # noqa: E402
from cnnlab.precision import cpu_model  # noqa: E402
from reference import PerSampleMNIST  # noqa: E402

SEED003 = Path(__file__).resolve().parents[1] / "tests" / "seeds" / "seed003.py"
D2L_WORKERS = 4  # d2l.get_dataloader_workers()


def seed_cells(tag: str) -> list[str]:
    """Seed 003's cells whose '# %%' marker names `tag` (see tests/seeds/seed003.py)."""
    chunks = SEED003.read_text(encoding="utf-8").split("# %%")[1:]
    return [chunk.partition("\n")[2] for chunk in chunks if tag in chunk.partition("\n")[0]]


def run_cell(code: str, namespace: dict) -> None:
    exec(compile(ast.parse(code), str(SEED003), "exec"), namespace)


# ---------------------------------------------------------------- d2l 2.0's own pipeline
def reference_load_data_fashion_mnist(data, batch_size: int, resize=None):
    """d2l.load_data_fashion_mnist as the book builds it, over the same images."""
    train, test = PerSampleMNIST(data.train, None, None, resize), PerSampleMNIST(data.test, None, None, resize)
    return (DataLoader(train, batch_size, shuffle=True, num_workers=D2L_WORKERS),
            DataLoader(test, batch_size, shuffle=False, num_workers=D2L_WORKERS))


class QuietAnimator:
    """d2l's Animator outside Jupyter: clears and redraws its lines at every add(); nothing is rendered."""

    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None, xscale="linear",
                 yscale="linear", fmts=("-", "m--", "g-.", "r:"), nrows=1, ncols=1, figsize=(3.5, 2.5)):
        self.fig, axes = subplots(nrows, ncols, figsize=figsize, squeeze=False)
        self.ax, self.legend, self.fmts, self.X, self.Y = axes[0, 0], legend, fmts, None, None
        self.limits = xlabel, ylabel, xlim, ylim, xscale, yscale

    def add(self, x, y):
        y = y if hasattr(y, "__len__") else [y]
        x = x if hasattr(x, "__len__") else [x] * len(y)
        self.X = self.X or [[] for _ in y]
        self.Y = self.Y or [[] for _ in y]
        for i, (a, b) in enumerate(zip(x, y)):
            if a is not None and b is not None:
                self.X[i].append(a)
                self.Y[i].append(b)
        self.ax.cla()
        for xs, ys, fmt in zip(self.X, self.Y, self.fmts):
            self.ax.plot(xs, ys, fmt)
        xlabel, ylabel, xlim, ylim, xscale, yscale = self.limits
        self.ax.set(xlabel=xlabel, ylabel=ylabel, xlim=xlim, ylim=ylim, xscale=xscale, yscale=yscale)
        if self.legend:
            self.ax.legend(self.legend)
        self.ax.grid()


def reference_evaluate_accuracy_gpu(net, data_iter, device=None):
    """d2l 2.0's evaluate_accuracy_gpu: an Accumulator fed one Python float per batch (cnnlab's keeps the counts
    on the device)."""
    if isinstance(net, nn.Module):
        net.eval()
        if not device:
            device = next(iter(net.parameters())).device
    metric = d2l.Accumulator(2)
    with torch.no_grad():
        for X, y in data_iter:
            X, y = X.to(device), y.to(device)
            metric.add(d2l.accuracy(net(X), y), d2l.size(y))
    return metric[0] / metric[1]


def reference_train_ch6():
    """Seed 003's train_ch6, exactly as printed, over d2l's helpers."""
    book = types.SimpleNamespace(Animator=QuietAnimator, Timer=d2l.Timer, Accumulator=d2l.Accumulator,
                                 accuracy=d2l.accuracy)
    namespace = {"torch": torch, "nn": nn, "d2l": book, "evaluate_accuracy_gpu": reference_evaluate_accuracy_gpu}
    (cell,) = [c for c in seed_cells("lenet") if "def train_ch6" in c]
    run_cell(cell, namespace)
    return namespace["train_ch6"]


def seed_lenet() -> nn.Module:
    """Seed 003's LeNet (with its Reshape layer), freshly built."""
    namespace = {}
    run_cell(seed_cells("lenet")[0].replace("from d2l import torch as d2l", ""), namespace)
    return namespace["net"]


# ---------------------------------------------------------------- measurements
def one_pass(loader) -> float:
    start, n = time.perf_counter(), 0
    for _, y in loader:
        n += len(y)
    return time.perf_counter() - start


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the DataLoader workers, joined every epoch)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def timed_train(train_ch6, loaders, epochs: int) -> tuple[float, float, str]:
    """Wall and CPU seconds of one train_ch6 call on a fresh seed-003 LeNet, and its 'loss ...' line."""
    torch.manual_seed(0)
    net, out = seed_lenet(), io.StringIO()
    start, cpu = time.perf_counter(), cpu_seconds()
    with contextlib.redirect_stdout(out):
        train_ch6(net, *loaders, epochs, 0.9, torch.device("cpu"))
    return time.perf_counter() - start, cpu_seconds() - cpu, out.getvalue().strip().splitlines()[-2]


def loader_pass(args, ours_loaders, theirs_loaders):
    passes = {"cnnlab": [], "d2l": []}
    for _ in range(args.passes):
        passes["cnnlab"].append(one_pass(ours_loaders[0]))
        passes["d2l"].append(one_pass(theirs_loaders[0]))
    ours, theirs = statistics.median(passes["cnnlab"]), statistics.median(passes["d2l"])
    print(f"(b) one pass over load_data_fashion_mnist(256)'s 60,000 training images, median of {args.passes}: "
          f"cnnlab {ours:.3f} s ({60_000 / ours:,.0f} img/s), d2l {theirs:.2f} s ({60_000 / theirs:,.0f} img/s): "
          f"{theirs / ours:.0f}x faster (target >= 10x)", flush=True)


def train_pairs(args, ours_loaders, theirs_loaders):
    ways = {"cnnlab": (d2l.train_ch6, ours_loaders), "d2l": (reference_train_ch6(), theirs_loaders)}
    walls, cpus = {name: [] for name in ways}, {name: [] for name in ways}
    for rep in range(args.reps):
        for name, (train_ch6, loaders) in ways.items():
            seconds, cpu, line = timed_train(train_ch6, loaders, args.epochs)
            walls[name].append(seconds)
            cpus[name].append(cpu)
            print(f"    rep {rep} {name:>6}: {seconds:6.1f} s wall, {cpu:6.1f} s CPU, {line} "
                  f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    # each pair ran back to back: its ratio is the least disturbed by the machine's load drifting between pairs
    ratios = [d / c for c, d in zip(walls["cnnlab"], walls["d2l"])]
    ours, theirs = statistics.median(walls["cnnlab"]), statistics.median(walls["d2l"])
    print(f"(c) train_ch6 on seed 003's LeNet, {args.epochs} epochs, {args.reps} pairs: cnnlab median {ours:.1f} s, "
          f"d2l {theirs:.1f} s wall; per pair {', '.join(f'{r:.2f}x' for r in ratios)}, median "
          f"{statistics.median(ratios):.2f}x faster (target >= 2x); CPU time "
          f"{statistics.median(cpus['d2l']) / statistics.median(cpus['cnnlab']):.2f}x less", flush=True)


def seed_accuracy(args):
    namespace, out = {"__name__": "__main__"}, io.StringIO()
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    with contextlib.redirect_stdout(out):
        for code in seed_cells("lenet"):
            run_cell(code.replace("from d2l import torch as d2l", "from cnnlab import d2l"), namespace)
    last = out.getvalue().strip().splitlines()[-2:]
    test_acc = float(re.search(r"test acc ([0-9.]+)", last[0]).group(1))
    print(f"(a) seed 003's LeNet section, unchanged but for the import, torch.manual_seed({args.seed}), 10 epochs in "
              f"{time.perf_counter() - start:.0f} s: {' / '.join(last)}; test acc {test_acc:.3f} "
              f"({'in' if test_acc >= 0.78 else 'below'} the d2l band, >= 0.78)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each timed train_ch6 call")
    parser.add_argument("--reps", type=int, default=3, help="timed train_ch6 calls of each, alternating (0: skip (c))")
    parser.add_argument("--passes", type=int, default=3, help="timed loader passes of each, alternating (0: skip (b))")
    parser.add_argument("--skip-accuracy", action="store_true", help="skip (a), seed 003's 10 epochs")
    parser.add_argument("--seed", type=int, default=0, help="torch.manual_seed before (a)")
    parser.add_argument("--out", default="runs/bench_d2l", help="directory for the PNGs cnnlab's train_ch6 writes")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    os.chdir(args.out)
    print(f"{cpu_model()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"{torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, "
          f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', 'unset')}; reference: DataLoader with "
          f"{D2L_WORKERS} workers over PIL images", flush=True)
    data = load_dataset("fashion-mnist", download=False)

    ours_loaders, theirs_loaders = d2l.load_data_fashion_mnist(256), reference_load_data_fashion_mnist(data, 256)
    if args.passes:
        loader_pass(args, ours_loaders, theirs_loaders)
    if args.reps:
        train_pairs(args, ours_loaders, theirs_loaders)
    if not args.skip_accuracy:
        seed_accuracy(args)


if __name__ == "__main__":
    main()
