"""Reproduce the d2l book's table: run every `d2l-*` recipe through `cnnlab train` and write a markdown table of
cnnlab's results beside the book's printed ones and their band over the book's CI rebuilds (the band d2l's CI
builds of the book printed over time).

Resumable: each recipe gets its own run directory under ROOT (default runs/d2l/<recipe>). Started again, the
script skips finished rows, continues interrupted ones with `cnnlab train --resume` (exact resume; a row killed
without warning, as at the end of a login session, from cnnlab's last save: at most 10 minutes of training are
lost, `--save-minutes`), and leaves rows that stopped on a NaN loss alone (same seed, same divergence;
--retry-diverged runs them again).

    python benchmarks/reproduce_d2l.py                                  # everything, 10 epochs each
    python benchmarks/reproduce_d2l.py --epochs d2l-alexnet=2 --epochs d2l-nin=2   # some rows partial
    python benchmarks/reproduce_d2l.py --table-only                     # just rebuild the table from ROOT
    nice -n 19 python benchmarks/reproduce_d2l.py > runs/d2l/log.txt 2>&1 &       # in the background

A row trained for fewer than the recipe's 10 epochs is marked partial and not judged against the band; a later
invocation with a larger --epochs (or none) extends it from its checkpoint (the d2l recipes have no schedule, so
the extended run is the same as one run straight through)."""
import argparse
import csv
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from cnnlab.config import RECIPES  # noqa: E402

# d2l-zh 2.0.0's printed outputs (Tesla V100, torch 1.12) and the spread of the test accuracy over
# ~80-130 CI rebuilds of each notebook. printed = (loss, train acc, test acc); band = (p10, median, p90).
BOOK = {
    "d2l-lenet": dict(name="LeNet", printed=(0.469, 0.823, 0.779), band=(0.781, 0.807, 0.821), ex_s=55297),
    "d2l-lenet-bn": dict(name="BN-LeNet", printed=(0.267, 0.902, 0.708), band=(0.758, 0.843, 0.871), ex_s=50597),
    "d2l-googlenet": dict(name="GoogLeNet", printed=(0.262, 0.900, 0.886), band=(0.869, 0.888, 0.895), ex_s=3266),
    "d2l-resnet": dict(name="ResNet-18", printed=(0.012, 0.997, 0.893), band=(0.887, 0.912, 0.922), ex_s=5033),
    "d2l-densenet": dict(name="DenseNet", printed=(0.140, 0.948, 0.885), band=(0.806, 0.882, 0.905), ex_s=5626),
    "d2l-alexnet": dict(name="AlexNet", printed=(0.331, 0.878, 0.883), band=(0.875, 0.881, 0.885), ex_s=3942),
    "d2l-vgg": dict(name="VGG-11 small", printed=(0.178, 0.935, 0.920), band=(0.913, 0.919, 0.923), ex_s=2464),
    "d2l-nin": dict(name="NiN", printed=(0.563, 0.786, 0.790), band=(0.738, 0.851, 0.875), ex_s=3088,
                    note="diverges to NaN in ~14% of the book's builds"),
}
# Cheapest first: the 28x28 rows (a minute each on 2 CPU cores), then 96x96 (tens of minutes), then 224x224 (hours).
ORDER = sorted(BOOK, key=lambda r: RECIPES[r].settings.get("resize") or 28)
STATE = "reproduce.json"  # per run directory: wall time spent, outcome of the last invocation
PIDFILE = "reproduce.pid"
MARK_BEGIN, MARK_END = "<!-- d2l-table: benchmarks/reproduce_d2l.py --readme -->", "<!-- end of d2l-table -->"


def parse_epochs(items):
    epochs = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in BOOK or not value.isdigit() or int(value) < 1:
            sys.exit(f"reproduce_d2l.py: --epochs expects RECIPE=N with RECIPE one of {', '.join(ORDER)}, got '{item}'")
        epochs[name] = int(value)
    return epochs


def read_json(path, default):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return default


