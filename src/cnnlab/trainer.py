"""One trainer for every model: zero_grad -> forward -> cross-entropy -> backward -> step, test accuracy per
epoch, exact resume, clean stop on a signal at any moment, and the fast path (data in memory, bf16 autocast,
channels_last, no per-step host sync). Read top to bottom: the pieces of a run, building it, one epoch, the
whole run, then the entry points (fit, resume, train).

The run directory's files belong to cnnlab.rundir, evaluation to cnnlab.evaluate, the torchrun plumbing to
cnnlab.distributed, display to a reporter (cnnlab.report): training returns data (the per-epoch history)."""
import dataclasses
import math
import os
import platform
import shlex
import time
from dataclasses import asdict, dataclass, field, fields, replace
from functools import partial
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from . import distributed, rundir
from .checkpoint import remove_stale_temporaries
from .config import TrainConfig, check_options, resolve
from .data import Batches, dataset_label, dataset_options, dataset_spec, load_dataset
from .errors import CheckpointError, CnnlabError, ConfigError
from .evaluate import Evaluation, evaluate
from .hard_examples import LossMemory
from .lr_find import find_lr_for
from .models import create_model, model_info
from .network import UserNetwork, check_weights_fit, first_tensor, import_reference, is_reference, probe
from .report import NullReporter
from .signals import StopFlag
from .tensorboard import open_board
from .version import __version__

REPORT_EVERY = 25  # steps between progress updates: the only points where the loop reads values back
RESUME_OPTIONS = ("epochs", "device", "threads")  # may change on resume: extend the run, move it


class TrainingError(CnnlabError):
    """The run cannot go on (e.g. the loss became NaN). Raised on every rank at once: only rank 0 reports it."""

    every_rank = True


class Interrupted(Exception):
    """SIGINT/SIGTERM arrived; a checkpoint was saved at `run_dir`, from which the run resumes exactly."""

    def __init__(self, run_dir, signame):
        super().__init__(f"{signame}: checkpoint saved in {run_dir}")
        self.run_dir, self.signame = run_dir, signame


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


def make_schedule(config: TrainConfig, optimizer, total: int):
    """Every schedule steps once per batch (`total` of them in the run), so a resumed run sees exactly the same
    rates; "none" keeps the rate."""
    if config.schedule == "none":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if config.schedule == "step":  # x0.1 after each third of the run
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, total // 3), gamma=0.1)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total, pct_start=0.25)


def shift_each(x: torch.Tensor, most: int) -> torch.Tensor:
    """Each image moved by its own random offset of up to `most` pixels each way, the uncovered border filled
    with the background (the batch's lowest value: a black pixel once normalised)."""
    n, c, h, w = x.shape
    padded = F.pad(x, (most, most, most, most), value=x.min().item())
    dy, dx = torch.randint(0, 2 * most + 1, (2, n, 1, 1, 1), device=x.device)
    rows = (dy + torch.arange(h, device=x.device).view(1, 1, h, 1)).expand(n, c, h, w + 2 * most)
    cols = (dx + torch.arange(w, device=x.device).view(1, 1, 1, w)).expand(n, c, h, w)
    moved = padded.gather(2, rows).gather(3, cols)
    return moved.contiguous(memory_format=torch.channels_last) if x.is_contiguous(
        memory_format=torch.channels_last) else moved


def augment(x: torch.Tensor, kind: str) -> torch.Tensor:
    """A random horizontal flip of each image with probability 1/2; shift-flip also moves each image by its
    own random offset of up to 1 pixel; crop-flip moves the whole batch by one random offset of up to 2 pixels
    (a crop from a 2-pixel zero pad); "none" leaves the batch alone."""
    if kind == "none":
        return x
    n, _, h, w = x.shape
    flip = torch.rand(n, 1, 1, 1, device=x.device) < 0.5
    x = torch.where(flip, x.flip(-1), x)
    if kind == "flip":
        return x
    if kind == "shift-flip":
        return shift_each(x, 1)
    padded = F.pad(x, (2, 2, 2, 2))
    dy, dx = torch.randint(0, 5, (2,)).tolist()  # one shift per batch keeps this a single slice
    return padded[:, :, dy:dy + h, dx:dx + w]


