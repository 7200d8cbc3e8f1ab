"""Time the from-scratch convolutions against F.conv2d: forward + backward on a LeNet-sized batch (x 256x6x14x14,
16 filters of 5x5, LeNet's second convolution). Rungs alternate within each repetition so machine noise hits
them alike; medians and ratios to F.conv2d are printed. On a busy machine compare --threads 1 runs.
Usage: .venv/bin/python benchmarks/bench_ops.py [--reps 30] [--threads 1]"""
import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from cnnlab import ops


def step(conv, x, w, b):
    """One forward + backward; returns seconds."""
    start = time.perf_counter()
    conv(x, w, b).sum().backward()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30, help="timed repetitions per rung (default: 30)")
    parser.add_argument("--batch", type=int, default=256, help="batch size (default: 256)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 6, 14, 14, generator=g).requires_grad_()
    w = torch.randn(16, 6, 5, 5, generator=g).requires_grad_()
    b = torch.randn(16, generator=g).requires_grad_()
    rungs = {"F.conv2d": F.conv2d, "ops.conv2d": ops.conv2d, "ops.conv2d_im2col": ops.conv2d_im2col}
    for conv in rungs.values():  # warm-up, and a last check that every rung computes the same thing
        torch.testing.assert_close(conv(x, w, b), F.conv2d(x, w, b), rtol=1e-4, atol=1e-4)
        step(conv, x, w, b)
    times = {name: [] for name in rungs}
    for _ in range(args.reps):
        for name, conv in rungs.items():
            x.grad = w.grad = b.grad = None
            times[name].append(step(conv, x, w, b))
    print(f"torch {torch.__version__}, {args.threads} threads, {platform.processor() or platform.machine()}; "
          f"x {tuple(x.shape)}, weight {tuple(w.shape)}; forward + backward, median of {args.reps}")
    reference = statistics.median(times["F.conv2d"])
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<18} {median * 1e3:8.2f} ms   x{median / reference:5.2f} of F.conv2d")


if __name__ == "__main__":
    main()
