"""One trainer for every model: zero_grad -> forward -> cross-entropy -> backward -> step, test accuracy per
epoch, with the run directory (config.json, metrics.csv, last.pt/best.pt, curves.png), exact resume, clean
interruption, and the fast path (data in memory, bf16 autocast, channels_last, no per-step host sync).

Training returns data (the per-epoch history); display belongs to a reporter (see report.py)."""
import csv
import io
import json
import math
import os
import platform
import signal
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import __version__
from .checkpoint import atomic_write_text, load_model, remove_stale_temporaries, save_checkpoint
from .config import TrainConfig, resolve
from .data import Batches, dataset_spec, load_dataset
from .errors import CheckpointError, CnnlabError, ConfigError
from .models import create_model, model_info

RUN_FILES = ("config.json", "metrics.csv", "last.pt", "best.pt")  # written atomically (checkpoint.atomic_write_*)
METRIC_FIELDS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds", "images_per_s")
REPORT_EVERY = 25  # steps between progress updates: the only points where the loop reads values back
STOP_CHECK_EVERY = 5  # distributed: steps between the ranks' all-reduces that agree on stopping after a signal


class TrainingError(CnnlabError):
    """The run cannot go on (e.g. the loss became NaN)."""


class Interrupted(Exception):
    """SIGINT/SIGTERM arrived; a checkpoint was saved at `run_dir`, from which the run resumes exactly."""

    def __init__(self, run_dir, signame):
        super().__init__(f"{signame}: checkpoint saved in {run_dir}")
        self.run_dir, self.signame = run_dir, signame


# ---------------------------------------------------------------- environment
def select_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is available here; use --device cpu or auto")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", local_rank)


def select_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for plain float32."""
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


@dataclass
class Dist:
    """Where this process stands in a torchrun job (docs/distributed.md); the defaults are a single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


# How long a collective waits for the other ranks before failing. A rank that dies mid-run makes the others
# fail instead of waiting forever; it must still cover rank 0 alone writing a checkpoint and a plot.
DIST_TIMEOUT_MINUTES = 10


def init_distributed(config: TrainConfig) -> Dist:
    """Started by torchrun (WORLD_SIZE > 1): join the process group, gloo on CPU and NCCL on CUDA.
    --batch-size is the global batch, so it must split evenly: every rank then takes an equal shard and DDP's
    mean of the ranks' gradients is exactly the gradient of the global batch."""
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    if world_size == 1:
        return Dist()
    if config.batch_size % world_size:
        raise ConfigError(f"--batch-size {config.batch_size} is the global batch and must divide evenly among "
                          f"{world_size} processes; use a multiple of {world_size}")
    use_cuda = config.device != "cpu" and torch.cuda.is_available()
    if config.sync_bn and not use_cuda:
        raise ConfigError("--sync-bn needs CUDA GPUs (PyTorch's SyncBatchNorm has no CPU version); on CPU leave it "
                          "off and each process normalises over its own share of the batch")
    import atexit
    from datetime import timedelta

    import torch.distributed as dist

    env = Dist(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", 0)),
               int(os.environ.get("LOCAL_WORLD_SIZE", world_size)))
    if not dist.is_initialized():  # a caller that set up its own group keeps it (and tears it down)
        if use_cuda:
            torch.cuda.set_device(env.local_rank)
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timedelta(minutes=DIST_TIMEOUT_MINUTES))
        # At exit, also after an error, so the other ranks see a closed connection rather than a silent peer.
        atexit.register(end_distributed)
    return env


def end_distributed() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def all_sum(values: torch.Tensor, env: Dist) -> torch.Tensor:
    if env.world_size > 1:
        import torch.distributed as dist

        values = values.clone()
        dist.all_reduce(values)
    return values


def barrier(env: Dist) -> None:
    """Wait for every rank. Used before leaving fit: a rank that exits (and tears down its process group) while
    rank 0 is still writing the run's files made gloo abort that rank with SIGABRT now and then (3 times in
    about 15 two-process runs here, always after the last epoch)."""
    if env.world_size > 1:
        import torch.distributed as dist

        dist.barrier()


