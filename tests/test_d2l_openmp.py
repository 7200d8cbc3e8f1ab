"""The book's import order (torch first, then cnnlab) gets OpenMP's short spin too: idle worker threads sleep
almost at once instead of spinning through the pauses between operations, and no note is printed."""
import os
import subprocess
import sys

import pytest

# 200 parallel operations, each followed by a 5 ms pause: with libgomp's long spin the idle worker spins through
# every pause (CPU time about the 1 s of pauses, or more when the cores are contended); with the short spin it
# sleeps (a few hundredths of a second). Prints the CPU seconds spent.
PAUSES = """
import resource, time
import torch
x = torch.empty(1 << 20)
usage = lambda: sum(getattr(resource.getrusage(resource.RUSAGE_SELF), f) for f in ("ru_utime", "ru_stime"))
for _ in range(5):
    x.fill_(1.0)
cpu = usage()
for _ in range(200):
    x.fill_(1.0)
    time.sleep(0.005)
print(usage() - cpu)
"""


def run(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    return subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True).stdout


@pytest.mark.skipif(not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2,
                    reason="libgomp's spin needs Linux and at least 2 CPUs")
def test_torch_imported_first_still_gets_the_short_spin_and_no_note():
    out = run("import torch\nfrom cnnlab import d2l\nfrom cnnlab.report import openmp_note\n"
              "from cnnlab.openmp import spin_shortened\n"
              "print(spin_shortened(), openmp_note(torch.get_num_threads()) is None)\n" + PAUSES)
    shortened, no_note, cpu = out.split()
    assert (shortened, no_note) == ("True", "True")
    assert float(cpu) < 0.5, f"{cpu} s of CPU in 1 s of pauses: the worker threads still spin"


def test_the_users_own_wait_policy_wins():
    out = run("import os\nos.environ['OMP_WAIT_POLICY'] = 'ACTIVE'\nimport torch\nimport cnnlab\n"
              "from cnnlab.openmp import spin_shortened\nprint(spin_shortened())")
    assert out.split() == ["False"]


def test_cnnlab_first_sets_the_spin_count_before_torch_loads():
    out = run("import cnnlab, os\nimport torch\nfrom cnnlab.openmp import spin_shortened\n"
              "print(os.environ.get('GOMP_SPINCOUNT'), spin_shortened())")
    assert out.split() == ["10000", "False"]


def test_the_note_remains_where_the_long_spin_does(monkeypatch):
    from cnnlab import openmp, report

    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(openmp, "_parked", None)  # as where shorten_spin() could not act (no libgomp, say)
    assert "spin-wait at full length" in report.openmp_note(2) and report.openmp_note(1) is None
    monkeypatch.setattr(openmp, "_parked", "a parked thread")
    assert report.openmp_note(2) is None