def write_json(path, data):
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def metrics(run_dir):
    try:
        with open(run_dir / "metrics.csv") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def alive(pid):
    try:
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def run_row(recipe, run_dir, epochs, args):
    """Train (or continue) one recipe; returns the outcome recorded in its state file."""
    state = read_json(run_dir / STATE, {"wall_s": 0.0, "invocations": 0, "outcome": None})
    done = len(metrics(run_dir))
    if state.get("outcome") == "diverged" and not args.retry_diverged:
        print(f"{recipe}: stopped on a NaN loss before; skipped (--retry-diverged runs it again)", flush=True)
        return state
    if done >= epochs:
        print(f"{recipe}: {done} epochs done", flush=True)
        return state
    cmd = [sys.executable, "-m", "cnnlab", "train"]
    if (run_dir / "last.pt").exists():
        cmd += ["--resume", str(run_dir), "--epochs", str(epochs)]
    else:
        cmd += ["--recipe", recipe, "--out", str(run_dir), "--epochs", str(epochs), "--seed", str(args.seed)]
        if args.data_dir:
            cmd += ["--data-dir", args.data_dir]
        if args.precision:
            cmd += ["--precision", args.precision]
        if args.train_limit:
            cmd += ["--train-limit", str(args.train_limit), "--test-limit", str(args.train_limit)]
    run_dir.mkdir(parents=True, exist_ok=True)
    print(f"{recipe}: {' '.join(cmd[1:])}  (from epoch {done + 1} of {epochs})", flush=True)
    env = dict(os.environ, TQDM_MININTERVAL="60")  # the progress bar goes to a log file: update it rarely
    with open(run_dir / "train.log", "a") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd[1:])}\n")
        log.flush()
        start = time.perf_counter()
        base = state["wall_s"]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        (run_dir / PIDFILE).write_text(f"{os.getpid()}\n")
        state["invocations"] += 1
        state["outcome"] = "running"
        try:
            while True:  # keep the wall time on disk, so a killed reproduction loses at most a minute of it
                try:
                    proc.wait(timeout=60)
                    break
                except subprocess.TimeoutExpired:
                    state["wall_s"] = round(base + time.perf_counter() - start, 1)
                    write_json(run_dir / STATE, state)
        finally:
            if proc.poll() is None:  # interrupted ourselves: let cnnlab save its checkpoint
                proc.terminate()
                proc.wait()
            state["wall_s"] = round(base + time.perf_counter() - start, 1)
            text = (run_dir / "train.log").read_text(errors="replace")
            last = text[text.rfind("=== "):]
            if proc.returncode == 0:
                state["outcome"] = "done" if len(metrics(run_dir)) >= 10 else "partial"
            elif re.search(r"loss became (nan|inf)", last):
                state["outcome"] = "diverged"
                state["message"] = next(line for line in last.splitlines() if "became" in line).strip()
            elif proc.returncode == 130:
                state["outcome"] = "interrupted"
            else:
                state["outcome"] = f"failed (exit {proc.returncode})"
                state["message"] = last.strip().splitlines()[-1] if last.strip() else ""
            write_json(run_dir / STATE, state)
            (run_dir / PIDFILE).unlink(missing_ok=True)
    print(f"{recipe}: {state['outcome']} {state.get('message', '')}".rstrip(), flush=True)
    return state


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def row_cells(recipe, root):
    book = BOOK[recipe]
    run_dir = root / recipe
    rows = metrics(run_dir)
    state = read_json(run_dir / STATE, {})
    info = read_json(run_dir / "config.json", {})
    pid = read_json(run_dir / PIDFILE, None) if (run_dir / PIDFILE).exists() else None
    running = isinstance(pid, int) and alive(pid)
    p10, median, p90 = book["band"]
    resize = RECIPES[recipe].settings.get("resize")
    cells = {"model": f"{book['name']} (`{recipe}`)", "size": f"{resize or 28}",
             "book": "{:.3f} / {:.3f} / {:.3f}".format(*book["printed"]),
             "band": f"{p10:.3f} / {median:.3f} / {p90:.3f}"}
    if rows:
        last = rows[-1]
        seconds = sum(float(r["seconds"]) for r in rows)
        images = sum(float(r["images_per_s"]) * float(r["seconds"]) for r in rows)
        cells["cnnlab"] = " / ".join(f"{float(last[k]):.3f}" for k in ("train_loss", "train_acc", "test_acc"))
        cells["ex_s"] = f"{images / seconds:,.0f}" if seconds else "–"
        wall = state.get("wall_s")
        cells["wall"] = _duration(wall) if wall else "–"
        threads = info.get("threads", "?")
        cells["hardware"] = (f"{info.get('device', 'cpu')}, {threads} thread{'' if threads == 1 else 's'}, "
                             f"{info.get('precision', '?')}")
    else:
        cells.update(cnnlab="–", ex_s="–", wall="–", hardware="–")
    epochs = len(rows)
    acc = float(rows[-1]["test_acc"]) if rows else None
    outcome = state.get("outcome")
    if running:
        status = f"running (epoch {epochs + 1}/10)"
    elif outcome == "diverged":
        status = f"NaN stop in epoch {epochs + 1}" + (": diverged, as in ~14% of the book's builds"
                                                     if recipe == "d2l-nin" else "")
    elif epochs == 0:
        status = "not run" if not outcome else f"{outcome}, no epoch finished"
    elif epochs < 10:
        status = f"partial: {epochs}/10 epochs" + (" (interrupted)" if outcome in ("interrupted", "running") else "")
    elif acc < p10:
        status = f"**below** the band ({acc:.3f} < p10)"
    elif acc > p90:
        status = f"above the band ({acc:.3f} > p90)"
    else:
        status = "in the band"
    cells["status"] = status
    return cells


