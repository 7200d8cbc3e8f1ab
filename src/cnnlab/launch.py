"""How many threads `cnnlab train` uses when the user does not say (--threads, OMP_NUM_THREADS, torchrun).

PyTorch runs each operation of a step on a team of OpenMP threads that wait for one another at its end. When
another program holds one of the cores, the thread that shares that core runs only part of the time and every
operation waits for it, so the whole team crawls: on 2 cores shared with other jobs, basic-cnn trains several
times faster with 1 thread than with 2, and 2 processes x 1 thread (torchrun) fall between, since they meet once
a step instead of once an operation (README "Performance" has the figures, benchmarks/bench_distributed.py
measures them). On idle cores the team is the fastest way. So a new run takes one thread per core that is idle
when it starts, at least one; a smaller choice is said in the run's header and recorded (config.json "threads"),
and --threads N or --deterministic overrides it. Programs at a lower priority (`nice`, what a background job is
usually started with) give way to a run at the normal priority: their time counts as idle. With two nice-19
busy loops on 2 cores, speedrun94-net trains 1.57x faster on 2 threads than on 1; with one busy loop at the
normal priority, 1 thread is 1.1-1.2x the faster (Intel Xeon, 2026-12-07).
"""
import os
import time

SAMPLE_SECONDS = 0.25  # how long the cores are watched before a run starts


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_times(stat_line: str, give_way: bool) -> tuple[int, int]:
    """(time the cores were free, all time) from the first line of /proc/stat: idle and iowait, and with
    `give_way` the time of niced programs too (the "nice" column), which yield their cores to this one."""
    values = [int(v) for v in stat_line.split()[1:]]
    free = values[3] + (values[4] if len(values) > 4 else 0) + (values[1] if give_way else 0)
    return free, sum(values[:8])  # guest time is already counted in user


def _cpu_times():
    with open("/proc/stat") as f:
        line = f.readline()
    # niced programs give way to this process only when it is not niced itself
    return cpu_times(line, give_way=os.getpriority(os.PRIO_PROCESS, 0) <= 0)


def idle_cores(seconds: float = SAMPLE_SECONDS) -> float | None:
    """Cores left idle by the other programs over the next `seconds` (this process sleeps meanwhile), or None
    where /proc/stat is unavailable."""
    try:
        idle0, total0 = _cpu_times()
        time.sleep(seconds)
        idle1, total1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return (os.cpu_count() or 1) * (idle1 - idle0) / (total1 - total0)


def choose_threads(cores: int, idle: float | None) -> int:
    """One thread per idle core (rounded to the nearest core), between 1 and `cores`; all of them when the
    idle time cannot be read."""
    if idle is None:
        return cores
    return max(1, min(cores, int(idle + 0.5)))


def default_threads() -> tuple[int | None, str | None]:
    """Threads for a new single-process run (None: leave the trainer's default, all cores, e.g. on a 1-core
    machine or when OMP_NUM_THREADS is set), and a note for the user when fewer than all cores are taken."""
    cores = usable_cores()
    if cores == 1 or "OMP_NUM_THREADS" in os.environ:
        return None, None
    idle = idle_cores()
    threads = choose_threads(cores, idle)
    if threads == cores:
        return threads, None
    return threads, (f"{threads} thread{'s' if threads > 1 else ''}: other programs kept {cores - idle:.1f} of "
                     f"{cores} cores busy when the run started, and a thread that shares a busy core slows every step "
                     f"down (--threads {cores} uses them all; --deterministic fixes the count)")
