"""Benchmark: the same training call in a Jupyter kernel (ipykernel driven by nbclient), in plain `python` and
through the `cnnlab` command, alternating; prints each one's training images/s (epochs after the first) and
the ratios. Prints figures; not a test.

    .venv/bin/python benchmarks/bench_notebook.py [--reps 3] [--epochs 2] [--threads N]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CALL = "cnnlab.train('basic-cnn', dataset='synthetic', epochs={epochs}, progress=False, out={out!r}{threads})"


def source(args, out: str, torch_first: bool) -> str:
    """What the user types, with or without `import torch` before cnnlab (as the seeds and most notebooks do)."""
    threads = f", threads={args.threads}" if args.threads else ""
    first = "import torch\n" if torch_first else ""
    return f"{first}import cnnlab\n{CALL.format(epochs=args.epochs, out=out, threads=threads)}\n"


def speed(out: str) -> float:
    """Training images/s of the run in `out`: the mean over epochs after the first (the first pays warm-up)."""
    rows = [line.split(",") for line in (Path(out) / "metrics.csv").read_text().splitlines()]
    header, rows = rows[0], rows[1:]
    column = header.index("images_per_s")
    return statistics.mean(float(r[column]) for r in rows[1:] or rows)


def run_notebook(args, out: str, torch_first: bool = False) -> float:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source(args, out, torch_first))])
    NotebookClient(nb, timeout=600, kernel_name="python3").execute()
    return speed(out)


def run_python(args, out: str, torch_first: bool = False) -> float:
    subprocess.run([sys.executable, "-c", source(args, out, torch_first)], check=True)
    return speed(out)


def run_cli(args, out: str) -> float:
    cli = Path(sys.executable).with_name("cnnlab")
    extra = ["--threads", str(args.threads)] if args.threads else []
    subprocess.run([str(cli), "train", "basic-cnn", "--dataset", "synthetic", "--epochs", str(args.epochs),
                    "--out", out, *extra], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return speed(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="runs of each, alternating (median reported)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, help="pass threads=N (default: cnnlab's choice)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, epochs {args.epochs}, "
          f"threads {args.threads or 'default'}; "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, "
          f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', 'unset')}")
    ways = {"notebook": run_notebook, "notebook, torch first": lambda a, o: run_notebook(a, o, torch_first=True),
            "python": run_python, "python, torch first": lambda a, o: run_python(a, o, torch_first=True),
            "cli": run_cli}
    results = {name: [] for name in ways}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):  # alternate, so drifting machine load hits all alike
            line = []
            for name, run in ways.items():
                start = time.perf_counter()
                results[name].append(run(args, os.path.join(tmp, f"{name.replace(', ', '-').replace(' ', '-')}-{rep}")))
                line.append(f"{name} {results[name][-1]:>8,.0f} img/s ({time.perf_counter() - start:.0f} s)")
            print(f"rep {rep}: " + ", ".join(line), flush=True)
    median = {name: statistics.median(values) for name, values in results.items()}
    print("median: " + ", ".join(f"{name} {value:,.0f} img/s" for name, value in median.items()))
    print(f"notebook / cli {median['notebook'] / median['cli']:.2f}, notebook / python "
          f"{median['notebook'] / median['python']:.2f} (target: notebook at the CLI's speed, ratio ~1)")
    print(json.dumps({"images_per_s": results}))


if __name__ == "__main__":
    main()
