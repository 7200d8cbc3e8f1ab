"""`cnnlab train`, `cnnlab eval` and `cnnlab recipes`. The train flags are derived from TrainConfig's fields."""
import argparse
import sys
import typing
from dataclasses import fields

from ..config import RECIPES, TrainConfig
from .views import add_checkpoint

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

    p = commands.add_parser("eval", help="test loss and accuracy of a checkpoint",
                            description="Test loss and accuracy of a checkpoint, evaluated as the run evaluated it "
                                        "(its recorded precision and test-time augmentation), so the figure is the "
                                        "one metrics.csv holds for that epoch.")
    add_checkpoint(p, limit=True)
    p.add_argument("--dataset", help="data set to evaluate on (default: the one it was trained on)")
    p.add_argument("--data-dir", help="directory with the IDX files")
    p.add_argument("--per-class", action="store_true", help="also print accuracy per class")
    p.add_argument("--batch-size", type=int, help="images per forward pass (default: the run's test batch)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.set_defaults(func=run_eval)

    p = commands.add_parser("recipes", help="list the training presets and their settings")
    p.set_defaults(func=run_recipes)


def run_train(args):
    # The stop flag goes up before torch is imported and stays up until the summary is printed: a signal at any
    # moment of the run stops it cleanly, with a checkpoint to resume from.
    from ..signals import StopFlag

    with StopFlag() as stop:
        from ..config import resolve
        from ..errors import ConfigError
        from ..report import ConsoleReporter
        from ..trainer import RESUME_OPTIONS, Interrupted, build_run, restart_state, resume_settings, train_run

        options = {f.name for f in fields(TrainConfig)}
        given = {k: v for k, v in vars(args).items() if k in options and v is not None}
        if args.resume:
            extra = sorted(set(given) - set(RESUME_OPTIONS))
            if extra:
                raise ConfigError(f"--resume keeps the run's saved settings; only --{', --'.join(RESUME_OPTIONS)} "
                                  f"may be given (got --{', --'.join(e.replace('_', '-') for e in extra)})")
            config, payload = resume_settings(args.resume, **given)
            run = build_run(config, args.resume, payload)
        else:
            config = resolve({**given, "model": args.model, "recipe": args.recipe})
            restarted = restart_state(config)  # torchrun --max-restarts: the job continues its own run
            run = build_run(restarted[0], config.out, restarted[1]) if restarted else build_run(config)
        try:
            history = train_run(run, ConsoleReporter(), stop)
        except Interrupted as stopped:
            if run.env.main:
                print(f"\n{stopped.signame}: stopped; checkpoint saved. Resume with:\n"
                      f"  cnnlab train --resume {stopped.run_dir}", file=sys.stderr)
            return 130
        if run.env.main:  # under torchrun only rank 0 speaks
            best = max(history, key=lambda r: r["test_acc"])
            print(f"test accuracy {history[-1]['test_acc']:.4f} (best {best['test_acc']:.4f} at epoch "
                  f"{best['epoch']}); outputs in {run.run_dir}", flush=True)


def run_eval(args):
    from ..distributed import select_device
    from ..errors import ConfigError
    from ..evaluate import evaluate, per_class_accuracy
    from ..rundir import load_trained

    if args.batch_size is not None and args.batch_size < 1:
        raise ConfigError(f"--batch-size must be a positive integer, got {args.batch_size}")
    device = select_device(args.device)
    trained = load_trained(args.checkpoint, "last" if args.last else "best", device)
    data = trained.dataset(args.dataset, args.data_dir)
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}")
    score = evaluate(trained.model, trained.test_batches(data, args.limit, args.batch_size), trained.evaluation,
                     keep=args.per_class)
    how = trained.evaluation.precision + (", flip TTA" if trained.evaluation.tta else "")
    print(f"{trained.name} on {data.name} test ({score.count:,} images, {how}): loss {score.loss:.4f}, "
          f"accuracy {score.accuracy:.4f}")
    if args.per_class:
        print(f"{'class':<14} {'accuracy':>8} {'images':>7}")
        for name, class_acc, n in per_class_accuracy(score.logits, score.labels, data.classes):
            print(f"{name:<14} {class_acc:>8.4f} {n:>7,}")


def run_recipes(args):
    for name, recipe in RECIPES.items():
        settings = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in recipe.settings.items() if k != "model")
        print(f"{name:<14} {recipe.description}\n{'':<14} model {recipe.settings['model']}: {settings}")
