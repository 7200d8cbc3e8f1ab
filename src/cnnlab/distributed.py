"""The plumbing of a torchrun job (docs/distributed.md): which process this is, a run's Session in the job (the
process group, its exit hook and the watchdog's threads) and the few collectives the trainer needs. Every
function is a no-op for a single process, so the trainer never branches on it. torch is imported inside the
functions: `this_process()` is cheap enough for the command line. (The device and precision: cnnlab.device.)"""
import os
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import CnnlabError, ConfigError, first_line
from .signals import signal_name, signal_number

# How long a collective waits for the other ranks before failing. A rank that dies mid-run makes the others
# fail instead of waiting forever; it must still cover rank 0 alone writing a checkpoint and a plot.
TIMEOUT_MINUTES = 10
STOP_CHECK_EVERY = 5  # steps between the ranks' all-reduces that agree on stopping after a signal
# A process whose heartbeat stands still this long is taken for dead (its machine died, froze or was cut off):
# the processes watching it stop, instead of waiting TIMEOUT_MINUTES in their next collective. The environment
# variable CNNLAB_PEER_TIMEOUT (seconds) overrides it.
PEER_TIMEOUT_SECONDS = 60.0
BEAT_SECONDS = 1.0  # between heartbeats
EXIT_PEER_LOST = 2  # the exit status of a process stopped by a lost peer (as for any cnnlab error)


class PeerLost(CnnlabError):
    """Another process of the torchrun job vanished (a collective failed on a closed connection)."""


@dataclass(frozen=True)
class Dist:
    """Where this process stands in a torchrun job; the defaults are a single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes the run directory and speaks."""
        return self.rank == 0


def this_process() -> Dist:
    """This process's place, as torchrun announced it (WORLD_SIZE, RANK, ...); a single process otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    if world_size == 1:
        return Dist()
    return Dist(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", 0)),
                int(os.environ.get("LOCAL_WORLD_SIZE", world_size)))


class Session:
    """One run's part in a torchrun job (docs/distributed.md), with a lifetime: `join()` (or entering it as a
    context manager) joins the process group, gloo on CPU and NCCL on CUDA, registers the exit hook and starts
    the watchdog's two threads; `close()` (leaving the context, or at exit if the run never got that far) stops
    them and leaves the group, so the other ranks see a closed connection rather than a silent peer. A run joins
    once; joining again, and closing again, do nothing. For a single process there is nothing to join.

    --batch-size is the global batch, so it must split evenly: every rank then takes an equal shard and DDP's
    mean of the ranks' gradients is exactly the gradient of the global batch."""

    def __init__(self, batch_size: int, device: str = "auto", sync_bn: bool = False):
        self.env = this_process()
        self.batch_size, self.device, self.sync_bn = batch_size, device, sync_bn
        self.watchdog: Watchdog | None = None
        self.joined = False
        self.owns_group = False  # a caller that set up its own process group keeps it (and tears it down)

    def __enter__(self) -> "Session":
        return self.join()

    def __exit__(self, *exc) -> None:
        self.close()

    def join(self) -> "Session":
        env = self.env
        if env.world_size == 1 or self.joined:
            return self
        import torch

        if self.batch_size % env.world_size:
            raise ConfigError(f"--batch-size {self.batch_size} is the global batch and must divide evenly among "
                              f"{env.world_size} processes; use a multiple of {env.world_size}")
        use_cuda = self.device != "cpu" and torch.cuda.is_available()
        if self.sync_bn and not use_cuda:
            raise ConfigError("--sync-bn needs CUDA GPUs (PyTorch's SyncBatchNorm has no CPU version); on CPU leave "
                              "it off and each process normalises over its own share of the batch")
        import atexit
        from datetime import timedelta

        import torch.distributed as dist

        limit = peer_timeout()
        if env.main and elastic_store_shared():
            print("note: torchrun --max-restarts with its shared store: a restarted job can read the failed one's "
                  "keys and hang; launch every torchrun with TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 "
                  "(docs/distributed.md)", file=sys.stderr)
        self.joined = True
        if not dist.is_initialized():
            if use_cuda:
                torch.cuda.set_device(env.local_rank)
            dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timedelta(minutes=TIMEOUT_MINUTES))
            self.owns_group = True
            atexit.register(self.leave)  # at exit, also after an error: the other ranks see a closed connection
            self.watchdog = Watchdog(env, limit, torch.device("cuda", env.local_rank) if use_cuda else "cpu")
            self.watchdog.start()
        return self

    def close(self) -> None:
        """The run is over. The process group and its watchdog stay until the process exits (leave, at exit), so a
        second run in the same process joins the same group: destroying the group and creating it again between two
        runs raced on the rendezvous store's port, and under load the second run's join hung."""
        self.joined = False

    def leave(self) -> None:
        """Stop the watchdog and leave the process group (registered at exit by the session that created it)."""
        import atexit

        import torch.distributed as dist

        atexit.unregister(self.leave)
        if self.watchdog is not None:
            self.watchdog.stop()
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()

    @contextmanager
    def peers_watched(self, hint: str):
        """Inside, a collective that fails because another process vanished raises PeerLost, one line naming
        what happened and `hint` (how to continue), instead of gloo's or NCCL's traceback; the watchdog's
        message for a silent peer carries `hint` too."""
        if self.watchdog is not None:
            self.watchdog.hint = hint
        try:
            yield
        except RuntimeError as error:
            if self.env.world_size == 1 or not is_peer_failure(error):
                raise
            reason = first_line(error)
            reason = reason.split("] ", 1)[-1].split(". This is typically")[0].rstrip(". ")  # gloo: drop file:line
            raise PeerLost(f"rank {self.env.rank}: lost contact with another process of the job ({reason}); "
                           f"stopped. {hint}") from None


