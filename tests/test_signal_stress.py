"""Stops at any moment: a training run sent SIGINT or SIGTERM at seeded random moments across its whole life
(start-up, steps, test passes, checkpoint and metrics writes, the final plot, and under torchrun the ranks'
barriers), and resumed after each stop, ends exactly equal to a run never interrupted. Every stop is clean: exit
status 130, the resume command printed once, no traceback, and a last.pt to resume from.
(The SIGKILL counterpart is tests/test_stress.py.)"""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import cnnlab
from cnnlab.rundir import load_checkpoint, read_metrics

SEED = 15  # signal times are random, and the same on every run of the test
TIMING = ("seconds", "images_per_s")  # wall-clock columns: the only ones allowed to differ
SIGNALS = (signal.SIGINT, signal.SIGTERM)
PACKAGE = str(Path(cnnlab.__file__).parent)  # a traceback through cnnlab's code names files under it
TORCHRUN = Path(sys.executable).with_name("torchrun")
# Short epochs (40 steps of 64 images): signals land in start-up, steps, test passes, writes and the final plot.
EPOCHS = 3
ARGS = ["basic-cnn", "--dataset", "synthetic", "--epochs", EPOCHS, "--train-limit", "2560", "--test-limit", "200",
        "--threads", "1", "--precision", "fp32"]


def command(processes: int) -> list[str]:
    if processes == 1:
        return [sys.executable, "-m", "cnnlab", "train"]
    return [str(TORCHRUN), "--standalone", "--nproc-per-node", str(processes), "-m", "cnnlab", "train"]


def start(processes: int, *argv) -> subprocess.Popen:
    return subprocess.Popen([*command(processes), *map(str, argv)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def deterministic_metrics(run_dir):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in read_metrics(run_dir)]


def finished(run_dir: Path) -> bool:
    return (run_dir / "last.pt").exists() and load_checkpoint(run_dir / "last.pt")["epoch"] > EPOCHS


def timed_reference(processes: int, run_dir: Path) -> tuple[float, float]:
    """Run uninterrupted; returns the seconds until its first checkpoint and until it printed its summary."""
    began = time.perf_counter()
    process = start(processes, *ARGS, "--out", run_dir)
    while process.poll() is None and not (run_dir / "last.pt").exists():
        time.sleep(0.005)
    startup = time.perf_counter() - began
    process.stdout.readline()  # the summary line, printed after the final outputs
    done = time.perf_counter() - began
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    return startup, done


def check_clean_stop(process: subprocess.Popen, run_dir: Path, sig, processes: int, signalled: bool) -> bool:
    """Whether the process stopped on the signal (else it had finished first); asserts the stop was clean.
    `signalled`: whether a signal was sent to it at all."""
    out, err = process.communicate(timeout=300)
    assert PACKAGE not in err, err[-3000:]  # no traceback through cnnlab
    stopped = err.count(f"{sig.name}: stopped; checkpoint saved. Resume with:\n  cnnlab train --resume {run_dir}")
    if processes == 1:
        if process.returncode == -sig and "test accuracy" in out:  # after the summary: the run's life was over
            assert finished(run_dir)
            return False
        assert process.returncode in (0, 130), err[-3000:]
        assert stopped == (process.returncode == 130), err[-3000:]
    elif signalled and process.returncode != 0 and not run_dir.exists():
        # torchrun itself was signalled in its own start-up (about its first second and a half), before its
        # handlers and before any process of the job existed: it died of the signal (SIGTERM) or of Python's
        # KeyboardInterrupt (SIGINT) with nothing started, so there is nothing to resume; start again
        assert not out and PACKAGE not in err, err[-3000:]
        return True
    elif process.returncode != 0:  # torchrun exits non-zero when signalled, however its processes ended
        # the processes stopped (rank 0 alone speaks), or torchrun was signalled after they had finished
        assert stopped == 1 or (stopped == 0 and "test accuracy" in out and finished(run_dir)), err[-3000:]
    if stopped:
        load_checkpoint(run_dir / "last.pt")  # there is a whole checkpoint to resume from
    return bool(stopped)


def signal_until_finished(run_dir: Path, processes: int, budget: int, rng, startup: float, done: float) -> int:
    """Start the run, then resume it after every clean stop, until it finishes; sends at most `budget` signals,
    each at a random moment from late start-up (the stop flag is up before torch loads) to the summary line.
    Returns the number sent."""
    sent = 0
    stopped = True
    while stopped:
        argv = ["--resume", run_dir] if (run_dir / "last.pt").exists() else [*ARGS, "--out", run_dir]
        process = start(processes, *argv)
        sig = rng.choice(SIGNALS)
        moment = rng.uniform(0.5 * startup, done)
        signalled = False
        if sent < budget and not finished(run_dir):
            try:
                process.wait(timeout=moment)
            except subprocess.TimeoutExpired:
                process.send_signal(sig)
                sent, signalled = sent + 1, True
        stopped = check_clean_stop(process, run_dir, sig, processes, signalled)
    return sent


def signalled_runs_equal_the_uninterrupted_run(tmp_path, processes: int, signals: int):
    reference = tmp_path / "reference"
    startup, done = timed_reference(processes, reference)
    rng = random.Random(SEED + processes)
    rounds = 0
    while signals > 0:  # each round is one run to its end; another starts while signals are still due
        run_dir = tmp_path / f"round{rounds}"
        rounds += 1
        signals -= signal_until_finished(run_dir, processes, signals, rng, startup, done)
        assert finished(run_dir)
        assert deterministic_metrics(run_dir) == deterministic_metrics(reference)
        for name in ("last.pt", "best.pt"):
            got, want = load_checkpoint(run_dir / name)["model"], load_checkpoint(reference / name)["model"]
            assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want), name


@pytest.mark.slow  # the default suite signals once: test_train.py::test_interrupt_*
def test_one_process_signalled_at_random_moments_and_resumed_equals_the_uninterrupted_run(tmp_path):
    signalled_runs_equal_the_uninterrupted_run(tmp_path, processes=1, signals=5)


@pytest.mark.slow
def test_two_processes_under_torchrun_signalled_and_resumed_equal_the_uninterrupted_run(tmp_path):
    signalled_runs_equal_the_uninterrupted_run(tmp_path, processes=2, signals=2)


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_many_signals_at_random_moments(tmp_path, processes):
    signalled_runs_equal_the_uninterrupted_run(tmp_path, processes=processes, signals=20)