def sync_buffers(run: "Run") -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics). DDP copies them only at the start of a
    training forward, so after the last step each rank holds its own; evaluation and the checkpoint must use
    the same ones. (SyncBatchNorm's statistics already agree.)"""
    if run.env.world_size > 1:
        import torch.distributed as dist

        for buffer in run.net.buffers():
            dist.broadcast(buffer, src=0)


def gather_partial(run: "Run") -> None:
    """Stopped mid-epoch: rank 0's checkpoint must hold the running sums of every rank, not only its own."""
    if run.env.world_size > 1:
        p = run.partial
        totals = all_sum(torch.tensor([p["loss"], p["correct"], p["count"]], dtype=torch.float64,
                                      device=run.device), run.env)
        p["loss"], p["correct"], p["count"] = totals[0].item(), totals[1].item(), int(totals[2].item())


def share_partial(run: "Run") -> None:
    """Resumed mid-epoch: the checkpoint's running sums are the whole job's (gather_partial). Rank 0 carries
    them on and the others restart from zero, so the end-of-epoch all_sum counts them once."""
    if not run.env.main:
        run.partial.update(loss=0.0, correct=0.0, count=0)


# ---------------------------------------------------------------- pieces of a run
def xavier_init(model: nn.Module) -> None:
    """d2l's init_weights: Xavier-uniform weights for every Linear and Conv2d."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)


def make_optimizer(config: TrainConfig, params):
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                               nesterov=config.nesterov, foreach=True)
    cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=config.lr, weight_decay=config.weight_decay, foreach=True)


def make_schedule(config: TrainConfig, optimizer, steps_per_epoch: int):
    """Every schedule steps once per batch, so a resumed run sees exactly the same rates."""
    total = config.epochs * steps_per_epoch
    if config.schedule == "none":
        return None
    if config.schedule == "step":  # x0.1 after each third of the run
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, total // 3), gamma=0.1)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total, pct_start=0.25)


def augment(x: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-batch random horizontal flip of half the images; for crop-flip also a random translation by up to
    2 pixels (a crop from a 2-pixel zero pad)."""
    n, _, h, w = x.shape
    flip = torch.rand(n, 1, 1, 1, device=x.device) < 0.5
    x = torch.where(flip, x.flip(-1), x)
    if kind == "flip":
        return x
    padded = F.pad(x, (2, 2, 2, 2))
    dy, dx = torch.randint(0, 5, (2,)).tolist()  # one shift per batch keeps this a single slice
    return padded[:, :, dy:dy + h, dx:dx + w]


def normalization(config: TrainConfig) -> tuple[float, float]:
    if config.normalize == "none":
        return 0.0, 1.0
    spec = dataset_spec("mnist" if config.normalize == "mnist" else config.dataset)
    return spec.mean, spec.std


def default_run_dir(config: TrainConfig) -> Path:
    return Path("runs") / f"{config.model}-{config.dataset}-{time.strftime('%Y%m%d-%H%M%S')}"


def prepare_run_dir(path) -> Path:
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ConfigError(f"cannot write run directory {path}: {error.strerror or error}; choose another with --out") from None
    return path


def write_metrics(path: Path, history: list[dict]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=METRIC_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: row[k] for k in METRIC_FIELDS} for row in history)
    atomic_write_text(path / "metrics.csv", text.getvalue())


def read_metrics(run_dir) -> list[dict]:
    with open(Path(run_dir) / "metrics.csv") as f:
        return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()} for row in csv.DictReader(f)]


class _StopFlag:
    """SIGINT/SIGTERM set a flag the loop checks between steps (never mid-update); a second Ctrl-C aborts."""

    def __init__(self):
        self.signame = None

    def __enter__(self):
        self.previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for s in self.previous:
                signal.signal(s, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            self.previous = {}
        return self

    def _handle(self, signum, frame):
        if self.signame is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signame = signal.Signals(signum).name

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)


