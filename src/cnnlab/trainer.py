"""One trainer for every model: zero_grad -> forward -> cross-entropy -> backward -> step, test accuracy per
epoch, exact resume, clean stop on a signal at any moment, and the fast path (data in memory, bf16 autocast,
channels_last, no per-step host sync). Read top to bottom: building a run, one epoch, the whole run, then the
entry points (fit, resume, train).

The pieces of a step live in cnnlab.steps, preparing a run (device, data, model) in cnnlab.prepare, what a run
holds and saves in cnnlab.runstate, the resume policy in cnnlab.resume_policy, the run directory's files in
cnnlab.rundir, evaluation in cnnlab.evaluate, the torchrun plumbing in cnnlab.distributed, display in a reporter
(cnnlab.report): training returns data (the per-epoch history)."""
import math
import shlex
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from . import distributed, lr_find, rundir
from .checkpoint import remove_stale_temporaries
from .config import TrainConfig, keyword, resolve
from .data import dataset_label
from .errors import CnnlabError, ConfigError
from .evaluate import evaluate
from .hard_examples import LossMemory
from .network import UserNetwork, check_weights_fit, import_reference, is_reference
from .prepare import setup
from .report import NullReporter
from .resume_policy import resume_settings
from .runstate import Run, describe
from .signals import StopFlag
from .steps import EpochSums, forward_loss, images_in_epoch, make_optimizer, make_schedule
from .tensorboard import open_board

REPORT_EVERY = 25  # steps between progress updates: the only points where the loop reads values back


class TrainingError(CnnlabError):
    """The run cannot go on (e.g. the loss became NaN). Raised on every rank at once: only rank 0 reports it."""

    every_rank = True


class Interrupted(Exception):
    """SIGINT/SIGTERM arrived; a checkpoint was saved at `run_dir`, from which the run resumes exactly."""

    def __init__(self, run_dir, signame):
        super().__init__(f"{signame}: checkpoint saved in {run_dir}")
        self.run_dir, self.signame = run_dir, signame


# ---------------------------------------------------------------- building the run
def build_run(config: TrainConfig, run_dir=None, payload=None, network: UserNetwork | None = None,
              session: distributed.Session | None = None) -> Run:
    """Set up (see cnnlab.prepare.setup) and build the optimizer and schedule for `config`, continuing checkpoint
    `payload` if given (no training yet). Nothing is written before the user's network has passed its probe step.
    `session`: the run's part in a torchrun job, if the caller joined it already (else joined here)."""
    session = (session or distributed.Session(config.batch_size, config.device, config.sync_bn)).join()
    recorded = payload["evaluation"].get("precision") if payload is not None else None
    finding = config.lr == "find"  # the LR range test, on the run's own setup; its suggestion becomes the rate
    prepared = setup(replace(config, lr=lr_find.START) if finding else config, network, recorded_precision=recorded,
                     session=session)
    if finding:  # the test leaves the model, its buffers and the random state as it found them
        prepared = prepared._replace(config=replace(prepared.config, lr=lr_find.find_on(prepared).suggestion))
    config, env, device, dtype, threads, data, net, train_batches, test_batches, notices, precision_note = prepared
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
              precision_note=precision_note, session=session,
              hard=LossMemory(train_batches.n, device) if config.hard_fraction < 1 else None)
    if payload is not None:
        run.restore(payload)
    return run



def last_good(run: Run) -> str:
    return f"last good checkpoint: {rundir.last_checkpoint(run.run_dir)}"


# ---------------------------------------------------------------- one epoch
def train_epoch(run: Run, stop: StopFlag, reporter) -> bool:
    """One pass over the training data from step `run.step`, saving last.pt every --save-minutes on the way;
    returns False if a signal asked to stop."""
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
    start = saved = time.perf_counter()
    save_every = cfg.save_minutes * 60

    def sums_so_far():
        return EpochSums(loss_sum.item(), correct.item(), count, seconds + time.perf_counter() - start, run.sums.lr)

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
        if save_every and run.step < steps and distributed.agree_any(
                time.perf_counter() - saved >= save_every, run.env, run.device, run.step):
            run.sums = sums_so_far()
            save_mid_epoch(run)
            saved = time.perf_counter()
    run.sums = sums_so_far()
    return run.step == steps


def save_mid_epoch(run: Run) -> None:
    """last.pt in the middle of the epoch, `run.sums` this rank's sums so far; every rank calls it at the same
    step. The checkpoint carries the job's sums and every rank's losses of the epoch (rank 0 carries them on at a
    resume); an epoch that goes on adds to each rank's own sums, held by train_epoch."""
    run.sums = run.sums.total(run.env, run.device)
    if run.hard is not None:
        run.hard.gather(all_sum=partial(distributed.all_sum, env=run.env))
    run.save("last")


def finish_epoch(run: Run) -> dict:
    """Evaluate the finished epoch and write it: best.pt (if it is the best yet), last.pt, metrics.csv."""
    sums = run.sums.total(run.env, run.device)
    if run.hard is not None:
        run.hard.end_epoch(all_sum=partial(distributed.all_sum, env=run.env))
    distributed.broadcast_buffers(run.net, run.env)
    if run.tests(run.epoch):
        score = evaluate(run.model, run.test_batches, run.evaluation(run.epoch),
                         all_sum=partial(distributed.all_sum, env=run.env))
        row = sums.row(run.epoch, score.loss, score.accuracy)
        if not math.isfinite(row["test_loss"]):
            raise TrainingError(f"test loss became {row['test_loss']} after epoch {run.epoch}; stopped. "
                                + last_good(run))
    else:
        row = sums.row(run.epoch, None, None)
    run.history.append(row)
    run.epoch, run.step, run.sums = run.epoch + 1, 0, EpochSums()
    # Checkpoints first: metrics.csv appearing means the epoch is safely on disk. best.pt before last.pt:
    # killed between the two, the resumed run redoes this epoch identically and writes best.pt again.
    if run.env.main:
        if rundir.best_row(run.history) is row:  # tested, and better than every epoch before
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
    # The run's session ends with its training, also after an error.
    hint = f"The run continues from its last checkpoint: relaunch the job with 'cnnlab train --resume {run.run_dir}'"
    session = run.session or distributed.Session(run.config.batch_size)  # built elsewhere: a single process
    with session, session.peers_watched(hint):
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
            save_mid_epoch(run)
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
        return (f"TrainResult({type(self.model).__name__}, {len(h)} epochs: {rundir.accuracy_line(h)}, "
                f"run directory {self.run_dir})")


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
    config = resolve({"model": network.label if network else model, **options}, own_network=network is not None,
                     spell=keyword)  # errors name options as the caller wrote them: epochs=, not --epochs
    return fit(config, reporter, network=network)


# Moved out of this module by concern; the old names keep working for a release.
_MOVED = {**dict.fromkeys(("xavier_init", "shift_each", "normalization"), "steps"),
          **dict.fromkeys(("Setup", "default_model", "user_model", "probe_user_model", "fit_to_data", "RECORDED",
                           "timed_precision"), "prepare"),
          **dict.fromkeys(("RESUME_OPTIONS", "restart_state"), "resume_policy")}


def __getattr__(name):
    if name in _MOVED:
        import importlib
        import warnings

        warnings.warn(f"cnnlab.trainer.{name} moved to cnnlab.{_MOVED[name]}.{name}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(f"cnnlab.{_MOVED[name]}"), name)
    raise AttributeError(f"module 'cnnlab.trainer' has no attribute '{name}'")
