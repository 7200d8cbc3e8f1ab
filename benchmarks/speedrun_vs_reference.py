"""The speed-run targets, measured: in one invocation, Liu Er's lecture-10 script run as printed
(benchmarks/reference.py: its own loop over a per-sample DataLoader, float32, 10 epochs) and cnnlab's speed-run
recipes, for each seed in turn (reference, then each recipe), so that a slow minute of a shared machine hits
them alike. Every run is a
fresh process timed from start to exit (start-up, data loading, training, every evaluation, checkpoints, plot).

    python benchmarks/speedrun_vs_reference.py                       # seeds 0 1 2, the speedrun recipe(s)
    python benchmarks/speedrun_vs_reference.py --recipes speedrun speedrun@augment=crop-flip,epochs=12

Prints every run, then per recipe: test accuracy (mean, min) and wall time as a ratio to the reference's,
both median to median and round by round (each recipe run against the reference run of its own round), and
the targets: speedrun >= 0.930 every seed in <= 0.5x; speedrun94 (a recipe of that name, where one exists)
>= 0.940 mean, >= 0.938 every seed, <= 0.5x. Exit status 1 when a target is missed."""
import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
from cnnlab.config import RECIPES  # noqa: E402
from cnnlab.precision import cpu_features, cpu_model  # noqa: E402

TARGETS = {"speedrun": dict(mean=0.930, each=0.930, ratio=0.5), "speedrun94": dict(mean=0.940, each=0.938, ratio=0.5)}


def timed(command, env):
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"speedrun_vs_reference.py: failed: {' '.join(command)}\n{done.stderr[-2000:]}")
    return wall, done.stdout


def reference(seed, env, args):
    command = [sys.executable, str(HERE / "reference.py"), "--seed", str(seed)]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    wall, out = timed(command, env)
    return wall, float(re.search(r"test accuracy ([0-9.]+)", out).group(1)), None


def recipe(spec, seed, out, env, args):
    """spec: a recipe name, or NAME@option=value,option=value to try a variation of it (e.g. speedrun@epochs=6)."""
    name, _, changes = spec.partition("@")
    extra = [f"--{item.partition('=')[0].replace('_', '-')}={item.partition('=')[2]}"
             for item in changes.split(",") if item]
    command = [sys.executable, "-m", "cnnlab", "train", "--recipe", name, "--seed", str(seed), "--out", str(out),
               *extra, *args.train_args]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    wall, _ = timed(command, env)
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    return wall, float(rows[-1]["test_acc"]), sum(float(r["seconds"]) for r in rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", nargs="+", default=[name for name in TARGETS if name in RECIPES],
                        help="recipes to time; NAME@option=value,... times a variation (e.g. speedrun@epochs=6)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data-dir")
    parser.add_argument("--train-args", nargs=argparse.REMAINDER, default=[],
                        help="more options for every cnnlab train (last on the line)")
    args = parser.parse_args()
    # The reference gets the OpenMP setting cnnlab gives itself (a short spin, then sleep); libgomp's long default
    # spin collapses on a shared machine and would make the reference look slower than it is.
    env = dict(os.environ)
    if "OMP_WAIT_POLICY" not in env:
        env.setdefault("GOMP_SPINCOUNT", "10000")
    load = os.getloadavg()
    print(f"{cpu_model()} (bf16-related instructions: {cpu_features()}), {os.cpu_count()} cores; load average "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at start (shared machine: other jobs may run)", flush=True)
    results = {name: [] for name in ["reference", *args.recipes]}
    root = Path(tempfile.mkdtemp(prefix="speedrun-vs-reference-"))
    for seed in args.seeds:
        for name in results:  # alternate: one round per seed, the reference first
            if name == "reference":
                wall, acc, train = reference(seed, env, args)
            else:
                wall, acc, train = recipe(name, seed, root / f"{name}-{seed}", env, args)
            results[name].append((seed, wall, acc))
            extra = f" (training {train:.1f} s)" if train is not None else ""
            print(f"seed {seed} {name:<11} test accuracy {acc:.4f}  wall {wall:6.1f} s{extra}", flush=True)
    ref_walls = [w for _, w, _ in results["reference"]]
    ref = statistics.median(ref_walls)
    print(f"\nreference: median wall {ref:.1f} s, accuracy mean "
          f"{statistics.mean(a for *_, a in results['reference']):.4f}")
    ok = True
    for name in args.recipes:
        walls = [w for _, w, _ in results[name]]
        accs = [a for *_, a in results[name]]
        ratio = statistics.median(walls) / ref
        rounds = [w / r for w, r in zip(walls, ref_walls)]
        line = (f"{name}: accuracy mean {statistics.mean(accs):.4f} (min {min(accs):.4f}); median wall "
                f"{statistics.median(walls):.1f} s = {ratio:.2f}x the reference (round by round "
                f"{', '.join(f'{r:.2f}' for r in rounds)})")
        target = TARGETS.get(name)
        if target:
            met = statistics.mean(accs) >= target["mean"] and min(accs) >= target["each"] and ratio <= target["ratio"]
            ok &= met
            line += (f"; target mean >= {target['mean']}, each >= {target['each']}, <= {target['ratio']}x: "
                     + ("met" if met else "NOT met"))
        print(line)
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