# ---------------------------------------------------------------- the run
@dataclass
class Run:
    """Everything a training run holds; `fit` drives it."""

    config: TrainConfig
    run_dir: Path
    env: Dist
    device: torch.device
    dtype: torch.dtype | None
    model: nn.Module  # what forward runs (maybe DDP/compiled)
    net: nn.Module  # the plain model whose state_dict is saved
    optimizer: torch.optim.Optimizer
    schedule: object
    train_batches: Batches
    test_batches: Batches
    classes: tuple
    source: str
    history: list = field(default_factory=list)
    epoch: int = 1  # the epoch in progress
    step: int = 0  # steps done in it
    partial: dict = field(default_factory=lambda: fresh_epoch())  # running sums of the epoch in progress
    # float16 has too little range for small gradients: scale the loss up and the gradients back (bf16 needs none)
    scaler: torch.amp.GradScaler | None = None

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None)

    def checkpoint(self, name: str) -> None:
        if not self.env.main:
            return
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        save_checkpoint(self.run_dir / name, {
            "model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict() if self.schedule else None,
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "epoch": self.epoch, "step": self.step, "partial": dict(self.partial), "rng": rng,
            "history": self.history, "config": self.config.to_dict(), "classes": list(self.classes),
            "normalize": list(normalization(self.config)), "input_size": self.train_batches.size,
            "version": __version__,
        })

    def restore(self, payload: dict) -> None:
        self.net.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        if self.schedule and payload["schedule"]:
            self.schedule.load_state_dict(payload["schedule"])
        if self.scaler and payload.get("scaler"):
            self.scaler.load_state_dict(payload["scaler"])
        torch.set_rng_state(payload["rng"]["torch"])
        if "cuda" in payload["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(payload["rng"]["cuda"], self.device)
        self.epoch, self.step, self.partial = payload["epoch"], payload["step"], dict(payload["partial"])
        self.history = list(payload["history"])


def build_run(config: TrainConfig, run_dir=None) -> Run:
    """Set up device, data, model, optimizer and schedule for `config` (no training yet)."""
    info = model_info(config.model)
    size = config.resize or info.input_size
    info.check_size(size)
    env = init_distributed(config)
    device = select_device(config.device, env.local_rank)
    dtype = select_precision(config.precision, device)
    threads = config.threads or max(1, (os.cpu_count() or 1) // env.local_world_size)
    torch.set_num_threads(threads)
    config.threads = threads

    data = load_dataset(config.dataset, config.data_dir)
    mean, std = normalization(config)
    per_rank = dict(mean=mean, std=std, size=size, device=device, rank=env.rank, world_size=env.world_size,
                    channels_last=config.channels_last)
    # Distributed, a last global batch smaller than --batch-size is skipped (see Batches): shards stay equal.
    train_batches = Batches(data.train, config.batch_size, shuffle=True, seed=config.seed, limit=config.train_limit,
                            drop_last=env.world_size > 1, **per_rank)
    test_batches = Batches(data.test, max(config.batch_size, 256), limit=config.test_limit, **per_rank)

    torch.manual_seed(config.seed)  # same seed, same initial weights and dropout masks
    net = create_model(config.model, num_classes=len(data.classes), in_channels=1, ops=config.ops)
    if config.init == "xavier":
        xavier_init(net)
    if config.sync_bn and env.world_size > 1:
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    net = net.to(device, memory_format=torch.channels_last if config.channels_last else torch.contiguous_format)
    model = net
    if env.world_size > 1:
        model = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        model = torch.compile(model)
    optimizer = make_optimizer(config, net.parameters())
    schedule = make_schedule(config, optimizer, len(train_batches))
    resuming = run_dir is not None
    run_dir = Path(run_dir or config.out or default_run_dir(config))
    if not resuming and (run_dir / "last.pt").exists():
        raise ConfigError(f"{run_dir} already holds a run: continue it with 'cnnlab train --resume {run_dir}' "
                          "or choose another --out")
    if env.main:
        prepare_run_dir(run_dir)
    config.out = str(run_dir)
    run = Run(config, run_dir, env, device, dtype, model, net, optimizer, schedule, train_batches, test_batches,
              data.classes, data.source)
    if dtype == torch.float16:
        run.scaler = torch.amp.GradScaler(device.type)
    return run


def describe(run: Run) -> dict:
    """What config.json records besides the settings: where things came from and what ran them."""
    return {
        "config": run.config.to_dict(),
        "dataset_source": run.source,
        "classes": list(run.classes),
        "device": str(run.device),
        "precision": str(run.dtype).replace("torch.", "") if run.dtype else "float32",
        "threads": torch.get_num_threads(),
        "openmp": {k: os.environ[k] for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS") if k in os.environ},
        "world_size": run.env.world_size,
        "input_size": run.train_batches.size,
        "train_images": run.train_batches.n,
        "test_images": run.test_batches.n,
        "parameters": sum(p.numel() for p in run.net.parameters()),
        "versions": {"cnnlab": __version__, "torch": torch.__version__, "python": platform.python_version(),
                     "numpy": __import__("numpy").__version__},
        "host": platform.node(),
    }


def evaluate(run: Run, batches: Batches | None = None, tta: bool = False) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over `batches` (default: the test set), exact across ranks; with `tta`
    the logits of each image and its mirror are averaged."""
    batches = batches or run.test_batches
    sync_buffers(run)
    model = run.model
    was_training = model.training
    model.eval()
    totals = torch.zeros(3, dtype=torch.float64, device=run.device)
    with torch.no_grad(), run.autocast():
        for x, y in batches:
            logits = model(x)
            if tta:
                logits = (logits + model(x.flip(-1))) / 2
            totals[0] += F.cross_entropy(logits.float(), y, reduction="sum")
            totals[1] += (logits.argmax(1) == y).sum()
            totals[2] += len(y)
    model.train(was_training)
    loss, correct, count = all_sum(totals, run.env).tolist()
    return loss / max(count, 1), correct / max(count, 1)


def train_epoch(run: Run, stop: _StopFlag, reporter) -> bool:
    """One pass over the training data from step `run.step`; returns False if a signal asked to stop."""
    cfg, model, optimizer = run.config, run.model, run.optimizer
    run.train_batches.set_epoch(run.epoch)
    steps = len(run.train_batches)
    model.train()
    if run.step == 0:
        run.partial["lr"] = optimizer.param_groups[0]["lr"]
    # Running sums stay on the device: no host synchronisation per step.
    loss_sum = torch.tensor(run.partial["loss"], dtype=torch.float64, device=run.device)
    correct = torch.tensor(run.partial["correct"], dtype=torch.float64, device=run.device)
    count, seconds = run.partial["count"], run.partial["seconds"]
    if reporter:
        reporter.epoch_start(run.epoch, steps, run.step)
    start = time.perf_counter()
    batches = iter(run.train_batches)
    for _ in range(run.step):  # resuming mid-epoch: replay the order, skip what was done
        next(batches)
    for x, y in batches:
        if cfg.augment != "none":
            x = augment(x, cfg.augment)
        with run.autocast():
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        if run.scaler:
            run.scaler.scale(loss).backward()
            run.scaler.step(optimizer)
            run.scaler.update()
        else:
            loss.backward()
            optimizer.step()
        if run.schedule:
            run.schedule.step()
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        count += len(y)
        run.step += 1
        if run.step % REPORT_EVERY == 0 or run.step == steps:
            mean_loss = loss_sum.item() / count
            if not math.isfinite(mean_loss):
                raise TrainingError(f"loss became {mean_loss} in epoch {run.epoch} (step {run.step}); stopped. "
                                    + last_good(run))
            if reporter:
                elapsed = seconds + time.perf_counter() - start
                reporter.step(run.step, mean_loss, correct.item() / count, count * run.env.world_size / elapsed)
        if _agree_to_stop(run, stop):
            break
    run.partial.update(loss=loss_sum.item(), correct=correct.item(), count=count,
                       seconds=seconds + time.perf_counter() - start)
    return run.step == steps


def _agree_to_stop(run: Run, stop: _StopFlag) -> bool:
    """Whether to stop here. Distributed, every rank calls this at the same steps and all stop together if any
    of them got a signal: a rank that stopped alone would leave the others waiting in their next all-reduce."""
    if run.env.world_size == 1:
        return stop.signame is not None
    if run.step % STOP_CHECK_EVERY:
        return False
    import torch.distributed as dist

    signum = torch.tensor([signal.Signals[stop.signame].value if stop.signame else 0], device=run.device)
    dist.all_reduce(signum, op=dist.ReduceOp.MAX)
    if signum.item() and stop.signame is None:  # another rank was signalled: stop under its name
        stop.signame = signal.Signals(signum.item()).name
    return bool(signum.item())


def last_good(run: Run) -> str:
    return f"last good checkpoint: {run.run_dir / 'last.pt'}"


def fresh_epoch() -> dict:
    return {"loss": 0.0, "correct": 0.0, "count": 0, "seconds": 0.0, "lr": None}


def fit(config: TrainConfig, reporter=None, run_dir=None, payload=None) -> tuple[nn.Module, list[dict]]:
    """Train `config`, or continue from checkpoint `payload` in `run_dir`; returns (model, per-epoch history)."""
    run = build_run(config, run_dir=run_dir)
    if payload is not None:
        run.restore(payload)
        share_partial(run)
    reporter = reporter if run.env.main else None
    info = describe(run)
    if run.env.main:
        remove_stale_temporaries(run.run_dir, RUN_FILES)  # a kill during a write leaves its temporary file behind
        atomic_write_text(run.run_dir / "config.json", json.dumps(info, indent=2) + "\n")
        if payload is None:
            run.checkpoint("last.pt")  # from here on the run can always be resumed
        elif run.history:  # killed between last.pt and metrics.csv: bring metrics.csv up to the checkpoint
            write_metrics(run.run_dir, run.history)
    if reporter:
        reporter.start(info, run.run_dir)
    best = max((row["test_acc"] for row in run.history), default=-1.0)
    with _StopFlag() as stop:
        while run.epoch <= config.epochs:
            if not train_epoch(run, stop, reporter):
                gather_partial(run)
                run.checkpoint("last.pt")
                _finish_outputs(run)
                raise Interrupted(run.run_dir, stop.signame)
            p = run.partial
            totals = all_sum(torch.tensor([p["loss"], p["correct"], p["count"]], dtype=torch.float64,
                                          device=run.device), run.env)
            # test-time augmentation doubles the cost of evaluating, so it is spent on the final epoch only
            test_loss, test_acc = evaluate(run, tta=config.tta and run.epoch == config.epochs)
            row = {"epoch": run.epoch, "train_loss": round(totals[0].item() / totals[2].item(), 6),
                   "train_acc": round(totals[1].item() / totals[2].item(), 6), "test_loss": round(test_loss, 6),
                   "test_acc": round(test_acc, 6),
                   "lr": p["lr"], "seconds": round(p["seconds"], 3),
                   "images_per_s": round(totals[2].item() / p["seconds"], 1)}
            if not math.isfinite(row["test_loss"]):
                raise TrainingError(f"test loss became {row['test_loss']} after epoch {run.epoch}; stopped. " + last_good(run))
            run.history.append(row)
            run.epoch, run.step, run.partial = run.epoch + 1, 0, fresh_epoch()
            # Checkpoints first: metrics.csv appearing means the epoch is safely on disk. best.pt before last.pt:
            # killed between the two, the resumed run redoes this epoch identically and writes best.pt again.
            if run.env.main:
                if row["test_acc"] > best:
                    best = row["test_acc"]
                    run.checkpoint("best.pt")
                run.checkpoint("last.pt")
                write_metrics(run.run_dir, run.history)
            if reporter:
                reporter.epoch_end(row)
            if run.epoch <= config.epochs and _agree_to_stop(run, stop):
                _finish_outputs(run)
                raise Interrupted(run.run_dir, stop.signame)
    _finish_outputs(run)
    if reporter:
        reporter.finish(run.history, str(run.device))
    return run.net, run.history


def _finish_outputs(run: Run) -> None:
    if run.env.main and run.history:
        from .plots import plot_curves

        plot_curves({run.config.model: run.history}, run.run_dir / "curves.png")
    barrier(run.env)


RESUME_OPTIONS = ("epochs", "device", "threads")  # may change on resume: extend the run, move it
RESUME_KEYS = ("optimizer", "schedule", "epoch", "step", "partial", "rng", "history")  # written by Run.checkpoint


def resume(run_dir, reporter=None, **overrides) -> tuple[nn.Module, list[dict]]:
    """Continue the run in `run_dir` from its last.pt with its saved settings (`overrides`: RESUME_OPTIONS)."""
    path = Path(run_dir) / "last.pt"
    _, payload = load_model(path)  # refuses a checkpoint whose weights do not fit its model, naming the file
    settings = dict(payload["config"])
    for name, value in overrides.items():
        if name not in RESUME_OPTIONS:
            raise ConfigError(f"--{name.replace('_', '-')} cannot change when resuming; only {', '.join(RESUME_OPTIONS)} can")
        if value is not None:
            settings[name] = value
    missing = [key for key in RESUME_KEYS if key not in payload]
    if missing:
        raise CheckpointError(f"{path}: cannot resume from it: no {', '.join(missing)} inside")
    unknown = sorted(set(settings) - {f.name for f in fields(TrainConfig)})
    if unknown:
        raise CheckpointError(f"{path}: cannot resume from it: settings unknown to this cnnlab ({', '.join(unknown)})")
    return fit(TrainConfig(**settings).validate(), reporter, run_dir=run_dir, payload=payload)


def train(model: str | None = None, *, resume_from=None, progress: bool = True, **options) -> tuple[nn.Module, list[dict]]:
    """Python entry point with the options of `cnnlab train` (see TrainConfig and `cnnlab recipes`);
    returns the trained model and its per-epoch history.

    >>> net, history = cnnlab.train("basic-cnn", dataset="synthetic", epochs=1)"""
    from .report import default_reporter

    reporter = default_reporter() if progress else None
    if resume_from is not None:
        return resume(resume_from, reporter, **options)
    return fit(resolve({"model": model, **options}), reporter)
