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
