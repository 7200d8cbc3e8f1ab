"""Is `--precision auto` as fast as the best fixed precision on this CPU? For each model, one epoch of
`cnnlab train` on Fashion-MNIST in fp32, bf16 and auto, alternating round by round, each its own process; prints
the training images/s of each (median over rounds), auto's ratio to the best fixed one, and what auto chose.
auto's choice is measured once, before the timed rounds, into a cache of this benchmark's own (its cost is
printed apart: a machine pays it once per model), so the rounds time the steady state a user gets.

    python benchmarks/bench_auto_precision.py
    python benchmarks/bench_auto_precision.py --models basic-cnn speedrun-net --train-limit 10000 --rounds 3
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from cnnlab.precision import cpu_features, cpu_model  # noqa: E402

PRECISIONS = ("fp32", "bf16", "auto")


def train(model, precision, out, args, env):
    command = [sys.executable, "-m", "cnnlab", "train", model, "--precision", precision, "--epochs", "1",
               "--train-limit", str(args.train_limit), "--test-limit", "1000", "--out", str(out), "--overwrite"]
    if args.threads:
        command += ["--threads", str(args.threads)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"bench_auto_precision.py: {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    with open(out / "metrics.csv") as f:
        row = list(csv.DictReader(f))[-1]
    info = json.loads((out / "config.json").read_text())
    return float(row["images_per_s"]), seconds, info["precision"], info.get("precision_note", "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["basic-cnn", "lenet", "speedrun-net", "speedrun94-net"])
    parser.add_argument("--train-limit", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, help="pin the thread count (default: the run's own choice)")
    args = parser.parse_args()
    print(f"CPU: {cpu_model()} (bf16-related instructions: {cpu_features()}), {os.cpu_count()} cores; "
          f"load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    root = Path(tempfile.mkdtemp(prefix="bench-auto-precision-"))
    env = {**os.environ, "XDG_CACHE_HOME": str(root / "cache")}  # auto's choice measured afresh, kept apart
    print(f"{'model':<16} {'fp32 img/s':>10} {'bf16 img/s':>10} {'auto img/s':>10} {'auto/best':>9}  auto chose "
          f"(first run's extra seconds)")
    worst = 1.0
    for model in args.models:
        _, first_seconds, _, note = train(model, "auto", root / f"{model}-first", args, env)
        _, again_seconds, _, _ = train(model, "auto", root / f"{model}-again", args, env)
        speeds = {p: [] for p in PRECISIONS}
        chosen = None
        for r in range(args.rounds):
            order = PRECISIONS if r % 2 == 0 else PRECISIONS[::-1]
            for p in order:
                images_per_s, _, dtype, _ = train(model, p, root / f"{model}-{p}-{r}", args, env)
                speeds[p].append(images_per_s)
                if p == "auto":
                    chosen = dtype
        median = {p: statistics.median(v) for p, v in speeds.items()}
        best = max(median["fp32"], median["bf16"])
        ratio = median["auto"] / best
        worst = min(worst, ratio)
        print(f"{model:<16} {median['fp32']:>10,.0f} {median['bf16']:>10,.0f} {median['auto']:>10,.0f} "
              f"{ratio:>9.3f}  {chosen} (+{first_seconds - again_seconds:.1f} s)", flush=True)
        print(f"{'':<16} {note}")
        print(f"{'':<16} rounds: " + "; ".join(f"{p} {', '.join(f'{v:,.0f}' for v in speeds[p])}" for p in PRECISIONS))
    print(f"auto is within {100 * (1 - worst):.1f}% of the best fixed precision on every model "
          f"(load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())})")


if __name__ == "__main__":
    main()