def forward_loss(model, x: torch.Tensor, y: torch.Tensor, config: TrainConfig, device_type: str,
                 dtype: torch.dtype | None, reduction: str = "mean") -> tuple[torch.Tensor, torch.Tensor]:
    """One training forward, as every step takes it (the trainer's and the LR range test's): augment the batch,
    then logits (the first tensor of what the forward returns) and the label-smoothed cross-entropy under
    autocast `dtype` (None: float32): the batch's mean, or with reduction="none" each image's."""
    x = augment(x, config.augment)
    with torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None):
        logits = first_tensor(model(x))
        loss = F.cross_entropy(logits, y, label_smoothing=config.label_smoothing, reduction=reduction)
    return logits, loss


def images_in_epoch(config: TrainConfig, n: int, epoch: int) -> int:
    """How many of the n training images epoch `epoch` trains on (fewer from --hard-from on, see hard_examples)."""
    return n if config.hard_fraction == 1 or epoch < config.hard_from else max(1, round(config.hard_fraction * n))


def normalization(config: TrainConfig, data) -> tuple:
    """(mean, std): one value each, or one per channel for the data set's own (from its training set)."""
    if config.normalize == "none":
        return 0.0, 1.0
    if config.normalize == "mnist":
        return dataset_spec("mnist").mean, dataset_spec("mnist").std
    return data.mean, data.std


@dataclass
class EpochSums:
    """The running sums of the epoch in progress (what a mid-epoch checkpoint carries as "partial")."""

    loss: float = 0.0  # sum of per-image losses
    correct: float = 0.0
    count: int = 0
    seconds: float = 0.0  # training time so far (test passes excluded)
    lr: float | None = None  # the rate at the epoch's first step

    def total(self, env: distributed.Dist, device) -> "EpochSums":
        """The sums over every rank (one all-reduce); seconds and lr are this rank's."""
        loss, correct, count = distributed.all_sum(
            torch.tensor([self.loss, self.correct, self.count], dtype=torch.float64, device=device), env).tolist()
        return EpochSums(loss, correct, int(count), self.seconds, self.lr)

    def row(self, epoch: int, test_loss: float, test_acc: float) -> dict:
        """The metrics.csv row of a finished epoch (sums already totalled over the ranks)."""
        return {"epoch": epoch, "train_loss": round(self.loss / self.count, 6),
                "train_acc": round(self.correct / self.count, 6), "test_loss": round(test_loss, 6),
                "test_acc": round(test_acc, 6), "lr": self.lr, "seconds": round(self.seconds, 3),
                "images_per_s": round(self.count / self.seconds, 1)}


