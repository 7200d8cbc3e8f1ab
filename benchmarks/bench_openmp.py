"""Benchmark: d2l's import order (`import torch` first, then `from cnnlab import d2l`) against cnnlab first, and
against torch alone (libgomp's long spin-wait, what the book's order gave before cnnlab/openmp.py). Each run is
a fresh process (the order only matters at start-up) training seed 003's sigmoid LeNet for --steps SGD steps on
batches of 256 random 28x28 images; runs alternate, mode after mode, --reps times. Then the same with --hogs
busy-looping processes started beside it (a shared machine). Prints images/s per run, medians and ratios, the
CPU model and the load average; not a test.

    .venv/bin/python benchmarks/bench_openmp.py [--steps 30] [--reps 3] [--hogs 2]
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

MODES = {
    # name: the imports the run starts with
    "torch first, fixed": "import torch\nimport cnnlab\nfrom cnnlab.openmp import spin_shortened\n"
                          "assert spin_shortened(), 'short spin not in force'",
    "torch first, long spin": "import torch",  # torch alone: nothing shortens the spin
    "cnnlab first": "import cnnlab\nimport torch",
}
WORKLOAD = """
import resource, time
from torch import nn
torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
                    nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
                    nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))
optimizer, loss = torch.optim.SGD(net.parameters(), lr=0.9), nn.CrossEntropyLoss()
X, y = torch.rand(256, 1, 28, 28), torch.randint(0, 10, (256,))
def step():
    optimizer.zero_grad()
    l = loss(net(X), y)
    l.backward()
    optimizer.step()
    return float(l)  # d2l's loop reads the loss back every step
for _ in range(3):
    step()
usage = lambda: sum(getattr(resource.getrusage(resource.RUSAGE_SELF), f) for f in ("ru_utime", "ru_stime"))
cpu, start = usage(), time.perf_counter()
for _ in range(STEPS):
    step()
wall = time.perf_counter() - start
print(f"{STEPS * 256 / wall:.1f} {usage() - cpu:.2f} {torch.get_num_threads()}")
"""


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def one_run(mode: str, steps: int) -> tuple[float, float, int]:
    """images/s, CPU seconds and torch threads of one fresh process."""
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    code = MODES[mode] + "\n" + WORKLOAD.replace("STEPS", str(steps))
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True).stdout
    rate, cpu, threads = out.split()
    return float(rate), float(cpu), int(threads)


def measure(label: str, args) -> dict:
    rates = {mode: [] for mode in MODES}
    for rep in range(args.reps):
        for mode in MODES:
            rate, cpu, threads = one_run(mode, args.steps)
            rates[mode].append(rate)
            print(f"  {label:>6} rep {rep} {mode:>22}: {rate:7.0f} img/s, {cpu:5.2f} s CPU, {threads} threads "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    medians = {mode: statistics.median(r) for mode, r in rates.items()}
    fixed = rates["torch first, fixed"]
    def pairs(other):
        return ", ".join(f"{a / b:.2f}x" for a, b in zip(fixed, rates[other]))

    print(f"{label}: median img/s " + ", ".join(f"{mode} {m:,.0f}" for mode, m in medians.items()))
    print(f"{label}: torch first, fixed vs long spin: per pair {pairs('torch first, long spin')}; "
          f"vs cnnlab first: per pair {pairs('cnnlab first')}", flush=True)
    return medians


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed SGD steps of each run")
    parser.add_argument("--reps", type=int, default=3, help="runs of each mode per condition, alternating")
    parser.add_argument("--hogs", type=int, default=2, help="busy-looping processes beside the loaded runs (0: skip)")
    args = parser.parse_args()
    print(f"{cpu_model()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
          f"{args.steps} steps of 256 images per run", flush=True)
    measure("as is", args)
    if args.hogs:
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
        try:
            time.sleep(1)
            measure(f"+{args.hogs} hogs", args)
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()


if __name__ == "__main__":
    main()
