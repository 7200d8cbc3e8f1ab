"""`cnnlab train`, `cnnlab eval` and `cnnlab recipes`. The train flags are derived from TrainConfig's fields."""
import argparse
import os
import sys
import typing
from dataclasses import fields

from ..config import RECIPES, TrainConfig

_SKIP = ("model", "recipe")  # positional / handled separately


def _flag_type(f):
    kind = typing.get_args(f.type)[0] if typing.get_args(f.type) else f.type
    if isinstance(kind, str):  # postponed annotations
        kind = {"int": int, "float": float, "str": str, "bool": bool}[kind.split("|")[0].strip()]
    return kind


def register(commands):
    p = commands.add_parser("train", help="train a model (see `cnnlab recipes` for presets)",
                            description="Train MODEL and leave a run directory with config.json, metrics.csv, "
                                        "last.pt, best.pt and curves.png. Options default to TrainConfig's values, "
                                        "then a --recipe's, then what you give here.",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model", nargs="?", help="model name (default: the recipe's, else basic-cnn)")
    p.add_argument("--recipe", help="preset: " + ", ".join(RECIPES))
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last.pt "
                   "(with its saved settings; --epochs may extend it)")
    for f in fields(TrainConfig):
        if f.name in _SKIP:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = _flag_type(f)
        help_text = f"{f.metadata['help']} (default: {f.default})"
        if kind is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            p.add_argument(flag, type=kind, choices=f.metadata.get("choices"), default=None, help=help_text,
                           metavar=None if f.metadata.get("choices") else f.name.split("_")[-1].upper())
    p.formatter_class = argparse.HelpFormatter  # defaults are spelled out above
    p.set_defaults(func=run_train)

    p = commands.add_parser("eval", help="test loss and accuracy of a checkpoint")
    p.add_argument("checkpoint", help="a last.pt / best.pt file or a run directory")
    p.add_argument("--dataset", help="data set to evaluate on (default: the one it was trained on)")
    p.add_argument("--data-dir", help="directory with the IDX files")
    p.add_argument("--per-class", action="store_true", help="also print accuracy per class")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.set_defaults(func=run_eval)

    p = commands.add_parser("recipes", help="list the training presets and their settings")
    p.set_defaults(func=run_recipes)


def run_train(args):
    from ..report import ConsoleReporter
    from ..trainer import Interrupted, RESUME_OPTIONS, fit, resume
    from ..config import resolve

    note = None  # why fewer threads than cores, said at the end (stderr stays one line when an input is wrong)
    options = {f.name for f in fields(TrainConfig)}
    given = {k: v for k, v in vars(args).items() if k in options and v is not None}
    try:
        if args.resume:
            extra = sorted(set(given) - set(RESUME_OPTIONS))
            if extra:
                from ..errors import ConfigError

                raise ConfigError(f"--resume keeps the run's saved settings; only --{', --'.join(RESUME_OPTIONS)} "
                                  f"may be given (got --{', --'.join(e.replace('_', '-') for e in extra)})")
            _, history = resume(args.resume, ConsoleReporter(), **given)
            run_dir = args.resume
        else:
            config = resolve({**given, "model": args.model, "recipe": args.recipe})
            if config.threads is None and "WORLD_SIZE" not in os.environ:  # torchrun divides the cores itself
                from ..launch import default_threads

                config.threads, note = default_threads()
            _, history = fit(config, ConsoleReporter())
            run_dir = config.out
    except Interrupted as stop:
        if _is_main_process():
            print(f"\n{stop.signame}: stopped; checkpoint saved. Resume with:\n  cnnlab train --resume {stop.run_dir}",
                  file=sys.stderr)
        return 130
    if not _is_main_process():  # under torchrun only rank 0 speaks
        return 0
    best = max(history, key=lambda r: r["test_acc"])
    print(f"test accuracy {history[-1]['test_acc']:.4f} (best {best['test_acc']:.4f} at epoch {best['epoch']}); "
          f"outputs in {run_dir}")
    if note:
        print(f"cnnlab: {note}", file=sys.stderr)


def _is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def run_eval(args):
    from pathlib import Path

    import torch

    from ..checkpoint import load_model
    from ..errors import ConfigError
    from ..evaluate import per_class_accuracy, predict_split
    from ..trainer import select_device
    from ..views import Loaded

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be a positive integer, got {args.batch_size}")
    path = Path(args.checkpoint)
    path = path / "last.pt" if path.is_dir() else path
    model, payload = load_model(path)
    loaded = Loaded(model, payload, path)
    device = select_device(args.device)
    data = loaded.dataset(args.dataset, args.data_dir or payload["config"].get("data_dir"))
    batches = loaded.batches(data.test, batch_size=args.batch_size, device=device)
    logits, labels = predict_split(model.to(device), batches)
    loss = torch.nn.functional.cross_entropy(logits, labels).item()
    acc = (logits.argmax(1) == labels).float().mean().item()
    print(f"{loaded.name} on {data.name} test ({len(labels):,} images): loss {loss:.4f}, accuracy {acc:.4f}")
    if args.per_class:
        print(f"{'class':<14} {'accuracy':>8} {'images':>7}")
        for name, class_acc, n in per_class_accuracy(logits, labels, data.classes):
            print(f"{name:<14} {class_acc:>8.4f} {n:>7,}")


def run_recipes(args):
    for name, recipe in RECIPES.items():
        settings = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in recipe.settings.items() if k != "model")
        print(f"{name:<14} {recipe.description}\n{'':<14} model {recipe.settings['model']}: {settings}")
