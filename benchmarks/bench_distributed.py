"""Arrangements of the CPU cores on this machine: training throughput of 1 process x 2 threads, 2 processes x 1
thread (torchrun, DDP over gloo), 1 process x 1 thread and others, for the small nets and ResNet-18; and test
accuracy after one epoch of 1x2 and 2x1 on Fashion-MNIST (docs/distributed.md).

    .venv/bin/python benchmarks/bench_distributed.py [--repeats 3] [--skip-accuracy]
    .venv/bin/python benchmarks/bench_distributed.py --models lenet speedrun-net --setups 1x2 2x1 1x1 --skip-accuracy

Every figure is a real `cnnlab train` run with the model's recipe. Throughput is the trainer's own images/s of the
last epoch (the first one pays oneDNN's warm-up); the set-ups alternate and the median of the repeats is
reported, because the machine may be shared (the load average is printed with each model)."""
import argparse
import json
import os
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
    "basic-cnn": ["basic-cnn", "--recipe", "liuer", "--train-limit", "12800", "--epochs", "2"],
    "lenet": ["lenet", "--recipe", "d2l-lenet", "--train-limit", "25600", "--epochs", "2"],
    "speedrun-net": ["speedrun-net", "--recipe", "speedrun", "--train-limit", "12800", "--epochs", "2"],
    # resnet18 at d2l's 96x96 is slow on CPU: a 1,024-image subset
    "resnet18": ["resnet18", "--resize", "96", "--train-limit", "1024", "--epochs", "2"],
}
ACCURACY = ["basic-cnn", "--epochs", "1"]  # the full 60,000-image epoch, default settings


def train(processes: int, threads: int, args: list[str], out: Path) -> list[dict]:
    """One `cnnlab train` run; returns its metrics rows."""
    launcher = [str(TORCHRUN), "--standalone", f"--nproc-per-node={processes}"] if processes > 1 else [sys.executable]
    threads = [] if threads is None else ["--threads", str(threads)]  # None: cnnlab's own choice (cnnlab.launch)
    command = [*launcher, "-m", "cnnlab", "train", *args, "--dataset", "fashion-mnist", *threads, "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"failed: {' '.join(command)}\n{done.stderr[-3000:]}")
    return read_metrics(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per set-up and model (median reported)")
    parser.add_argument("--skip-accuracy", action="store_true", help="skip the two full Fashion-MNIST epochs")
    parser.add_argument("--models", nargs="+", choices=list(THROUGHPUT), default=list(THROUGHPUT))
    parser.add_argument("--setups", nargs="+", default=["1x2", "2x1", "1x1", "auto"], metavar="PxT",
                        help="processes x threads per process, or auto (one process, cnnlab's default threads: "
                        "one per idle core); the first is the baseline of the ratios")
    args = parser.parse_args()
    setups = [(1, None) if s == "auto" else tuple(int(n) for n in s.split("x")) for s in args.setups]
    root = Path(tempfile.mkdtemp(prefix="bench-distributed-"))
    print(f"training images/s, median of {args.repeats} (last epoch; test-time excluded); ratios to "
          f"{args.setups[0]}; {os.cpu_count()} cores")
    print(f"{'model':<13} " + " ".join(f"{s:>14}" for s in args.setups) + "   load   all runs")
    for name in args.models:
        rates, chosen = {setup: [] for setup in setups}, []
        for i in range(args.repeats):
            for processes, threads in setups:  # alternate, so a busy moment hits every set-up alike
                rows = train(processes, threads, [*THROUGHPUT[name], "--test-limit", "256"],
                             root / f"{name}-{processes}x{threads}-{i}")
                rates[processes, threads].append(rows[-1]["images_per_s"])
                if threads is None:  # which thread count cnnlab chose
                    chosen.append(json.loads((root / f"{name}-1xNone-{i}" / "config.json").read_text())["threads"])
        medians = [statistics.median(rates[s]) for s in setups]
        cells = " ".join(f"{f'{m:,.0f}' + (f' {m / medians[0]:.2f}x' if k else ''):>14}" for k, m in enumerate(medians))
        runs = "; ".join(f"{label}: " + ", ".join(f"{r:,.0f}" for r in rates[s])
                         for label, s in zip(args.setups, setups))
        auto = f" (auto chose {', '.join(map(str, chosen))} threads)" if chosen else ""
        print(f"{name:<13} {cells}   {os.getloadavg()[0]:4.1f}   {runs}{auto}", flush=True)

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
