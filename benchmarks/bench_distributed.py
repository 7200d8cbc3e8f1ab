"""Distributed data-parallel on this machine: training throughput of 2 processes x 1 thread (torchrun, gloo)
against 1 process x 2 threads, and test accuracy after one epoch of each on Fashion-MNIST (docs/distributed.md).

    .venv/bin/python benchmarks/bench_distributed.py [--repeats 3] [--skip-accuracy]

Every figure is a real `cnnlab train` run. Throughput is the trainer's own images/s of the last epoch (the first
one pays oneDNN's warm-up); the two set-ups alternate and the median of the repeats is reported, because the
machine may be shared."""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cnnlab.rundir import read_metrics

TORCHRUN = Path(sys.executable).with_name("torchrun")
SETUPS = ((1, 2), (2, 1))  # (processes, threads per process): both use the machine's 2 cores
THROUGHPUT = {
    "basic-cnn": ["basic-cnn", "--train-limit", "12800", "--epochs", "2"],
    # resnet18 at d2l's 96x96 is slow on CPU: a 1,024-image subset
    "resnet18": ["resnet18", "--resize", "96", "--train-limit", "1024", "--epochs", "2"],
}
ACCURACY = ["basic-cnn", "--epochs", "1"]  # the full 60,000-image epoch, default settings


def train(processes: int, threads: int, args: list[str], out: Path) -> list[dict]:
    """One `cnnlab train` run; returns its metrics rows."""
    launcher = [str(TORCHRUN), "--standalone", f"--nproc-per-node={processes}"] if processes > 1 else [sys.executable]
    command = [*launcher, "-m", "cnnlab", "train", *args, "--dataset", "fashion-mnist", "--threads", str(threads),
               "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"failed: {' '.join(command)}\n{done.stderr[-3000:]}")
    return read_metrics(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per set-up and model (median reported)")
    parser.add_argument("--skip-accuracy", action="store_true", help="skip the two full Fashion-MNIST epochs")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-distributed-"))
    print(f"training images/s, median of {args.repeats} (last epoch; test-time excluded)")
    print(f"{'model':<10} {'1 proc x 2 threads':>20} {'2 procs x 1 thread':>20} {'ratio':>6}   all runs")
    for name, model_args in THROUGHPUT.items():
        rates = {setup: [] for setup in SETUPS}
        for i in range(args.repeats):
            for processes, threads in SETUPS:  # alternate, so a busy moment hits both set-ups alike
                rows = train(processes, threads, [*model_args, "--test-limit", "256"],
                             root / f"{name}-{processes}x{threads}-{i}")
                rates[processes, threads].append(rows[-1]["images_per_s"])
        one, two = (statistics.median(rates[s]) for s in SETUPS)
        runs = "; ".join(f"{p}x{t}: " + ", ".join(f"{r:,.0f}" for r in rates[p, t]) for p, t in SETUPS)
        print(f"{name:<10} {one:>20,.0f} {two:>20,.0f} {two / one:>6.2f}   {runs}", flush=True)

    if args.skip_accuracy:
        return
    print("\none epoch of basic-cnn on Fashion-MNIST (batch 64, seed 0, default settings)")
    print(f"{'set-up':<20} {'test_acc':>8} {'test_loss':>9} {'train_acc':>9} {'train s':>8} {'wall s':>7}")
    for processes, threads in SETUPS:
        start = time.perf_counter()
        (row,) = train(processes, threads, ACCURACY, root / f"accuracy-{processes}x{threads}")
        wall = time.perf_counter() - start
        print(f"{f'{processes} proc x {threads} thr':<20} {row['test_acc']:>8.4f} {row['test_loss']:>9.4f} "
              f"{row['train_acc']:>9.4f} {row['seconds']:>8.1f} {wall:>7.1f}", flush=True)
    print(f"\n(run directories in {root})")


if __name__ == "__main__":
    main()
