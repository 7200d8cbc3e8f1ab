"""`cnnlab train`, `cnnlab eval` and `cnnlab recipes`. The train flags are derived from TrainConfig's fields."""
import argparse
import dataclasses
import shlex
import sys
import typing
from dataclasses import fields

from ..config import RECIPES, TrainConfig
from ..families import FAMILIES
from .options import MODEL_HELP, add_data_dir, add_model_ref, given
from .views import add_checkpoint, model_arg

_SKIP = ("model", "recipe")  # positional / handled separately


def _flag_type(f):
    kind = typing.get_args(f.type)[0] if typing.get_args(f.type) else f.type
    if isinstance(kind, str):  # postponed annotations
        kind = {"int": int, "float": float, "str": str, "bool": bool}[kind.split("|")[0].strip()]
    return kind


def add_config_flags(p, skip) -> None:
    """TrainConfig's fields (but `skip`) as flags of parser `p`; each defaults to None, meaning "not given"."""
    per_family = {k for family in FAMILIES.values() for k in family.settings}
    for f in fields(TrainConfig):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = f.metadata.get("parse") or _flag_type(f)
        help_text = f.metadata["help"]
        if f.name in per_family:
            help_text += f" (default: per model family, see `cnnlab recipes`; else {f.default})"
        elif "(default:" not in help_text:
            help_text += f" (default: {f.default})"
        if kind is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            p.add_argument(flag, type=kind, choices=f.metadata.get("choices"), default=None, help=help_text,
                           metavar=None if f.metadata.get("choices") else
                           f.metadata.get("metavar") or f.name.split("_")[-1].upper())


def register(commands):
    p = commands.add_parser("train", help="train a model (see `cnnlab recipes` for presets)",
                            description="Train MODEL and leave a run directory with config.json, metrics.csv, "
                                        "last.pt, best.pt and curves.png. Each option takes, first match wins: "
                                        "what you give here, a --recipe's setting, the model family's default "
                                        "(without --recipe; see `cnnlab recipes`), TrainConfig's default.",
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model", nargs="?", help="model name (default: the recipe's, else basic-cnn), or your own "
                   "network as an import reference (see --model)")
    add_model_ref(p, MODEL_HELP + "; with --resume, the same network again (needed for a run of your own network)",
                  dest="model_ref", metavar="MODEL")
    p.add_argument("--recipe", help="preset: " + ", ".join(RECIPES))
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last.pt "
                   "(with its saved settings: --epochs may extend it, --device and --threads move it, "
                   "--save-minutes may change; the original command's other options may be repeated unchanged)")
    add_config_flags(p, skip=_SKIP)
    p.formatter_class = argparse.HelpFormatter  # defaults are spelled out above
    p.set_defaults(func=run_train)

    p = commands.add_parser("eval", help="test loss and accuracy of a checkpoint",
                            description="Test loss and accuracy of a checkpoint, evaluated as the run evaluated it "
                                        "(its recorded precision and test-time augmentation), so the figure is the "
                                        "one metrics.csv holds for that epoch.")
    add_checkpoint(p, limit=True)
    p.add_argument("--dataset", help="data set to evaluate on (default: the one it was trained on)")
    add_data_dir(p, run=True)
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
        from .. import distributed, rundir
        from ..config import resolve
        from ..errors import ConfigError
        from ..report import ConsoleReporter
        from ..resume_policy import restart_state, resume_settings
        from ..trainer import Interrupted, build_run, train_run, user_network

        note = None  # why fewer threads than cores (cnnlab.launch): said in the run's header
        options = given(args, {f.name for f in fields(TrainConfig)} - {"model"})
        model = model_arg(args)
        network = user_network(model)  # imports a reference now: the user named it on this command line
        if args.resume:
            if args.overwrite:
                raise ConfigError("give --resume (continue the run) or --overwrite (start it again), not both")
            # the original command's own options may be repeated; resume_settings refuses those that differ
            config, payload = resume_settings(args.resume, model if network is None else network, **options)
            run = build_run(config, args.resume, payload, network)
        else:
            config = resolve({**options, "model": network.label if network else model, "recipe": args.recipe},
                             own_network=network is not None)
            # torchrun divides the cores; --deterministic takes them all, whatever the load
            if config.threads is None and not config.deterministic and distributed.this_process().world_size == 1:
                from ..launch import default_threads

                threads, note = default_threads()
                config = dataclasses.replace(config, threads=threads)
            # the run's one session in a torchrun job, joined here: the ranks first agree whether torchrun
            # restarted them (--max-restarts), and then the job continues its own run
            session = distributed.Session(config.batch_size, config.device, config.sync_bn).join()
            restarted = restart_state(config, network, session)
            run = (build_run(restarted[0], config.out, restarted[1], network, session) if restarted
                   else build_run(config, network=network, session=session))
        try:
            history = train_run(run, ConsoleReporter(notes=[note] if note else ()), stop)
        except Interrupted as stopped:
            if run.env.main:
                print(f"\n{stopped.signame}: stopped; checkpoint saved. Resume with:\n"
                      f"  cnnlab train --resume {shlex.quote(str(stopped.run_dir))}", file=sys.stderr)
            return 130
        if run.env.main:  # under torchrun only rank 0 speaks
            print(f"{rundir.accuracy_line(history)}; outputs in {run.run_dir}", flush=True)


