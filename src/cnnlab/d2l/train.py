"""d2l's training loops: chapter 3's train_epoch_ch3 / train_ch3 / predict_ch3 (any net and updater, where the
data is) and chapter 6's train_ch6 (Xavier init, SGD and cross-entropy on a device). Their curves go to an
Animator; in a terminal one line per epoch as well, since a terminal shows no figure."""
import time

import torch
from torch import nn

from ..network import trains_channels_last
from ..notebook import Progress, bar, in_notebook
from ..report import openmp_note
from .data import get_fashion_mnist_labels
from .figures import Animator, image_grid, show
from .metrics import Timer, correct, evaluate_accuracy, evaluate_accuracy_gpu
from .models import xavier_init

PROGRESS_INTERVAL = 0.5  # seconds between two updates of a notebook's progress line (each one is a host sync)


def train_epoch_ch3(net, train_iter, loss, updater) -> tuple[float, float]:
    """One pass over train_iter (d2l 3.6); returns (mean training loss, training accuracy). `updater` is a
    torch.optim.Optimizer or the book's own step function called with the batch size. `loss` may give one value
    per example (the book's reduction='none': averaged for an optimizer, summed for the book's sgd) or their mean."""
    if isinstance(net, nn.Module):
        net.train()
    loss_sum, hits, count = 0.0, 0, 0  # kept as tensors until the end: one host sync per epoch
    for X, y in train_iter:
        y_hat = net(X)
        l = loss(y_hat, y)
        if isinstance(updater, torch.optim.Optimizer):
            updater.zero_grad()
            l.mean().backward()
            updater.step()
        else:
            l.sum().backward()
            updater(X.shape[0])
        loss_sum += (l.detach().sum() if l.dim() else l.detach() * y.numel()).double()  # float64, as d2l's floats
        hits += correct(y_hat, y)
        count += y.numel()
    return float(loss_sum) / count, float(hits) / count


def train_ch3(net, train_iter, test_iter, loss, num_epochs: int, updater) -> None:
    """Train for num_epochs (d2l 3.6), plotting training loss, training accuracy and test accuracy per epoch.
    The book ends with three assertions on the final figures (train loss < 0.5, accuracies > 0.7) as its own
    self-check; here a run outside that range prints a note instead of raising, since an exercise may well land
    there on purpose."""
    animator = Animator(xlabel="epoch", xlim=[1, num_epochs], ylim=[0.3, 0.9],
                        legend=["train loss", "train acc", "test acc"], name="train_ch3", autosave=False)
    for epoch in range(num_epochs):
        train_metrics = train_epoch_ch3(net, train_iter, loss, updater)
        test_acc = evaluate_accuracy(net, test_iter)
        animator.add(epoch + 1, train_metrics + (test_acc,))
        animator.save()
        print(f"epoch {epoch + 1}/{num_epochs}: loss {train_metrics[0]:.3f}, train acc {train_metrics[1]:.3f}, "
              f"test acc {test_acc:.3f}", flush=True)
    train_loss, train_acc = train_metrics
    outside = [f"{name} {value:.3f}" for name, value, fine in (
        ("train loss", train_loss, train_loss < 0.5), ("train acc", train_acc, 0.7 < train_acc <= 1),
        ("test acc", test_acc, 0.7 < test_acc <= 1)) if not fine]
    if outside:
        print(f"note: {', '.join(outside)} outside the book's check (train loss < 0.5, accuracies > 0.7)")


def predict_ch3(net, test_iter, n: int = 6) -> None:
    """The first n test images of the first batch, titled with the true and the predicted class (d2l 3.6)."""
    X, y = next(iter(test_iter))
    trues = get_fashion_mnist_labels(y)
    preds = get_fashion_mnist_labels(net(X).argmax(axis=1))
    titles = [true + "\n" + pred for true, pred in zip(trues, preds)]
    fig, _ = image_grid(X[0:n].reshape((n, 28, 28)), 1, n, titles=titles[0:n])
    show(fig, "predict_ch3")  # show_images' grid, under its own name in d2l-figures/