def elastic_store_shared() -> bool:
    """Whether torchrun restarts this job (--max-restarts) and gives its processes the agents' store, which
    PyTorch keeps, keys and all, from one rendezvous round to the next: a restarted round then finds the failed
    round's process-group keys (gloo addresses of processes that are gone) and can wait on them forever, seen on
    loopback with PyTorch 2.13. TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 for torchrun makes a fresh store each round."""
    return (os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
            and int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0") or 0) > 0)


def peer_timeout() -> float:
    value = os.environ.get("CNNLAB_PEER_TIMEOUT")
    try:
        seconds = float(value) if value else PEER_TIMEOUT_SECONDS
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ConfigError(f"CNNLAB_PEER_TIMEOUT={value}: must be a number of seconds above 0")
    return seconds


class Watchdog:
    """Notices a process of the job that vanished without closing its connections (a machine that lost power,
    froze or was cut off), which gloo would wait for until TIMEOUT_MINUTES: every process beats a counter in
    the job's store (the rendezvous store torchrun set up) every BEAT_SECONDS, and watches the counters of
    rank 0 and of the next rank in a ring, so every process is watched by at least one other at two store
    reads a beat, whatever the job's size. A counter that stands still for `limit` seconds, or a store that
    stops answering for as long, ends this process at once with one line on stderr (exit status
    EXIT_PEER_LOST); its own connections then close, so the rest of the job fails fast in turn. A process that
    leaves normally (or after an error) marks its counter negative first, so nobody mistakes it for dead.
    Two daemon threads: one talks to the store (a call may block), one judges by the clock."""

    def __init__(self, env: Dist, limit: float, device):
        import torch
        import torch.distributed as dist

        self.env, self.limit = env, limit
        self.store = dist.distributed_c10d._get_default_store()
        # Keys unique to this incarnation of the job (a restarted job reuses the store): rank 0's clock.
        nonce = torch.tensor([time.time_ns() if env.main else 0], dtype=torch.int64, device=device)
        dist.all_reduce(nonce)
        self.prefix = f"cnnlab/heartbeat/{nonce.item()}/"
        now = time.monotonic()
        self.peers = sorted({0, (env.rank + 1) % env.world_size} - {env.rank})
        self.seen = {peer: (None, now) for peer in self.peers}  # peer -> (its count, when it last changed)
        self.contact = now  # when the store last answered a whole round
        self.stopped = threading.Event()
        self.hint = ""  # appended to the message: how to continue (set by the trainer once the run is known)
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        self.threads = [threading.Thread(target=target, name=name, daemon=True)
                        for target, name in ((self._beat, "cnnlab-heartbeat"), (self._judge, "cnnlab-watchdog"))]
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        """Stop watching and tell the others this process leaves on purpose: the heartbeat thread says goodbye as
        its last store call, and both threads end before this returns: no thread of ours is inside a store call
        while the process group and its store are torn down at exit, and no two threads share the store's
        connection. A store that stopped answering holds the exit up a few beats at most."""
        if self.stopped.is_set():
            return
        self.stopped.set()
        for thread in self.threads:
            thread.join(5 * BEAT_SECONDS)

    def _beat(self) -> None:
        while not self.stopped.wait(BEAT_SECONDS):
            try:
                self.store.add(self.prefix + str(self.env.rank), 1)
                now = time.monotonic()
                for peer in self.peers:
                    count = self.store.add(self.prefix + str(peer), 0)  # a read that never blocks
                    if count < 0:  # it left on purpose
                        self.seen.pop(peer, None)
                    elif peer in self.seen and count != self.seen[peer][0]:
                        self.seen[peer] = (count, now)
                self.contact = now
            except Exception:  # the store stopped answering: the judge decides after `limit`
                time.sleep(BEAT_SECONDS)
        try:  # goodbye: a negative count tells the watchers this process left on purpose
            self.store.add(self.prefix + str(self.env.rank), -(1 << 62))
        except Exception:  # the store is gone: nobody is left to tell
            pass

    def _judge(self) -> None:
        while not self.stopped.wait(BEAT_SECONDS):
            now = time.monotonic()
            silent = [peer for peer, (_, since) in list(self.seen.items()) if now - since > self.limit]
            if now - self.contact > self.limit:
                what = f"the job's rendezvous store has not answered for {self.limit:g} s"
            elif silent:
                what = f"rank {silent[0]} has not been heard from for {self.limit:g} s"
            else:
                continue
            if self.stopped.is_set():
                return
            sys.stderr.write(f"cnnlab: error: rank {self.env.rank}: {what} (its machine died, froze or lost the "
                             f"network); stopped.{' ' + self.hint if self.hint else ''}\n")
            sys.stderr.flush()
            os._exit(EXIT_PEER_LOST)



def is_peer_failure(error: BaseException) -> bool:
    """Whether `error` is a collective or store operation that failed because another process went away."""
    import torch.distributed as dist

    text = str(error)
    return isinstance(error, dist.DistError) or (
        isinstance(error, RuntimeError) and any(word in text for word in ("gloo", "NCCL", "Connection")))


def all_sum(values, env: Dist):
    """`values` (a tensor) summed over every rank; a copy, the input is left alone."""
    if env.world_size > 1:
        import torch.distributed as dist

        values = values.clone()
        dist.all_reduce(values)
    return values


def barrier(env: Dist) -> None:
    """Wait for every rank. Used before leaving training: a rank that exits (and tears down its process group)
    while rank 0 is still writing the run's files can make gloo abort that rank with SIGABRT after the last
    epoch."""
    if env.world_size > 1:
        import torch.distributed as dist

        dist.barrier()


def broadcast_buffers(net, env: Dist) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics). DDP copies them only at the start of a
    training forward, so after the last step each rank holds its own; evaluation and the checkpoint must use
    the same ones. (SyncBatchNorm's statistics already agree.)"""
    if env.world_size > 1:
        import torch.distributed as dist

        for buffer in net.buffers():
            dist.broadcast(buffer, src=0)


def agree_any(flag: bool, env: Dist, device, step: int | None = None) -> bool:
    """Whether `flag` holds on any rank, the same answer on all (one all-reduce). Every rank must call it at the
    same points. Between training steps (`step` given) the ranks confer every STOP_CHECK_EVERY steps and answer
    False between, as agree_to_stop; a single process answers at every step."""
    if env.world_size == 1:
        return flag
    if step is not None and step % STOP_CHECK_EVERY:
        return False
    import torch
    import torch.distributed as dist

    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def agree_all_finite(value: float, env: Dist, device) -> bool:
    """Whether `value` is finite on every rank, the same answer on all: a NaN seen by one rank stops every rank
    at the same step, instead of leaving the others waiting in their next collective."""
    import math

    return not agree_any(not math.isfinite(value), env, device)


def restarted() -> bool:
    """Whether torchrun restarted this process's worker group (torchrun --max-restarts) after a failure."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0)) > 0


def agree_to_stop(stop, env: Dist, device, step: int | None = None) -> bool:
    """Whether to stop here, the same answer on every rank: all stop if any of them got a signal (a rank that
    stopped alone would leave the others waiting in their next collective). Every rank must call it at the
    same points. Between training steps (`step` given) the ranks confer every STOP_CHECK_EVERY steps, a single
    process at every step. A rank stopped by another's signal takes that signal's name."""
    if env.world_size == 1:
        return stop.requested
    if step is not None and step % STOP_CHECK_EVERY:
        return False
    import torch
    import torch.distributed as dist

    number = torch.tensor([signal_number(stop.signame)], device=device)
    dist.all_reduce(number, op=dist.ReduceOp.MAX)
    if number.item() and stop.signame is None:
        stop.signame = signal_name(number.item())
    return bool(number.item())


# Moved to cnnlab.device; the old names keep working for a release.
_MOVED = {"select_device": "device", "select_precision": "device"}


def __getattr__(name):
    if name in _MOVED:
        import importlib
        import warnings

        warnings.warn(f"cnnlab.distributed.{name} moved to cnnlab.{_MOVED[name]}.{name}", DeprecationWarning,
                      stacklevel=2)
        return getattr(importlib.import_module(f"cnnlab.{_MOVED[name]}"), name)
    raise AttributeError(f"module 'cnnlab.distributed' has no attribute '{name}'")
