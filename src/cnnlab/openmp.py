"""OpenMP's spin-wait when torch was loaded before cnnlab. libgomp reads GOMP_SPINCOUNT once, as torch loads it, and
has no call to change it later; but it spins only briefly (100 iterations instead of 300,000) whenever it manages
more threads than the process has CPUs. shorten_spin() makes that so, by giving one parked thread an OpenMP team of
its own: the team's one extra worker sleeps, costs no CPU, and tips the count. libgomp's worker threads then sleep
almost at once when idle, instead of spinning for milliseconds on cores other programs (or torch's own main
thread) need. Measured in benchmarks/bench_openmp.py; see cnnlab/__init__.py for the usual, import-first path."""
import os
import sys
import threading

# Elements of the parked thread's one operation: twice ATen's grain size (32,768), so the operation is split
# between exactly 2 OpenMP threads, one of them a new, sleeping worker: one more managed thread than CPUs once
# torch's own team runs. (A team of 1 would add nothing; a larger one would only add sleeping threads.)
PARKED_ELEMENTS = 2 * 32768

_parked: threading.Thread | None = None


def user_set_wait_policy() -> bool:
    """True when the user chose OpenMP's waiting themselves: that choice wins over cnnlab's."""
    return "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ


def libgomp_loaded() -> bool:
    """True when this process runs GNU OpenMP (torch's Linux builds); other runtimes have other rules."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            return any("libgomp" in line for line in maps)
    except OSError:  # not Linux
        return False


def shorten_spin() -> bool:
    """Make libgomp's idle threads sleep almost at once in a process where torch is already loaded (idempotent);
    returns whether the short spin is in force. Nothing is done when the user set the wait policy, when torch runs
    one thread, or without libgomp."""
    global _parked
    if _parked is not None:
        return True
    if user_set_wait_policy() or "torch" not in sys.modules or not libgomp_loaded():
        return False
    import torch

    if torch.get_num_threads() < 2:
        return False
    ready = threading.Event()

    def park():
        torch.empty(PARKED_ELEMENTS).fill_(0.0)  # this thread's own OpenMP team of 2 starts, and stays
        ready.set()
        threading.Event().wait()  # the team lives as long as this thread: forever (a daemon, so exit is not held up)

    _parked = threading.Thread(target=park, name="cnnlab-openmp-parked", daemon=True)
    _parked.start()
    ready.wait()
    return True


def spin_shortened() -> bool:
    """Whether shorten_spin() has put the short spin in force in this process."""
    return _parked is not None
