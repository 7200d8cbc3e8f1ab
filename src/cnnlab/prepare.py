"""Preparing a run: device, precision, threads, data, batches and the initialised model, as one Setup that the
trainer and the LR range test (cnnlab.lr_find) both start from, so the test tunes the run it is for."""
import os
from dataclasses import replace
from typing import NamedTuple

import torch
from torch import nn

from . import distributed
from .config import TrainConfig
from .data import Batches, dataset_options, load_dataset
from .device import select_device, select_precision
from .models import create_model, model_info
from .network import UserNetwork, probe
from .steps import normalization, xavier_init


def default_model(config: TrainConfig, num_classes: int, in_channels: int) -> nn.Module:
    """The registered model `config.model`, initialised as `config.init` says."""
    net = create_model(config.model, num_classes=num_classes, in_channels=in_channels, ops=config.ops)
    if config.init == "xavier":
        xavier_init(net)
    return net


def user_model(network: UserNetwork, config: TrainConfig, num_classes: int, in_channels: int) -> nn.Module:
    """The user's own network, initialised as `config.init` says (a recipe's init applies to it too)."""
    net = network.build(num_classes, in_channels)
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
          recorded_precision: str | None = None, session: distributed.Session | None = None) -> Setup:
    """Device, precision, threads, data, batches and the initialised model for `config`. The network is the
    registered model `config.model`, or the user's own `network`: then the input size is --resize or the data
    set's own, and a probe step turns off the speed switches its code does not survive. `recorded_precision`: the
    autocast dtype a resumed run was trained in ("float32", "bfloat16"), kept when its precision is auto.
    `session`: the run's part in a torchrun job (joined here when not given)."""
    size = config.resize
    if network is None:
        info = model_info(config.model)
        size = size or info.input_size
        info.check_size(size)
    env = (session or distributed.Session(config.batch_size, config.device, config.sync_bn)).join().env
    device = select_device(config.device, env.local_rank)
    # --deterministic: auto precision is fp32 (never chosen by a timing), and PyTorch picks its deterministic kernels
    precision = "fp32" if config.deterministic and config.precision == "auto" else config.precision
    if precision == "auto" and recorded_precision in RECORDED:  # a resumed run keeps the arithmetic it started with
        precision = RECORDED[recorded_precision]
    dtype = select_precision(precision, device)
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
        net = user_model(network, config, len(data.classes), data.channels).to(device)
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

