"""The learning-rate range test (Smith 2015, "Cyclical learning rates"; fastai's lr_find): train for a few
hundred steps while the rate rises exponentially from `start` to `end`, record the loss, smooth it, stop when
it diverges, and suggest a rate. The model's weights and buffers, the optimizer's state and the random
number generator are restored afterwards: the test leaves them as it found them.

The suggestion: the rate where the smoothed loss is lowest, divided by 10 (rule "minimum / 10"). At the
minimum the rate is already on the edge of diverging; a tenth of it is still on the steep, fast-learning part
of the curve. The steepest point of the curve is reported beside it."""
import copy
import dataclasses
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

# torch is imported inside the functions: `cnnlab lr-find --help` (its defaults come from here) stays fast

START, END, STEPS = 1e-6, 10.0, 200
SMOOTHING = 0.98  # exponential moving average of the loss, debiased (as fastai)
DIVERGE = 4.0  # stop once the smoothed loss exceeds 4x its minimum
MIN_STEPS = 10  # never call divergence before this many steps: the first losses are noisy
RULE = "minimum / 10"


@dataclass
class LRFinding:
    lrs: list  # the rate of each step
    losses: list  # the raw loss of each step
    smoothed: list  # debiased exponential moving average of the losses
    suggestion: float
    rule: str
    steepest: float  # the rate where the smoothed loss falls fastest (per unit of log rate)
    minimum: float  # the rate at the lowest smoothed loss
    diverged: bool  # stopped early because the loss ran away

    def describe(self) -> str:
        stop = f"stopped at lr {self.lrs[-1]:.3g}: loss diverged" if self.diverged else f"reached lr {self.lrs[-1]:.3g}"
        if not self.diverged and self.minimum == self.lrs[-1]:
            stop += " without diverging: the lowest loss is the range's end (a larger --end may find more)"
        return (f"suggested lr {self.suggestion:.3g} (rule: {self.rule}; lowest smoothed loss at lr "
                f"{self.minimum:.3g}, steepest descent at lr {self.steepest:.3g}); {len(self.lrs)} steps, {stop}")


def _suggest(lrs: list, smoothed: list) -> tuple[float, float, float]:
    """(suggestion, steepest, minimum) from the smoothed curve."""
    best = min(range(len(smoothed)), key=smoothed.__getitem__)
    minimum = lrs[best]
    # steepest: the most negative slope d(loss)/d(log lr), up to the minimum (afterwards the curve only rises)
    # (from MIN_STEPS on: the first few debiased averages are single noisy losses)
    first = min(MIN_STEPS, max(best - 1, 0))
    slopes = {i: (smoothed[i + 1] - smoothed[i]) / math.log(lrs[i + 1] / lrs[i]) for i in range(first, max(best, 1))
              if i + 1 < len(lrs)}
    steepest = lrs[min(slopes, key=slopes.__getitem__)] if slopes else minimum
    return minimum / 10, steepest, minimum