def run_eval(args):
    from ..device import select_device
    from ..errors import ConfigError
    from ..evaluate import evaluate, per_class_accuracy, shown_accuracy, untested_warning
    from ..trained import load_trained
    from ..views import limit_of

    if args.batch_size is not None and args.batch_size < 1:
        raise ConfigError(f"--batch-size must be a positive integer, got {args.batch_size}")
    device = select_device(args.device)
    trained = load_trained(args.checkpoint, "last" if args.last else "best", device, model=args.model)
    data = trained.dataset(args.dataset, args.data_dir)
    limit, note = limit_of(args.limit, data)
    if note:
        print(f"cnnlab: note: {note}", file=sys.stderr)
    score = evaluate(trained.model, trained.test_batches(data, None if args.limit is None else limit, args.batch_size),
                     trained.evaluation, keep=args.per_class)
    how = trained.evaluation.precision + (", flip TTA" if trained.evaluation.tta else "")
    print(f"{trained.name} on {data.name} test ({score.count:,} images, {how}): loss {score.loss:.4f}, "
          f"accuracy {score.accuracy:.4f}")
    if args.per_class:
        rows = per_class_accuracy(score.logits, score.labels, data.classes)
        print(f"{'class':<14} {'accuracy':>8} {'images':>7}")
        for name, class_acc, n in rows:
            print(f"{name:<14} {shown_accuracy(class_acc):>8} {n:>7,}")
        if untested_warning(rows):
            print(untested_warning(rows), file=sys.stderr)


def run_recipes(args):
    from ..config import as_flags
    from ..models import list_models, model_info

    print("Recipes (cnnlab train --recipe NAME; explicit flags override a recipe's settings):")
    defaults = TrainConfig()
    for name, recipe in RECIPES.items():
        # a recipe leaves the family defaults aside: spelled out, a setting it leaves alone takes TrainConfig's
        family = FAMILIES[model_info(recipe.settings["model"]).family].settings
        settings = {**recipe.settings, **{k: getattr(defaults, k) for k in family if k not in recipe.settings}}
        settings = as_flags({k: v for k, v in settings.items() if k != "model"})
        print(f"{name:<14} {recipe.description}\n{'':<14} same as: cnnlab train {recipe.settings['model']} {settings}")
    print("\nWithout --recipe, a model trains with its family's defaults (explicit flags override them too):")
    for name, family in FAMILIES.items():
        members = [m for m in list_models() if model_info(m).family == name]
        print(f"{name:<14} {family.description}\n{'':<14} {as_flags(family.settings)}   ({', '.join(members)})")
