"""Evaluation of a trained model on a data split: logits for every image, accuracy overall and per class."""
import torch


@torch.no_grad()
def predict_split(model, batches) -> tuple[torch.Tensor, torch.Tensor]:
    """Float32 logits (N, classes) and labels (N,) for every batch, in order, on the CPU."""
    was_training = model.training
    model.eval()
    logits, labels = [], []
    for x, y in batches:
        logits.append(model(x).float().cpu())
        labels.append(y.cpu())
    model.train(was_training)
    return torch.cat(logits), torch.cat(labels)


def per_class_accuracy(logits, labels, classes) -> list[tuple[str, float, int]]:
    """(class name, accuracy, number of images) per class."""
    predicted = logits.argmax(1)
    rows = []
    for k, name in enumerate(classes):
        mask = labels == k
        n = int(mask.sum())
        rows.append((name, (predicted[mask] == k).float().mean().item() if n else float("nan"), n))
    return rows


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