def range_test(model, batches, optimizer, *, start: float = START, end: float = END, steps: int = STEPS,
               smoothing: float = SMOOTHING, diverge: float = DIVERGE, step_fn=None,
               progress: bool = False) -> LRFinding:
    """Run the range test on `model` with `optimizer` over `batches` (an iterable of (x, y), cycled when it
    runs out). `step_fn(model, x, y)` returns the loss (default: cross-entropy of model(x)). The model and
    optimizer are restored afterwards."""
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    if not 0 < start < end or steps < 2:
        raise ConfigError(f"the range test needs 0 < start < end and at least 2 steps, got {start}, {end}, {steps}")
    step_fn = step_fn or (lambda m, x, y: F.cross_entropy(m(x), y))
    saved_model = copy.deepcopy(model.state_dict())
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    saved_rng = torch.get_rng_state()
    was_training = model.training
    lrs, losses, smoothed = [], [], []
    average, best, diverged = 0.0, math.inf, False
    factor = (end / start) ** (1 / (steps - 1))
    # one multiplier for every parameter group keeps the groups' ratios (e.g. a smaller rate for a backbone)
    base = [group["lr"] for group in optimizer.param_groups]
    model.train()
    try:
        source = iter(batches)
        for i in tqdm(range(steps), desc="lr range test", unit="step", leave=False, disable=None if progress else True):
            lr = start * factor ** i
            for group, b in zip(optimizer.param_groups, base):
                group["lr"] = lr * b / base[0] if base[0] else lr
            try:
                x, y = next(source)
            except StopIteration:
                if hasattr(batches, "set_epoch"):
                    batches.set_epoch(getattr(batches, "epoch", 0) + 1)
                source = iter(batches)
                x, y = next(source)
            loss = step_fn(model, x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            value = loss.item()
            lrs.append(lr)
            losses.append(value)
            if not math.isfinite(value):
                diverged = True
                smoothed.append(math.inf)
                break
            average = smoothing * average + (1 - smoothing) * value
            smoothed.append(average / (1 - smoothing ** (i + 1)))
            best = min(best, smoothed[-1])
            if i >= MIN_STEPS and smoothed[-1] > diverge * best:
                diverged = True
                break
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optimizer)
        torch.set_rng_state(saved_rng)
        model.train(was_training)
    finite = [(lr, s) for lr, s in zip(lrs, smoothed) if math.isfinite(s)]
    if len(finite) < 2:
        raise ConfigError(f"the range test diverged at once (loss {losses[-1]} at lr {lrs[-1]:.3g}); "
                          "start it at a lower rate")
    suggestion, steepest, minimum = _suggest([f[0] for f in finite], [f[1] for f in finite])
    return LRFinding(lrs, losses, smoothed, suggestion, RULE, steepest, minimum, diverged)


def find_lr_for(config, *, network=None, start: float = START, end: float = END, steps: int = STEPS,
                progress: bool = True, report: bool = True) -> LRFinding:
    """The range test for a training configuration (TrainConfig, any --lr) and the user's own `network` if given
    (cnnlab.network.UserNetwork): the data, model, initial weights, optimizer and augmentation `cnnlab train`
    would use (cnnlab.prepare.setup), on the training set. No run directory."""
    from . import distributed
    from .prepare import setup

    with distributed.Session(config.batch_size, config.device, config.sync_bn) as session:
        prepared = setup(dataclasses.replace(config, lr=start), network, progress=progress, session=session)
        return find_on(prepared, start=start, end=end, steps=steps, progress=progress, report=report)


def find_on(prepared, *, start: float = START, end: float = END, steps: int = STEPS, progress: bool = True,
            report: bool = True) -> LRFinding:
    """The range test on a prepared run (cnnlab.prepare.Setup): its model, training batches, optimizer and
    augmentation; the model and the random state are left as they were, so the run can start from it."""
    from .steps import forward_loss, make_optimizer

    optimizer = make_optimizer(prepared.config, prepared.net.parameters())

    def step(model, x, y):
        return forward_loss(model, x, y, prepared.config, prepared.device.type, prepared.dtype)[1].float()

    finding = range_test(prepared.net, prepared.train_batches, optimizer, start=start, end=end, steps=steps,
                         step_fn=step, progress=progress)
    if report:
        print(f"lr-find: {finding.describe()}", file=sys.stderr)
    return finding


def plot_finding(finding: LRFinding, path, title: str = "") -> Path:
    """Loss against learning rate (log scale): raw and smoothed, the suggestion and the minimum marked."""
    from .plots import _save, subplots

    fig, ax = subplots(figsize=(7, 4.2))
    finite = [s for s in finding.smoothed if math.isfinite(s)]
    ax.plot(finding.lrs, finding.losses, color="0.75", lw=0.8, label="loss per step")
    ax.plot(finding.lrs[:len(finite)], finite, color="C0", lw=1.8, label="smoothed")
    ax.axvline(finding.suggestion, color="C2", ls="--", label=f"suggested {finding.suggestion:.3g} ({finding.rule})")
    ax.axvline(finding.minimum, color="C3", ls=":", label=f"lowest smoothed loss at {finding.minimum:.3g}")
    ax.set_xscale("log")
    raw = [v for v in finding.losses if math.isfinite(v)]
    ax.set_ylim(min(raw) * 0.95, max(finite[0], min(finite)) * 1.6)  # from the lowest loss to well above the start
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(title or "learning-rate range test", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