def _duration(seconds):
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


COLUMNS = [("model", "recipe"), ("size", "input"), ("cnnlab", "cnnlab: loss / train acc / test acc"),
           ("book", "d2l printed (V100)"), ("band", "d2l test acc p10 / median / p90"), ("status", "in band?"),
           ("ex_s", "cnnlab examples/s"), ("wall", "wall time"), ("hardware", "hardware")]


def table(root, recipes):
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for recipe in recipes:
        cells = row_cells(recipe, root)
        lines.append("| " + " | ".join(cells[key] for key, _ in COLUMNS) + " |")
    cores = os.cpu_count()
    lines += ["", f"Hardware: {cpu_name()}, {cores} cores, shared with other jobs (the reproduction runs at nice 19, "
                  f"so wall times and examples/s are lower bounds of what the CPU does alone). "
                  f"Run directories: `{root}`; table written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by "
                  "`benchmarks/reproduce_d2l.py`.",
              "cnnlab's loss and train accuracy are running averages over the last epoch, as d2l prints them; "
              "examples/s counts training steps only; wall time is the whole `cnnlab train` command "
              "(data loading, every evaluation, checkpoints), summed over resumed invocations. "
              "A partial row is not judged against the band."]
    return "\n".join(lines) + "\n"


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("runs/d2l"), help="one run directory per recipe under it")
    parser.add_argument("--table", type=Path, default=Path("docs/d2l_table.md"), help="markdown table to write")
    parser.add_argument("--readme", type=Path, help="also put the table into this file, between the lines "
                        f"'{MARK_BEGIN}' and '{MARK_END}' (e.g. README.md)")
    parser.add_argument("--recipes", nargs="+", choices=ORDER, default=ORDER,
                        help="rows to run, in the order given (default: all, cheapest first)")
    parser.add_argument("--epochs", action="append", default=[], metavar="RECIPE=N",
                        help="train RECIPE for N epochs only (a partial row); repeatable")
    parser.add_argument("--seed", type=int, default=0, help="seed of new runs")
    parser.add_argument("--data-dir", help="directory with the Fashion-MNIST IDX files")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], help="passed to new runs' cnnlab train")
    parser.add_argument("--train-limit", type=int, help="new runs use only the first N train and test images "
                        "(a quick check of the script, not a reproduction)")
    parser.add_argument("--retry-diverged", action="store_true", help="run again rows that stopped on a NaN loss")
    parser.add_argument("--table-only", action="store_true", help="train nothing; rebuild the table from ROOT")
    args = parser.parse_args(argv)
    epochs = parse_epochs(args.epochs)
    # SIGTERM (kill, a logout) unwinds like Ctrl-C: the running cnnlab is asked to save its checkpoint first
    signal.signal(signal.SIGTERM, _interrupt)
    recipes = list(dict.fromkeys(args.recipes))  # the order given, each once

    def write_table():
        text = table(args.root, ORDER)
        args.table.parent.mkdir(parents=True, exist_ok=True)
        args.table.write_text("# d2l's Fashion-MNIST table, reproduced by cnnlab\n\n" + text)
        if args.readme:
            try:
                readme = args.readme.read_text()
            except OSError as error:
                sys.exit(f"reproduce_d2l.py: cannot read {args.readme}: {error.strerror}")
            begin, end = readme.find(MARK_BEGIN), readme.find(MARK_END)
            if begin < 0 or end < begin:
                sys.exit(f"reproduce_d2l.py: {args.readme} has no '{MARK_BEGIN}' ... '{MARK_END}' block")
            args.readme.write_text(readme[:begin + len(MARK_BEGIN)] + "\n" + text + readme[end:])
        return text

    if not args.table_only:
        args.root.mkdir(parents=True, exist_ok=True)
        for recipe in recipes:
            try:
                run_row(recipe, args.root / recipe, epochs.get(recipe, RECIPES[recipe].settings["epochs"]), args)
            except KeyboardInterrupt:  # run_row has let cnnlab save its checkpoint and recorded the row
                write_table()
                print(f"reproduce_d2l.py: interrupted during {recipe}; the same command continues from its "
                      "checkpoint", file=sys.stderr)
                sys.exit(130)
            write_table()  # after every row, so the table on disk follows the reproduction
    print(write_table(), end="")


if __name__ == "__main__":
    main()
