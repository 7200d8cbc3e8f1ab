"""A training run's state: everything it holds as resolved when it was built, how it is saved to a checkpoint
and restored from one, and what config.json records about it."""
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import distributed, rundir
from .config import TrainConfig
from .data import Batches
from .evaluate import Evaluation
from .hard_examples import LossMemory
from .steps import EpochSums
from .version import __version__


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
    session: distributed.Session | None = None  # its part in a torchrun job, closed when training ends
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

    def tests(self, epoch: int) -> bool:
        """Whether epoch `epoch` ends with a test pass: every --test-every'th epoch, and always the last."""
        every = self.config.test_every
        return epoch == self.config.epochs or (every > 0 and epoch % every == 0)

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
