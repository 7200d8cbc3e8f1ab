"""The one evaluation of a trained model, used by the trainer after every epoch, by `cnnlab eval` and by every
view: float32 logits computed under the run's autocast precision and test-time augmentation (a checkpoint
records both as an Evaluation), summed exactly (float64, across processes when distributed).
Then accuracy per class, confusions and the like from those logits."""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import DatasetError
from .network import first_tensor


@dataclass(frozen=True)
class Evaluation:
    """How a checkpoint's epoch was evaluated, and so how cnnlab.evaluate evaluates it again."""

    precision: str = "float32"  # the autocast dtype's name: float32 (no autocast), bfloat16 or float16
    tta: bool = False  # average the logits of each image and its mirror
    batch_size: int = 256
    channels_last: bool = False

    def to_dict(self) -> dict:
        return {"precision": self.precision, "tta": self.tta, "batch_size": self.batch_size,
                "channels_last": self.channels_last}


FLOAT32_EVALUATION = Evaluation()


AUTOCAST = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}  # the precisions a run records


def autocast_dtype(evaluation: Evaluation) -> torch.dtype | None:
    """The autocast dtype of a recorded precision, or None for plain float32; ValueError for any other name (a
    checkpoint's is checked at load: cnnlab.validate)."""
    if evaluation.precision not in AUTOCAST:
        raise ValueError(f"unknown evaluation precision {evaluation.precision!r}: choose {', '.join(AUTOCAST)}")
    return AUTOCAST[evaluation.precision]


def forward(model, x: torch.Tensor, evaluation: Evaluation = FLOAT32_EVALUATION) -> torch.Tensor:
    """Float32 logits of a batch, without gradients, under the evaluation's precision; with TTA the logits of
    each image and its mirror are averaged."""
    dtype = autocast_dtype(evaluation)
    with torch.no_grad(), torch.autocast(x.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        logits = first_tensor(model(x))  # a forward may return (logits, features)
        if evaluation.tta:
            logits = (logits + first_tensor(model(x.flip(-1)))) / 2
    return logits.float()


@dataclass
class Score:
    loss: float  # mean cross-entropy
    accuracy: float
    count: int  # images evaluated (on every process together)
    logits: torch.Tensor | None = None  # (N, classes) on the CPU, with keep=True (this process's images)
    labels: torch.Tensor | None = None


def evaluate(model, batches, evaluation: Evaluation = FLOAT32_EVALUATION, all_sum=None, keep: bool = False) -> Score:
    """Mean loss and accuracy of `model` (put in eval mode for the pass) over `batches`. `all_sum` adds a
    tensor over the processes of a distributed job; `keep` also returns the logits and labels."""
    was_training = model.training
    model.eval()
    totals, logits_kept, labels_kept = None, [], []
    for x, y in batches:
        logits = forward(model, x, evaluation)
        batch = torch.stack([F.cross_entropy(logits, y, reduction="sum").double(),
                             (logits.argmax(1) == y).sum().double(), torch.tensor(len(y), dtype=torch.float64,
                                                                                  device=y.device)])
        totals = batch if totals is None else totals + batch
        if keep:
            logits_kept.append(logits.cpu())
            labels_kept.append(y.cpu())
    model.train(was_training)
    if totals is None:  # this process had no images (distributed, a tiny test set)
        totals = torch.zeros(3, dtype=torch.float64, device=next(model.parameters()).device)
    if all_sum is not None:
        totals = all_sum(totals)
    loss, correct, count = totals.tolist()
    if count == 0:  # an accuracy of 0 / 0 is no figure: say so rather than report 0.0
        raise DatasetError("no test images to evaluate: the test set is empty (or cut to none by a limit); an "
                           "accuracy needs at least one image")
    score = Score(loss / count, correct / count, int(count))
    if keep:
        score.logits, score.labels = torch.cat(logits_kept), torch.cat(labels_kept)
    return score


def predict_split(model, batches, evaluation: Evaluation = FLOAT32_EVALUATION) -> tuple[torch.Tensor, torch.Tensor]:
    """Float32 logits (N, classes) and labels (N,) for every batch, in order, on the CPU."""
    score = evaluate(model, batches, evaluation, keep=True)
    return score.logits, score.labels


def per_class_accuracy(logits, labels, classes) -> list[tuple[str, float | None, int]]:
    """(class name, accuracy, number of images) per class; the accuracy is None for a class with no test image
    (shown as n/a: see shown_accuracy and untested_warning)."""
    predicted = logits.argmax(1)
    rows = []
    for k, name in enumerate(classes):
        mask = labels == k
        n = int(mask.sum())
        rows.append((name, (predicted[mask] == k).float().mean().item() if n else None, n))
    return rows


def shown_accuracy(accuracy: float | None, digits: int = 4) -> str:
    """A per-class accuracy as printed: n/a for a class with no test image."""
    return "n/a" if accuracy is None else f"{accuracy:.{digits}f}"


def untested_warning(rows) -> str | None:
    """A warning line naming the classes of per_class_accuracy's rows that have no test image, or None."""
    missing = [name for name, _, n in rows if n == 0]
    if not missing:
        return None
    names = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return (f"warning: {len(missing)} of {len(rows)} classes have no test image ({names}): their accuracy is n/a, "
            "and the overall accuracy leaves them out")


def confusion_matrix(logits, labels, num_classes: int) -> torch.Tensor:
    """(classes, classes) counts: row = true class, column = predicted class."""
    index = labels * num_classes + logits.argmax(1)
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def most_confused(matrix, classes, k: int = 5) -> list[tuple[str, str, int]]:
    """The k largest off-diagonal cells as (true class, predicted class, count), largest first, zeros left out."""
    off = matrix.clone()
    off.fill_diagonal_(0)
    counts, flat = off.flatten().sort(descending=True)
    n = len(classes)
    return [(classes[i // n], classes[i % n], c) for c, i in zip(counts[:k].tolist(), flat[:k].tolist()) if c > 0]


def confident_mistakes(logits, labels, k: int = 16) -> list[tuple[int, int, float]]:
    """The k wrong predictions made with the highest probability, as (index, predicted class, probability)."""
    probs = logits.softmax(1)
    confidence, predicted = probs.max(1)
    wrong = (predicted != labels).nonzero().flatten()
    order = confidence[wrong].argsort(descending=True)[:k]
    return [(int(i), int(predicted[i]), float(confidence[i])) for i in wrong[order]]


def top_k(logits, classes, k: int = 3) -> list[list[tuple[str, float]]]:
    """Per image, the k most probable classes as (name, probability), most probable first."""
    probs, index = logits.softmax(1).topk(min(k, logits.shape[1]), dim=1)
    return [[(classes[j], p) for j, p in zip(row_i.tolist(), row_p.tolist())] for row_i, row_p in zip(index, probs)]
