"""The speed-run's ablations that are not `cnnlab train` options: the recipe's loop written out (the trainer's
data batches and flip augmentation, float32 or bf16 autocast (`precision`), channels_last, Nesterov SGD with a
one-cycle schedule, label smoothing, mirror test-time augmentation at the end), with one change at a time.
docs/speedrun.md lists what each bought. The defaults are the first speed-run recipe (a learned first conv with
batch norm, widths 16-32-64, no hard-example mining), which the ablation table's earlier rows change one thing at
a time. `python benchmarks/speedrun_variants.py OPTIONS`; the recipes as they are now:

    speedrun:    stem=whiten stem_bn=0 widths=16-32-48 epochs=8 focus=0.4
    speedrun94 before its stride-2 conv at 14x14 (which this script does not build):
                 stem=whiten stem_bn=0 hidden=128 convs7=1 shift=1 epochs=18 focus=0.4 focus_from=2
    the first recipe with a 128-unit hidden layer, seed 1:  hidden=128 seed=1

Options (key=value): epochs (5), seed (0), lr (0.2, the peak), batch (256), smoothing (0.05), decay (5e-4), widths
(16-32-64), hidden (0: the recipe's single linear layer), ema (0: none; else the per-step decay), warmup (0.25 of
the steps), final_div (1e4: the last rate is peak / 25 / final_div), decay_norm (1: weight decay on batch-norm
weights and biases too; 0: on conv and linear weights only), frozen_stem (0; 1: the first conv keeps its initial
random weights), shift_tta (0; 1: the final evaluation also averages the mirrored and plain images shifted by one
pixel up, down, left and right: 10 views), stem (pool: the recipe's 3x3 conv and 2x2 max-pool at 28x28; stride2: a
stride-2 3x3 conv; unshuffle: pixel-unshuffle to 4 channels at 14x14, then the 3x3 conv; whiten: speedrun94-net's
frozen whitening conv), focus (1.0; f < 1: from epoch focus_from (3) on, train each epoch on the fraction f of the
images with the highest loss when last seen), shift (0; N: in training, move each image by its own random offset of
up to N pixels each way), recal (0; N: before the final evaluation, recompute the batch-norm statistics over N
training images, augmented as in training), full_last (0; N: the last N epochs train on all the images again),
precision (fp32; bf16: bf16 autocast, as every row before round 3 ran), evals (all: the test accuracy after every
epoch; last: only the final one, as the result needs), stem_bn (1; 0: no batch norm after the stem's pool), flip
(random: each image mirrored with probability 1/2 in every epoch; alternate: each image mirrored in every other
epoch, from a random start, as airbench does), convs7 (2; 1: one conv at 7x7). Prints the final test accuracy (and
the EMA's), the training seconds and every epoch's accuracy."""
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn  # noqa: E402

from cnnlab.data import Batches, load_dataset  # noqa: E402
from cnnlab.models.speedrun import make_speedrun_net  # noqa: E402
from cnnlab.prepare import fit_to_data  # noqa: E402
from cnnlab.steps import augment, shift_each  # noqa: E402

DEFAULTS = dict(epochs=5, seed=0, lr=0.2, batch=256, smoothing=0.05, decay=5e-4, widths="16-32-64", hidden=0,
                ema=0.0, warmup=0.25, final_div=1e4, decay_norm=1, frozen_stem=0, shift_tta=0, stem="pool", focus=1.0,
                focus_from=3, shift=0, threads=2,
                recal=0, full_last=0, precision="fp32", evals="all", stem_bn=1, flip="random", convs7=2)


def options(argv) -> dict:
    given = dict(item.split("=", 1) for item in argv)
    unknown = set(given) - set(DEFAULTS)
    if unknown:
        sys.exit(f"speedrun_variants.py: unknown option(s) {sorted(unknown)}; known: {', '.join(DEFAULTS)}")
    return {k: type(v)(given[k]) if k in given else v for k, v in DEFAULTS.items()}


def build(o) -> nn.Module:
    widths = tuple(int(w) for w in o["widths"].split("-"))
    net = make_speedrun_net(widths, hidden=o["hidden"], whiten=o["stem"] == "whiten", convs_at_7=o["convs7"])
    if o["stem"] == "stride2":  # a stride-2 3x3 conv instead of conv + 2x2 max-pool at 28x28
        net.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, stride=2, padding=1, bias=False), *net.stem[2:])
    elif o["stem"] == "unshuffle":  # each 2x2 block of pixels as 4 channels, then the 3x3 conv at 14x14
        net.stem = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(4, widths[0], 3, padding=1, bias=False),
                                 *net.stem[2:])
    elif o["stem"] not in ("pool", "whiten"):
        sys.exit(f"speedrun_variants.py: stem must be pool, stride2, unshuffle or whiten, got '{o['stem']}'")
    if not o["stem_bn"]:  # the stem's conv and pool straight into ReLU, no batch norm
        net.stem = nn.Sequential(*[m for m in net.stem if not isinstance(m, nn.BatchNorm2d)])
    if o["frozen_stem"]:
        net.stem[0].weight.requires_grad_(False)
    return net.to(memory_format=torch.channels_last)


