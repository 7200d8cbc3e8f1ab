"""Benchmark: start-up time of the `cnnlab` command. Runs `cnnlab --help`, `--version` and `models` in fresh
processes, alternating with a reference `python -c "import torch"` (what every command cost when the package
imported torch first), and prints the median wall time of each with its ratio to the reference, and whether
the command imported torch. Prints figures; not a test.

    .venv/bin/python benchmarks/bench_startup.py [--reps 7]
"""
import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "cnnlab --help": ["-m", "cnnlab", "--help"],
    "cnnlab --version": ["-m", "cnnlab", "--version"],
    "cnnlab models": ["-m", "cnnlab", "models"],
    "cnnlab conv --help": ["-m", "cnnlab", "conv", "--help"],
}
REFERENCE = ("import torch (reference)", ["-c", "import torch"])
PROBE = ("import runpy, sys; sys.argv = ['cnnlab', *sys.argv[1:]]\n"
         "try:\n    runpy.run_module('cnnlab', run_name='__main__')\n"
         "except SystemExit:\n    pass\n"
         "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)")


def seconds(argv) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def imports_torch(argv) -> bool:
    args = argv[2:]  # after "-m cnnlab"
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    return "NO-TORCH" not in done.stderr


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    times = {name: [] for name in [*COMMANDS, REFERENCE[0]]}
    for _ in range(args.reps):  # alternate, so a busy moment of the machine hits every command alike
        for name, argv in [*COMMANDS.items(), REFERENCE]:
            times[name].append(seconds(argv))
    reference = statistics.median(times[REFERENCE[0]])
    print(f"median of {args.reps} fresh processes each, {sys.executable}")
    for name, values in times.items():
        median = statistics.median(values)
        torch_note = ""
        if name != REFERENCE[0]:
            torch_note = ", imports torch" if imports_torch(COMMANDS[name]) else ", no torch"
        print(f"{name:<26} {median:6.3f} s  ({median / reference:4.2f}x the reference{torch_note})")


if __name__ == "__main__":
    main()
