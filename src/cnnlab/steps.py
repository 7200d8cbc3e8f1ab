"""The pieces of a training step, shared by the trainer and the LR range test: weight init, optimizer and
schedule, augmentation, the forward pass with its loss, normalisation, and an epoch's running sums."""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import distributed
from .config import TrainConfig
from .data import dataset_spec
from .network import first_tensor


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


def shift_each(x: torch.Tensor, most: int, flip: torch.Tensor | None = None) -> torch.Tensor:
    """Each image moved by its own random offset of up to `most` pixels each way, the uncovered border filled
    with the background (the batch's lowest value: a black pixel once normalised). `flip` (one boolean per
    image, (N, 1, 1, 1)) mirrors those images first: the same result as flipping them before, in the same gather."""
    n, c, h, w = x.shape
    padded = F.pad(x, (most, most, most, most), value=x.min().item())
    dy, dx = torch.randint(0, 2 * most + 1, (2, n, 1, 1), device=x.device)
    width = w + 2 * most
    rows = dy + torch.arange(h, device=x.device).view(1, h, 1)
    cols = dx + torch.arange(w, device=x.device).view(1, 1, w)
    if flip is not None:  # the mirrored padded image is the padded mirror image
        cols = torch.where(flip.view(n, 1, 1), width - 1 - cols, cols)
    index = (rows * width + cols).view(n, 1, h * w).expand(n, c, h * w)
    moved = padded.flatten(2).gather(2, index).view(n, c, h, w)
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
    if kind == "shift-flip":
        return shift_each(x, 1, flip)
    x = torch.where(flip, x.flip(-1), x)
    if kind == "flip":
        return x
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

    def row(self, epoch: int, test_loss: float | None, test_acc: float | None) -> dict:
        """The metrics.csv row of a finished epoch (sums already totalled over the ranks); None for the test
        figures of an epoch without a test pass."""
        return {"epoch": epoch, "train_loss": round(self.loss / self.count, 6),
                "train_acc": round(self.correct / self.count, 6),
                "test_loss": None if test_loss is None else round(test_loss, 6),
                "test_acc": None if test_acc is None else round(test_acc, 6), "lr": self.lr,
                "seconds": round(self.seconds, 3),
                "images_per_s": round(self.count / self.seconds, 1)}