def shifted(x, dy: int, dx: int):
    """x moved by (dy, dx) pixels, the border filled with zeros."""
    h, w = x.shape[-2:]
    return F.pad(x, (1, 1, 1, 1))[:, :, 1 - dy:1 - dy + h, 1 - dx:1 - dx + w]


def autocast(o):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=o["precision"] == "bf16")


def accuracy(model, batches, mirror: bool, shifts: bool = False, o=DEFAULTS) -> float:
    model.eval()
    correct = 0
    moves = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)] if shifts else [(0, 0)]
    with torch.no_grad(), autocast(o):
        for x, y in batches:
            views = [x, x.flip(-1)] if mirror else [x]
            logits = sum(model(shifted(v, dy, dx)).float() for v in views for dy, dx in moves)
            correct += (logits.argmax(1) == y).sum().item()
    model.train()
    return correct / batches.n


def kept(n: int, o, epoch: int) -> int:
    """Images trained on in `epoch`: all of them, or from epoch focus_from on the `focus` fraction with the
    highest loss when last seen."""
    if epoch < o["focus_from"] or epoch > o["epochs"] - o["full_last"]:
        return n
    return max(1, round(o["focus"] * n))


def epoch_batches(train: Batches, losses, o, epoch: int):
    """The epoch's batches as index tensors into the training set, in the epoch's seeded order."""
    order = train.order()
    count = kept(train.n, o, epoch)
    if count < train.n:
        hardest = losses.topk(count).indices
        order = hardest[torch.randperm(count, generator=torch.Generator().manual_seed(o["seed"] * 7 + epoch))]
    return order.split(train.batch_size)


def recalibrate(net, train: Batches, o) -> None:
    """Batch-norm running statistics recomputed (a plain average) over o["recal"] training images."""
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    index = torch.randperm(train.n, generator=torch.Generator().manual_seed(o["seed"]))[:o["recal"]]
    with torch.no_grad(), autocast(o):
        for part in index.split(1000):
            x = augment(train.transform(train.images[part]), "flip")
            net(shift_each(x, o["shift"]) if o["shift"] else x)


def main():
    o = options(sys.argv[1:])
    torch.set_num_threads(o["threads"])
    data = load_dataset("fashion-mnist")
    train = Batches(data.train, o["batch"], shuffle=True, seed=o["seed"], mean=data.mean, std=data.std,
                    channels_last=True)
    test = Batches(data.test, 1000, mean=data.mean, std=data.std, channels_last=True)
    torch.manual_seed(o["seed"])
    net = build(o)
    fit_to_data(net, train)  # the whitening stem's filters, as the trainer sets them
    trained = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    groups = [{"params": [p for n, p in trained if o["decay_norm"] or p.ndim > 1], "weight_decay": o["decay"]},
              {"params": [p for n, p in trained if not (o["decay_norm"] or p.ndim > 1)], "weight_decay": 0.0}]
    optimizer = torch.optim.SGD(groups, lr=o["lr"], momentum=0.9, nesterov=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=o["lr"], total_steps=sum(
        math.ceil(kept(train.n, o, e) / o["batch"]) for e in range(1, o["epochs"] + 1)),
                                                   pct_start=o["warmup"], final_div_factor=o["final_div"])
    ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(o["ema"]), use_buffers=True) if o["ema"] else None
    accs, seconds = [], 0.0
    losses = torch.zeros(train.n)  # each training image's loss when last seen (focus)
    start_flipped = torch.rand(train.n, generator=torch.Generator().manual_seed(o["seed"])) < 0.5  # flip=alternate
    for epoch in range(1, o["epochs"] + 1):
        train.set_epoch(epoch)
        start = time.perf_counter()
        for index in epoch_batches(train, losses, o, epoch):
            x, y = train.transform(train.images[index]), train.labels[index]
            with autocast(o):
                if o["flip"] == "alternate":
                    x = torch.where((start_flipped[index] ^ bool(epoch % 2)).view(-1, 1, 1, 1), x.flip(-1), x)
                else:
                    x = augment(x, "flip")
                x = shift_each(x, o["shift"]) if o["shift"] else x
                per_image = F.cross_entropy(net(x), y, label_smoothing=o["smoothing"],
                                            reduction="none")
                loss = per_image.mean()
            losses[index] = per_image.detach().float()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            if ema is not None:
                ema.update_parameters(net)
        seconds += time.perf_counter() - start
        last = epoch == o["epochs"]
        if last and o["recal"]:
            print(f"before recalibration: {accuracy(net, test, mirror=True, o=o):.4f}", flush=True)
            start = time.perf_counter()
            recalibrate(net, train, o)
            seconds += time.perf_counter() - start
        if last or o["evals"] == "all":
            accs.append(accuracy(net, test, mirror=last, shifts=last and bool(o["shift_tta"]), o=o))
            print(f"epoch {epoch}: test accuracy {accs[-1]:.4f}", flush=True)
    changed = {k: v for k, v in o.items() if v != DEFAULTS[k]}
    extra = f", EMA of the weights {accuracy(ema.module, test, mirror=True, o=o):.4f}" if ema is not None else ""
    print(f"{changed or 'the recipe'}: test accuracy {accs[-1]:.4f}{extra}; training {seconds:.1f} s")


if __name__ == "__main__":
    main()
