"""Nothing lost: a training run SIGKILLed at random moments (seeded), at least KILLS times, and resumed after each
kill (started over when it died before its first checkpoint) ends with the same metrics and weights as a run
never interrupted. After every kill the files on disk are whole: last.pt and best.pt load, metrics.csv and
config.json parse, and metrics.csv is at most one epoch behind last.pt."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cnnlab.rundir import load_checkpoint, read_metrics

KILLS = 10
SEED = 8  # kill times are random, and the same on every run of the test
TIMING = ("seconds", "images_per_s")  # wall-clock columns: the only ones allowed to differ
# Short epochs (40 steps of 64 images, ~0.2 s): kills land in start-up, steps, test passes, checkpoint and
# metrics writes, and the final plot.
EPOCHS = 4
ARGS = ["basic-cnn", "--dataset", "synthetic", "--epochs", EPOCHS, "--train-limit", "2560", "--test-limit", "200",
        "--threads", "1"]


def start(*argv) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cnnlab", "train", *map(str, argv)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def deterministic_metrics(run_dir):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in read_metrics(run_dir)]


def weights(path):
    return load_checkpoint(path)["model"]


def assert_files_whole(run_dir: Path) -> None:
    """What a kill may leave: any subset of the run files, but each one complete and consistent."""
    if (run_dir / "config.json").exists():
        json.loads((run_dir / "config.json").read_text())
    if (run_dir / "best.pt").exists():
        load_checkpoint(run_dir / "best.pt")
    if (run_dir / "last.pt").exists():
        done = len(load_checkpoint(run_dir / "last.pt")["history"])
        rows = len(read_metrics(run_dir)) if (run_dir / "metrics.csv").exists() else 0
        assert rows in (done, done - 1), f"metrics.csv has {rows} epochs, last.pt {done}"


# ~1 min idle; one kill: test_train.py::test_killed_run_resumed_* (slow too; the default suite's stop and resume: the
# SIGINT test there)
@pytest.mark.slow
def test_run_killed_at_random_moments_and_resumed_equals_the_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    began = time.perf_counter()
    process = start(*ARGS, "--out", reference)
    while process.poll() is None and not (reference / "last.pt").exists():
        time.sleep(0.005)
    startup = time.perf_counter() - began  # imports, data, model: until the first checkpoint

    def epochs_done():
        return len(read_metrics(reference)) if (reference / "metrics.csv").exists() else 0

    while process.poll() is None and epochs_done() < EPOCHS:
        time.sleep(0.005)
    trained = time.perf_counter() - began  # then the epochs; then the final plot and exit
    assert process.wait(timeout=120) == 0, process.stderr.read()
    total = time.perf_counter() - began

    rng = random.Random(SEED)
    kills, rounds = 0, 0
    while kills < KILLS:  # a round ends when its run finishes; another starts if kills are still due
        run_dir = tmp_path / f"round{rounds}"
        rounds += 1
        while True:
            resuming = (run_dir / "last.pt").exists()
            finished = resuming and load_checkpoint(run_dir / "last.pt")["epoch"] > EPOCHS
            process = start("--resume", run_dir) if resuming else start(*ARGS, "--out", run_dir)
            if kills < KILLS and not finished:  # kills are spent while there is training left to interrupt
                # a random moment: mostly from late start-up through the epochs, sometimes in the final plot
                moment = rng.uniform(0.8 * startup, trained) if rng.random() < 0.8 else rng.uniform(trained, total)
                try:
                    process.wait(timeout=moment)
                except subprocess.TimeoutExpired:
                    process.send_signal(signal.SIGKILL)
            code = process.wait(timeout=120)
            if code == -signal.SIGKILL:
                kills += 1
                assert_files_whole(run_dir)
                continue
            assert code == 0, process.stderr.read()
            break
        assert deterministic_metrics(run_dir) == deterministic_metrics(reference)
        assert not list(run_dir.glob(".*.tmp-*")), "temporary files of killed writes left behind"
        for name in ("last.pt", "best.pt"):
            got, want = weights(run_dir / name), weights(reference / name)
            assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want), name


def test_resuming_removes_only_temporaries_of_dead_writers_of_run_files(tmp_path):
    from cnnlab.checkpoint import remove_stale_temporaries

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".last.pt.tmp-{dead.pid}"
    alive = tmp_path / f".best.pt.tmp-{os.getpid()}"  # a writer still running (this process)
    unrelated = tmp_path / f".notes.txt.tmp-{dead.pid}"  # not a run file: not ours to delete
    for path in (stale, alive, unrelated):
        path.write_bytes(b"partial")
    assert remove_stale_temporaries(tmp_path, ("last.pt", "best.pt")) == [stale]
    assert not stale.exists() and alive.exists() and unrelated.exists()