# ---------------------------------------------------------------- the run
@dataclass
class Run:
    """Everything a training run holds, as resolved when it was built; `train_run` drives it."""

    config: TrainConfig  # as given: never changed
    run_dir: Path
    threads: int  # CPU threads in use
    env: distributed.Dist
    device: torch.device
    dtype: torch.dtype | None  # autocast dtype; None: float32
    model: nn.Module  # what forward runs (maybe DDP/compiled)
    net: nn.Module  # the plain model whose state_dict is saved
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    # float16 has too little range for small gradients: scale the loss up and the gradients back (else a no-op)
    scaler: torch.amp.GradScaler
    train_batches: Batches
    test_batches: Batches
    classes: tuple
    source: str
    resumed: bool = False
    history: list = field(default_factory=list)
    network: dict | None = None  # the user's own network (UserNetwork.record()); None: registered config.model
    hard: LossMemory | None = None  # each image's last loss, with --hard-fraction below 1
    notices: list = field(default_factory=list)  # speed switches the probe turned off, in words
    precision_note: str | None = None  # which precision --precision auto chose and why
    epoch: int = 1  # the epoch in progress
    step: int = 0  # steps done in it
    sums: EpochSums = field(default_factory=EpochSums)

    def settings(self) -> dict:
        """The settings as they ran: the config with the resolved run directory and thread count."""
        return {**self.config.to_dict(), "out": str(self.run_dir), "threads": self.threads}

    def evaluation(self, epoch: int) -> Evaluation:
        """How epoch `epoch` is evaluated. Test-time augmentation doubles the cost of evaluating, so it is spent
        on the final epoch only."""
        return Evaluation(precision=str(self.dtype or torch.float32).replace("torch.", ""),
                                 tta=self.config.tta and epoch == self.config.epochs,
                                 batch_size=self.test_batches.batch_size, channels_last=self.config.channels_last)

    def save(self, which: str) -> None:
        """Write the run's state as best.pt or last.pt (rank 0 only)."""
        if not self.env.main:
            return
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        training = {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
                    "scaler": self.scaler.state_dict(), "epoch": self.epoch, "step": self.step,
                    "partial": asdict(self.sums), "rng": rng, "history": self.history,
                    "hard_examples": self.hard and self.hard.state_dict()}
        rundir.save(self.run_dir, which, rundir.checkpoint_payload(
            weights=self.net.state_dict(), config=self.settings(), classes=self.classes,
            normalize=(self.train_batches.mean, self.train_batches.std), input_size=self.train_batches.size,
            in_channels=self.train_batches.channels,
            evaluation=self.evaluation(len(self.history) or self.config.epochs), training=training,
            version=__version__, network=self.network))

    def restore(self, payload: dict) -> None:
        """Continue from a checkpoint's state. Mid-epoch, its running sums are the whole job's (EpochSums.total):
        rank 0 carries them on and the other ranks restart from zero, so the end-of-epoch total counts them once."""
        self.net.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        if payload["schedule"] is not None:  # None: a run without a schedule, saved by cnnlab 0.1
            self.schedule.load_state_dict(payload["schedule"])
        if payload.get("scaler"):
            self.scaler.load_state_dict(payload["scaler"])
        torch.set_rng_state(payload["rng"]["torch"])
        if "cuda" in payload["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(payload["rng"]["cuda"], self.device)
        self.epoch, self.step = payload["epoch"], payload["step"]
        sums = EpochSums(**payload["partial"])
        self.sums = sums if self.env.main else EpochSums(seconds=sums.seconds, lr=sums.lr)
        self.history = list(payload["history"])
        if self.hard is not None and payload.get("hard_examples"):
            self.hard.load_state_dict(payload["hard_examples"], fresh=self.env.main)
        self.resumed = True


def default_model(config: TrainConfig, num_classes: int, in_channels: int) -> nn.Module:
    """The registered model `config.model`, initialised as `config.init` says."""
    net = create_model(config.model, num_classes=num_classes, in_channels=in_channels, ops=config.ops)
    if config.init == "xavier":
        xavier_init(net)
    return net


def user_model(network: UserNetwork, config: TrainConfig, num_classes: int) -> nn.Module:
    """The user's own network, initialised as `config.init` says (a recipe's init applies to it too)."""
    net = network.build(num_classes)
    if config.ops == "scratch":
        from .ops import to_scratch

        net = to_scratch(net)
    if config.init == "xavier":
        xavier_init(net)
    return net


def probe_user_model(net: nn.Module, network: UserNetwork, config: TrainConfig, data, size, device, dtype,
                     per_rank_batch: int) -> tuple[TrainConfig, torch.dtype | None, list[str]]:
    """One small training step through the user's module before anything is written (see cnnlab.network.probe):
    the config and autocast dtype it can train with, and a notice for each speed switch turned off."""
    mean, std = normalization(config, data)
    count = min(per_rank_batch, 8, len(data.train))
    x, _ = next(iter(Batches(data.train, count, mean=mean, std=std, size=size, limit=count, device=device)))
    result = probe(net, x, len(data.classes), network.label, dtype, config.channels_last)
    if not result.channels_last and config.channels_last:
        config = replace(config, channels_last=False)
    if result.dtype is None and dtype is not None:
        config = replace(config, precision="fp32")
    return config, result.dtype, result.notices


def fit_to_data(net: nn.Module, batches: Batches, count: int = 2000) -> None:
    """Modules that set themselves from the training images (a `fit_to_data(images)` method, such as
    speedrun94-net's whitening conv) see the first `count` of them, normalised as training sees them. Every
    rank sees the same images; a resumed run's checkpoint then replaces what was set here."""
    fitted = [m for m in net.modules() if hasattr(m, "fit_to_data")]
    if fitted:
        images = batches.transform(batches.images[:count])  # on the training device; the module copies from it
        for module in fitted:
            module.fit_to_data(images)


class Setup(NamedTuple):
    """What a run and the LR range test (cnnlab.lr_find) both start from, so the test tunes the run it is for."""

    config: TrainConfig  # with any speed switch the probe of the user's network turned off
    env: distributed.Dist
    device: torch.device
    dtype: torch.dtype | None  # autocast dtype; None: float32
    threads: int
    data: object  # cnnlab.data.Dataset
    net: nn.Module  # initialised, on the device, in the run's memory format
    train_batches: Batches
    test_batches: Batches
    notices: list  # speed switches the probe turned off, in words
    precision_note: str | None = None  # which precision --precision auto chose and why (cnnlab.precision)


def setup(config: TrainConfig, network: UserNetwork | None = None, progress: bool = True,
          recorded_precision: str | None = None) -> Setup:
    """Device, precision, threads, data, batches and the initialised model for `config`. The network is the
    registered model `config.model`, or the user's own `network`: then the input size is --resize or the data
    set's own, and a probe step turns off the speed switches its code does not survive. `recorded_precision`: the
    autocast dtype a resumed run was trained in ("float32", "bfloat16"), kept when its precision is auto."""
    size = config.resize
    if network is None:
        info = model_info(config.model)
        size = size or info.input_size
        info.check_size(size)
    env = distributed.join(config.batch_size, config.device, config.sync_bn)
    device = distributed.select_device(config.device, env.local_rank)
    # --deterministic: auto precision is fp32 (never chosen by a timing), and PyTorch picks its deterministic kernels
    precision = "fp32" if config.deterministic and config.precision == "auto" else config.precision
    if precision == "auto" and recorded_precision in RECORDED:  # a resumed run keeps the arithmetic it started with
        precision = RECORDED[recorded_precision]
    dtype = distributed.select_precision(precision, device)
    threads = config.threads or max(1, (os.cpu_count() or 1) // env.local_world_size)
    torch.set_num_threads(threads)
    if config.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)

    data = load_dataset(config.dataset, config.data_dir, **dataset_options(config.to_dict(), size), progress=progress)
    size = size or data.train.images.shape[-1]
    torch.manual_seed(config.seed)  # same seed, same initial weights and dropout masks
    notices = []
    if network is None:
        net = default_model(config, len(data.classes), data.channels)
    else:
        net = user_model(network, config, len(data.classes)).to(device)
        config, dtype, notices = probe_user_model(net, network, config, data, size, device, dtype,
                                                  max(1, config.batch_size // env.world_size))
    mean, std = normalization(config, data)
    per_rank = dict(mean=mean, std=std, size=size, device=device, rank=env.rank, world_size=env.world_size,
                    channels_last=config.channels_last)
    # Distributed, a last global batch smaller than --batch-size is skipped (see Batches): shards stay equal.
    train_batches = Batches(data.train, config.batch_size, shuffle=True, seed=config.seed, limit=config.train_limit,
                            drop_last=env.world_size > 1, **per_rank)
    test_batches = Batches(data.test, max(config.batch_size, 256), limit=config.test_limit, **per_rank)
    fit_to_data(net, train_batches)
    net = net.to(device, memory_format=torch.channels_last if config.channels_last else torch.contiguous_format)
    if precision == "auto" and device.type == "cpu" and dtype == torch.bfloat16:
        dtype, precision_note = timed_precision(net, config, env, train_batches, len(data.classes), threads,
                                                network.label if network else config.model)
    else:
        precision_note = None
    return Setup(config, env, device, dtype, threads, data, net, train_batches, test_batches, notices, precision_note)


# autocast dtype as a checkpoint records it -> the --precision name that gives it
RECORDED = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


def timed_precision(net, config: TrainConfig, env, batches: Batches, num_classes: int, threads: int, label: str):
    """--precision auto on a CPU with bf16: the faster of float32 and bfloat16 for this network here (see
    cnnlab.precision), the same on every rank (bf16 only where every rank found it faster); (dtype, notice)."""
    from . import precision

    shape = (max(1, config.batch_size // env.world_size), batches.channels, batches.size, batches.size)
    choice = precision.choose(net, shape, num_classes, config.channels_last, label, threads)
    votes = distributed.all_sum(torch.tensor([float(choice.name == "bf16")]), env)
    bf16 = votes.item() == env.world_size
    if bf16 != (choice.name == "bf16"):
        return None, "precision auto chose float32: another process of the run found it faster"
    return (torch.bfloat16 if bf16 else None), choice.describe(label)


def build_run(config: TrainConfig, run_dir=None, payload=None, network: UserNetwork | None = None) -> Run:
    """Set up (see `setup`) and build the optimizer and schedule for `config`, continuing checkpoint `payload` if
    given (no training yet). Nothing is written before the user's network has passed its probe step."""
    if config.lr == "find":  # the LR range test on the same data and model; its suggestion becomes the rate
        config = dataclasses.replace(config, lr=find_lr_for(config, network=network).suggestion)
    recorded = payload["evaluation"].get("precision") if payload is not None else None
    config, env, device, dtype, threads, data, net, train_batches, test_batches, notices, precision_note = setup(
        config, network, recorded_precision=recorded)
    if network is not None and payload is not None:
        check_weights_fit(net, payload["model"], rundir.last_checkpoint(run_dir), network.label)
    if config.sync_bn and env.world_size > 1:
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    model = net
    if env.world_size > 1:
        model = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        model = torch.compile(model)
    optimizer = make_optimizer(config, net.parameters())
    schedule = make_schedule(config, optimizer, sum(train_batches.steps(images_in_epoch(config, train_batches.n, e))
                                                    for e in range(1, config.epochs + 1)))
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    name = config.model if network is None else network.label.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    run_dir = Path(run_dir or config.out or rundir.default_path(name, dataset_label(config.dataset)))
    replacing = payload is None and rundir.holds_run(run_dir)
    if replacing and rundir.finished_epochs(run_dir) and not config.overwrite:
        raise ConfigError(f"{run_dir} already holds a run with {rundir.finished_epochs(run_dir)} finished epoch(s): "
                          f"continue it with 'cnnlab train --resume {shlex.quote(str(run_dir))}', start it again "
                          "with --overwrite, or choose another --out")
    if env.main:
        if replacing:  # --overwrite, or a run that never finished an epoch: nothing in it is worth keeping
            rundir.clear(run_dir)
        rundir.prepare(run_dir)
    run = Run(config, run_dir, threads, env, device, dtype, model, net, optimizer, schedule, scaler, train_batches,
              test_batches, data.classes, data.source, network=network and network.record(), notices=notices,
              precision_note=precision_note,
              hard=LossMemory(train_batches.n, device) if config.hard_fraction < 1 else None)
    if payload is not None:
        run.restore(payload)
    return run


def describe(run: Run) -> dict:
    """What config.json records: the settings, where things came from and what ran them."""
    return {
        "config": run.settings(),
        "dataset_source": run.source,
        "classes": list(run.classes),
        "device": str(run.device),
        "precision": run.evaluation(run.config.epochs).precision,
        "threads": run.threads,
        "openmp": {k: os.environ[k] for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")
                   if k in os.environ},
        "world_size": run.env.world_size,
        "input_size": run.train_batches.size,
        "in_channels": run.train_batches.channels,
        "train_images": run.train_batches.n,
        "test_images": run.test_batches.n,
        "parameters": sum(p.numel() for p in run.net.parameters()),
        # per image: `cnnlab compare` needs no model
        "mult_adds": mult_adds(run.net, run.train_batches.channels, run.train_batches.size),
        **({"network": run.network} if run.network else {}),
        **({"notices": run.notices} if run.notices else {}),
        **({"precision_note": run.precision_note} if run.precision_note else {}),
        "versions": {"cnnlab": __version__, "torch": torch.__version__, "python": platform.python_version(),
                     "numpy": __import__("numpy").__version__},
        "host": platform.node(),
    }


def mult_adds(net: nn.Module, channels: int, size: int) -> int:
    """Multiply-adds of one size x size image through `net` (one forward in eval mode; nothing changes)."""
    from .inspect import summarize

    with torch.random.fork_rng(devices=[]):
        return summarize(net, (channels, size, size)).mult_adds


def last_good(run: Run) -> str:
    return f"last good checkpoint: {rundir.last_checkpoint(run.run_dir)}"


# ---------------------------------------------------------------- one epoch
def train_epoch(run: Run, stop: StopFlag, reporter) -> bool:
    """One pass over the training data from step `run.step`; returns False if a signal asked to stop."""
    cfg, model, optimizer, hard = run.config, run.model, run.optimizer, run.hard
    run.train_batches.set_epoch(run.epoch)
    if hard is not None:
        chosen = images_in_epoch(cfg, run.train_batches.n, run.epoch)
        run.train_batches.select(hard.hardest(chosen) if chosen < run.train_batches.n else None)
    steps = len(run.train_batches)
    model.train()
    if run.step == 0:
        run.sums.lr = optimizer.param_groups[0]["lr"]
    # Running sums stay on the device: no host synchronisation per step.
    loss_sum = torch.tensor(run.sums.loss, dtype=torch.float64, device=run.device)
    correct = torch.tensor(run.sums.correct, dtype=torch.float64, device=run.device)
    count, seconds = run.sums.count, run.sums.seconds
    reporter.epoch_start(run.epoch, steps, run.step)
    start = time.perf_counter()
    batches = run.train_batches.indexed()
    for _ in range(run.step):  # resuming mid-epoch: replay the order, skip what was done
        next(batches)
    for index, x, y in batches:
        logits, loss = forward_loss(model, x, y, cfg, run.device.type, run.dtype, "none" if hard else "mean")
        if hard is not None:
            hard.record(index, loss)
            loss = loss.mean()
        optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        run.scaler.step(optimizer)
        run.scaler.update()
        run.schedule.step()
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        count += len(y)
        run.step += 1
        if run.step % REPORT_EVERY == 0 or run.step == steps:
            mean_loss = loss_sum.item() / count
            if not distributed.agree_all_finite(mean_loss, run.env, run.device):  # every rank stops here
                what = "nan or inf in another process" if math.isfinite(mean_loss) else mean_loss
                raise TrainingError(f"loss became {what} in epoch {run.epoch} (step {run.step}); stopped. "
                                    + last_good(run))
            elapsed = seconds + time.perf_counter() - start
            reporter.step(run.step, mean_loss, correct.item() / count, count * run.env.world_size / elapsed)
        if distributed.agree_to_stop(stop, run.env, run.device, run.step):
            break
    run.sums = EpochSums(loss_sum.item(), correct.item(), count, seconds + time.perf_counter() - start, run.sums.lr)
    return run.step == steps


def finish_epoch(run: Run) -> dict:
    """Evaluate the finished epoch and write it: best.pt (if it is the best yet), last.pt, metrics.csv."""
    sums = run.sums.total(run.env, run.device)
    if run.hard is not None:
        run.hard.end_epoch(all_sum=partial(distributed.all_sum, env=run.env))
    distributed.broadcast_buffers(run.net, run.env)
    score = evaluate(run.model, run.test_batches, run.evaluation(run.epoch),
                     all_sum=partial(distributed.all_sum, env=run.env))
    row = sums.row(run.epoch, score.loss, score.accuracy)
    if not math.isfinite(row["test_loss"]):
        raise TrainingError(f"test loss became {row['test_loss']} after epoch {run.epoch}; stopped. " + last_good(run))
    best = max((r["test_acc"] for r in run.history), default=-1.0)
    run.history.append(row)
    run.epoch, run.step, run.sums = run.epoch + 1, 0, EpochSums()
    # Checkpoints first: metrics.csv appearing means the epoch is safely on disk. best.pt before last.pt:
    # killed between the two, the resumed run redoes this epoch identically and writes best.pt again.
    if run.env.main:
        if row["test_acc"] > best:
            run.save("best")
        run.save("last")
        rundir.write_metrics(run.run_dir, run.history)
    return row


# ---------------------------------------------------------------- the whole run
def train_run(run: Run, reporter=None, stop: StopFlag | None = None) -> list[dict]:
    """Train `run` to its last epoch; returns the per-epoch history. A signal (see cnnlab.signals) at any moment
    stops it at the next safe point with last.pt saved, and raises Interrupted: before the first step, between
    steps, after an epoch's files, or after the final outputs."""
    if stop is None:
        with StopFlag() as stop:
            return train_run(run, reporter, stop)
    reporter = reporter if reporter is not None and run.env.main else NullReporter()
    # Another process that vanishes stops this one with one line (see distributed.Watchdog), not a traceback.
    with distributed.peers_watched(run.env, f"The run continues from its last checkpoint: relaunch the job with "
                                            f"'cnnlab train --resume {run.run_dir}'"):
        return _train_run(run, reporter, stop)


def _train_run(run: Run, reporter, stop: StopFlag) -> list[dict]:
    info = describe(run)
    distributed.barrier(run.env)  # every rank has seen --out empty (build_run) before rank 0 writes into it
    if run.env.main:
        remove_stale_temporaries(run.run_dir, rundir.RUN_FILES)  # a kill during a write leaves its temporary file
        rundir.write_config(run.run_dir, info)
        if not run.resumed:
            run.save("last")  # from here on the run can always be resumed
        elif run.history:  # killed between last.pt and metrics.csv: bring metrics.csv up to the checkpoint
            rundir.write_metrics(run.run_dir, run.history)
    # the header also says where this invocation starts (a resumed run's epoch and step); not a recorded setting
    steps = run.train_batches.steps(images_in_epoch(run.config, run.train_batches.n, run.epoch))
    start = {"epoch": run.epoch, "step": run.step, "steps": steps, "resumed": run.resumed}
    reporter.start({**info, "start": start}, run.run_dir)
    board = open_board(run) if run.config.tensorboard and run.env.main else None
    while run.epoch <= run.config.epochs and not distributed.agree_to_stop(stop, run.env, run.device):
        if not train_epoch(run, stop, reporter):
            run.sums = run.sums.total(run.env, run.device)  # rank 0's checkpoint holds every rank's sums
            if run.hard is not None:  # and every rank's losses of the epoch so far
                run.hard.gather(all_sum=partial(distributed.all_sum, env=run.env))
            run.save("last")
            break
        row = finish_epoch(run)
        reporter.epoch_end(row)
        if board:
            board.epoch_end(run, row)
    if run.env.main and run.history:
        from .plots import plot_curves

        plot_curves({run.config.model: run.history}, rundir.curves_path(run.run_dir))
    distributed.barrier(run.env)
    if distributed.agree_to_stop(stop, run.env, run.device):
        raise Interrupted(run.run_dir, stop.signame)
    reporter.finish(run.history, str(run.device))
    return History(run.history, run.run_dir)


# ---------------------------------------------------------------- entry points
class History(list):
    """The per-epoch rows (as in metrics.csv), carrying the run directory they were written to."""

    def __init__(self, rows, run_dir):
        super().__init__(rows)
        self.run_dir = Path(run_dir)


class TrainResult(NamedTuple):
    """What cnnlab.train returns: unpacks as (model, history); shows as one line in a notebook."""

    model: nn.Module
    history: History

    @property
    def run_dir(self) -> Path:
        return self.history.run_dir

    def __repr__(self) -> str:
        h = self.history
        if not h:
            return f"TrainResult({type(self.model).__name__}, no finished epoch, run directory {self.run_dir})"
        best = max(h, key=lambda r: r["test_acc"])
        return (f"TrainResult({type(self.model).__name__}, {len(h)} epochs: test accuracy {h[-1]['test_acc']:.4f} "
                f"(best {best['test_acc']:.4f} at epoch {best['epoch']}), run directory {self.run_dir})")


def user_network(model) -> UserNetwork | None:
    """None for a registered name (or no model); else the user's network: an import reference the caller named
    (imported now), an nn.Module instance, or a class / zero-argument factory."""
    if model is None or (isinstance(model, str) and not is_reference(model)):
        return None
    if isinstance(model, str):
        return UserNetwork.of(import_reference(model), reference=model)
    return UserNetwork.of(model)


def fit(config: TrainConfig, reporter=None, run_dir=None, payload=None,
        network: UserNetwork | None = None) -> TrainResult:
    """Train `config` (with the user's `network`, if given), or continue from checkpoint `payload` in `run_dir`;
    returns (model, per-epoch history)."""
    run = build_run(config, run_dir, payload, network)
    history = train_run(run, reporter)
    return TrainResult(run.net, history)


def resume_settings(run_dir, model=None, **overrides) -> tuple[TrainConfig, dict]:
    """The config and checkpoint to continue the run in `run_dir` from its last.pt, with `overrides` applied:
    RESUME_OPTIONS may change; any other option may be given only with the value the run was saved with. A run
    of the user's own network needs `model` (checked to fit later); a registered name must be the run's own."""
    check_options(overrides)
    if isinstance(model, str) and not is_reference(model):  # a registered name: compared like any option
        overrides, model = {**overrides, "model": model}, None
    path, payload = rundir.load_resume_state(run_dir, model)
    settings = dict(payload["config"])
    differing = []
    for name, value in overrides.items():
        if value is None:
            continue
        if name in RESUME_OPTIONS:
            settings[name] = value
        elif not _same_setting(name, value, settings.get(name)):  # the original command's own options may stay
            flag = "model" if name == "model" else f"--{name.replace('_', '-')}"
            differing.append(f"{flag} {value} (the run has {settings.get(name)})")
    if differing:
        raise ConfigError("--resume keeps the run's saved settings, and these differ from them: "
                          f"{'; '.join(differing)}; "
                          f"only --{', --'.join(o.replace('_', '-') for o in RESUME_OPTIONS)} may change")
    rundir.require_training_state(path, payload)
    unknown = sorted(set(settings) - {f.name for f in fields(TrainConfig)})
    if unknown:
        raise CheckpointError(f"{path}: cannot resume from it: settings unknown to this cnnlab ({', '.join(unknown)})")
    return TrainConfig(**settings).validate(), payload


def _same_setting(name: str, given, saved) -> bool:
    if name in ("out", "data_dir") and given is not None and saved is not None:
        return Path(given).resolve() == Path(saved).resolve()
    return given == saved


def restart_state(config: TrainConfig, network: UserNetwork | None = None) -> tuple[TrainConfig, dict] | None:
    """Under `torchrun --max-restarts`: the (config, checkpoint) to continue, when torchrun restarted a process of
    this job after a failure and --out already holds a run with these very settings (the one this job began);
    None otherwise. The ranks decide together: a machine that rejoins fresh continues the run with the others."""
    env = distributed.join(config.batch_size, config.device, config.sync_bn)
    device = distributed.select_device(config.device, env.local_rank)
    if not distributed.agree_any(distributed.restarted() and config.out is not None and rundir.holds_run(config.out),
                                 env, device):
        return None
    saved, payload = resume_settings(config.out, network)
    differ = [k for k, v in config.to_dict().items() if k not in ("out", "threads") and getattr(saved, k) != v]
    return None if differ else (saved, payload)


def resume(run_dir, reporter=None, model=None, **overrides) -> TrainResult:
    """Continue the run in `run_dir` from its last.pt with its saved settings (`overrides`: RESUME_OPTIONS); a
    run of the user's own network needs that network again as `model` (same architecture)."""
    network = user_network(model)
    config, payload = resume_settings(run_dir, model if network is None else network, **overrides)
    return fit(config, reporter, run_dir=run_dir, payload=payload, network=network)


def train(model=None, *, resume_from=None, progress: bool = True, **options) -> TrainResult:
    """Python entry point with the options of `cnnlab train` (see TrainConfig and `cnnlab recipes`). `model` is a
    registered name, an import reference ("pkg.module:Net", "path/to/file.py:Net"), or your own network: an
    nn.Module (trained in place) or a class / zero-argument function returning one. Returns (model, history);
    `history.run_dir` (also `.run_dir` of the result) is the run directory.

    >>> net, history = cnnlab.train("basic-cnn", dataset="synthetic", epochs=1)
    >>> result = cnnlab.train(Net(), dataset="fashion-mnist", recipe="d2l-lenet", epochs=2)"""
    from .report import default_reporter

    reporter = default_reporter() if progress else None
    if resume_from is not None:
        return resume(resume_from, reporter, model, **options)
    network = user_network(model)
    return fit(resolve({"model": network.label if network else model, **options}, own_network=network is not None),
               reporter, network=network)
