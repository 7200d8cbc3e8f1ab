"""Benchmark: one shuffled epoch of Fashion-MNIST training batches (64, normalised) from cnnlab's Batches versus a
torch DataLoader over a per-sample Dataset doing what torchvision's MNIST does per item. Prints figures; not a test.

    .venv/bin/python benchmarks/bench_data.py [--reps 5] [--threads N]
"""
import argparse
import os
import platform
import statistics
import time

from cnnlab.data import Batches, load_dataset  # first: cnnlab sets OpenMP's wait policy before torch loads

# isort: split
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from reference import PerSampleMNIST  # noqa: E402

BATCH = 64


def images_per_second(batches) -> float:
    """Time one full pass over `batches`; touching each batch's shape is all the 'training' we do."""
    start, n = time.perf_counter(), 0
    for x, _ in batches:
        n += x.shape[0]
    return n / (time.perf_counter() - start)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="epochs timed per loader, alternating (median reported)")
    parser.add_argument("--data-dir", help="directory with the Fashion-MNIST IDX files (default: the usual places)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    # Figures depend on machine load and OpenMP's waiting (see cnnlab/__init__.py): on a shared, oversubscribed CPU,
    # threads spinning at barriers made Batches' small per-batch ops ~90x slower (2 cores, load 6-9: 5,900 img/s
    # with 2 spinning threads, 310,000 passive, 540,000 with one thread); idle, passive waiting cost ~4x.
    print(f"{cpu_name()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"{torch.get_num_threads()} torch threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, "
          f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', 'unset')}, "
          f"torch {torch.__version__}, batch {BATCH}")
    start = time.perf_counter()
    data = load_dataset("fashion-mnist", data_dir=args.data_dir, download=False)
    load_s = time.perf_counter() - start
    print(f"load Fashion-MNIST ({len(data.train):,} + {len(data.test):,} images from {data.source}): {load_s:.2f} s")

    ours = Batches(data.train, BATCH, shuffle=True, mean=data.mean, std=data.std)
    per_sample = PerSampleMNIST(data.train, data.mean, data.std)
    theirs = DataLoader(per_sample, batch_size=BATCH, shuffle=True)

    print(f"{'epoch':>5} {'Batches img/s':>15} {'DataLoader img/s':>17}")
    results = {"Batches": [], "DataLoader": []}
    for rep in range(args.reps):  # alternate, so drifting machine load hits both alike
        ours.set_epoch(rep)
        results["Batches"].append(images_per_second(ours))
        results["DataLoader"].append(images_per_second(theirs))
        print(f"{rep:>5} {results['Batches'][-1]:>15,.0f} {results['DataLoader'][-1]:>17,.0f}")
    ours_median, theirs_median = statistics.median(results["Batches"]), statistics.median(results["DataLoader"])
    print(f"median: cnnlab Batches {ours_median:,.0f} img/s, per-sample DataLoader {theirs_median:,.0f} img/s, "
          f"ratio {ours_median / theirs_median:.1f}x (target >= 20x)")


if __name__ == "__main__":
    main()