def train_ch6(net, train_iter, test_iter, num_epochs: int, lr: float, device, path=None) -> None:
    """d2l's train_ch6: Xavier-uniform init of every Linear and Conv2d, plain SGD at `lr`, cross-entropy; the
    curves (train loss, train acc, test acc) live, then d2l's two closing lines. In a terminal one line per epoch
    as well, and the curves in d2l-figures/train_ch6.png (or `path`), rewritten after every epoch. Returns
    nothing, as d2l's does.

    The running sums stay on the device, in float64 as d2l's Python floats are: the host waits for them only
    when the curves get a point (5 times an epoch, as in d2l), so the printed figures are d2l's to the last digit
    without d2l's three host syncs per batch.

    On a CPU the network and its batches are held in the channels-last memory format when a trial step on the first
    batch shows the network's code runs that way (a .view() of a conv's output does not): the same arithmetic,
    laid out so that oneDNN's convolutions and PyTorch's pooling run faster (d2l's LeNet: 1.2x less CPU time per
    step, docs/d2l.md). A network that fails the trial trains as given."""
    xavier_init(net)
    print("training on", device)
    note = openmp_note(torch.get_num_threads()) if torch.device(device).type == "cpu" else None
    if note:
        print(note)
    net.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    animator = Animator(xlabel="epoch", xlim=[1, num_epochs], legend=["train loss", "train acc", "test acc"],
                        path=None if in_notebook() else path, name="train_ch6", autosave=False)
    progress = Progress(f"epoch 1/{num_epochs}") if animator.notebook else None
    timer, num_batches, seen, shown = Timer(), len(train_iter), 0, time.monotonic()
    channels_last = None
    for epoch in range(num_epochs):
        # sums of training loss and correct predictions (d2l's Accumulator, kept on the device), examples
        sums, count = torch.zeros(2, dtype=torch.float64, device=device), 0
        net.train()
        for i, (X, y) in enumerate(train_iter):
            timer.start()
            optimizer.zero_grad()
            X, y = X.to(device), y.to(device)
            if channels_last is None:  # the first batch decides, once
                channels_last = torch.device(device).type == "cpu" and X.dim() == 4 and trains_channels_last(net, X)
                if channels_last:
                    net.to(memory_format=torch.channels_last)
            if channels_last:
                X = X.contiguous(memory_format=torch.channels_last)
            y_hat = net(X)
            l = loss(y_hat, y)
            l.backward()
            optimizer.step()
            with torch.no_grad():
                sums += torch.stack([(l * X.shape[0]).double(), correct(y_hat, y).double()])
            count += X.shape[0]
            point = (i + 1) % max(1, num_batches // 5) == 0 or i == num_batches - 1
            due = progress is not None and (point or time.monotonic() - shown >= PROGRESS_INTERVAL)
            if point or due:
                total_loss, hits = sums.tolist()
                train_l, train_acc = total_loss / count, hits / count
            timer.stop()
            if point:
                animator.add(epoch + (i + 1) / num_batches, (train_l, train_acc, None))
            if progress:
                seen += X.shape[0]
                if due:
                    progress.update(f"epoch {epoch + 1}/{num_epochs} {bar(i + 1, num_batches)} loss {train_l:.3f}, "
                                    f"train acc {train_acc:.3f}, {seen / timer.sum():,.0f} examples/sec", force=True)
                    shown = time.monotonic()
        test_acc = evaluate_accuracy_gpu(net, test_iter)
        animator.add(epoch + 1, (None, None, test_acc))
        animator.save()  # the PNG once an epoch, beside the epoch's line
        if progress:
            progress.update(f"epoch {epoch + 1}/{num_epochs} done: loss {train_l:.3f}, train acc {train_acc:.3f}, "
                            f"test acc {test_acc:.3f}", force=True)
        else:
            print(f"epoch {epoch + 1}/{num_epochs}: loss {train_l:.3f}, train acc {train_acc:.3f}, "
                  f"test acc {test_acc:.3f}", flush=True)
    print(f"loss {train_l:.3f}, train acc {train_acc:.3f}, test acc {test_acc:.3f}")
    print(f"{count * num_epochs / timer.sum():.1f} examples/sec on {device!s}")
