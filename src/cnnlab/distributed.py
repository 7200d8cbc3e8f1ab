"""Where training runs: the device and precision, and the plumbing of a torchrun job (docs/distributed.md):
which process this is, joining the process group, and the few collectives the trainer needs. Every function is
a no-op for a single process, so the trainer never branches on it. torch is imported inside the functions:
`this_process()` is cheap enough for the command line."""
import os
from dataclasses import dataclass

from .errors import ConfigError
from .signals import signal_name, signal_number

# How long a collective waits for the other ranks before failing. A rank that dies mid-run makes the others
# fail instead of waiting forever; it must still cover rank 0 alone writing a checkpoint and a plot.
TIMEOUT_MINUTES = 10
STOP_CHECK_EVERY = 5  # steps between the ranks' all-reduces that agree on stopping after a signal


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


def select_device(name: str, local_rank: int = 0):
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is available here; use --device cpu or auto")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", local_rank)


def select_precision(name: str, device):
    """The autocast dtype for --precision NAME on `device`, or None for plain float32."""
    import torch

    if device.type == "cpu":
        bf16_ok = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    else:
        bf16_ok = torch.cuda.is_bf16_supported()
    if name == "auto":
        # bf16 keeps float32's range (no loss scaling) and runs ~4x faster in matmuls on AVX512-BF16 CPUs
        name = "bf16" if bf16_ok else ("fp16" if device.type == "cuda" else "fp32")
    if name == "bf16" and not bf16_ok:
        raise ConfigError(f"--precision bf16: not supported on this {device.type}; use fp32")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def join(batch_size: int, device: str, sync_bn: bool) -> Dist:
    """Started by torchrun (WORLD_SIZE > 1): join the process group, gloo on CPU and NCCL on CUDA.
    --batch-size is the global batch, so it must split evenly: every rank then takes an equal shard and DDP's
    mean of the ranks' gradients is exactly the gradient of the global batch."""
    env = this_process()
    if env.world_size == 1:
        return env
    import torch

    if batch_size % env.world_size:
        raise ConfigError(f"--batch-size {batch_size} is the global batch and must divide evenly among "
                          f"{env.world_size} processes; use a multiple of {env.world_size}")
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if sync_bn and not use_cuda:
        raise ConfigError("--sync-bn needs CUDA GPUs (PyTorch's SyncBatchNorm has no CPU version); on CPU leave it "
                          "off and each process normalises over its own share of the batch")
    import atexit
    from datetime import timedelta

    import torch.distributed as dist

    if not dist.is_initialized():  # a caller that set up its own group keeps it (and tears it down)
        if use_cuda:
            torch.cuda.set_device(env.local_rank)
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timedelta(minutes=TIMEOUT_MINUTES))
        # At exit, also after an error, so the other ranks see a closed connection rather than a silent peer.
        atexit.register(leave)
    return env


def leave() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def all_sum(values, env: Dist):
    """`values` (a tensor) summed over every rank; a copy, the input is left alone."""
    if env.world_size > 1:
        import torch.distributed as dist

        values = values.clone()
        dist.all_reduce(values)
    return values


def barrier(env: Dist) -> None:
    """Wait for every rank. Used before leaving training: a rank that exits (and tears down its process group)
    while rank 0 is still writing the run's files made gloo abort that rank with SIGABRT now and then (3 times
    in about 15 two-process runs here, always after the last epoch)."""
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
