"""`cnnlab show`, `plot`, `predict`, `confusion`, `tsne`, `features`, `kernels` and `compare`: every view
writes a PNG (see cnnlab.views) and prints its path."""

from ..config import DATASET_HELP
from .options import add_data_dir, add_invert, add_limit, add_model_ref

CHECKPOINT_HELP = "a .pt checkpoint, or a run directory (its best.pt, else last.pt; see --last)"
LAST_HELP = "for a run directory, read its last.pt instead of best.pt"
LIMIT_HELP = ("use only the first N test images (default: those the run was evaluated on, all unless it was trained "
              "with --test-limit)")


def add_checkpoint(p, limit: bool = False) -> None:
    """The CHECKPOINT argument and --last, --model (and --limit) of every command that reads a trained run."""
    p.add_argument("checkpoint", help=CHECKPOINT_HELP)
    p.add_argument("--last", action="store_true", help=LAST_HELP)
    add_model_ref(p)
    if limit:
        add_limit(p, None, LIMIT_HELP)


BESIDE = "default: beside the checkpoint"


def register(commands):
    p = commands.add_parser("show", help="a grid of a data set's images with their class names",
                            description="Draw the first N images of a data set split with their class names.")
    p.add_argument("dataset", help=DATASET_HELP)
    add_limit(p, None, "show the first N images (default: 16, or the whole split when smaller; at most 100 fit one "
                       "picture)")
    p.add_argument("--split", choices=["train", "test"], default="test", help="(default: test)")
    add_data_dir(p)
    p.add_argument("--out", metavar="FILE", help="PNG to write (default: runs/show/DATASET-SPLIT.png)")
    p.set_defaults(func=run_show)

    p = commands.add_parser("plot", help="loss and accuracy curves of one or more runs, overlaid",
                            description="Draw train/test loss and accuracy per epoch from each run's metrics.csv; "
                                        "several runs share the axes, one colour each.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories (made by cnnlab train)")
    p.add_argument("--out", metavar="FILE", help="PNG to write (default: RUN_DIR/curves.png for one run, "
                                                 "compare/curves.png beside the first run for several)")
    p.set_defaults(func=run_plot)

    p = commands.add_parser("predict", help="classify image files, or test images beside their true labels",
                            description="Top-3 classes for each IMAGE (PNG, JPEG, ... of any size or colour: "
                                        "converted to grayscale, light on dark, 28x28, then normalised and resized "
                                        "as the model was trained; each step is printed), or, without IMAGE, "
                                        "the first N test images beside their true labels. Also writes a PNG.")
    add_checkpoint(p)
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files to classify")
    p.add_argument("--dataset", help="without IMAGE: data set to take test images from "
                                     "(default: the one the model was trained on)")
    add_limit(p, 10, "without IMAGE: use the first N test images (default: 10; more than the test set has: all of "
                     "them; all are listed, the picture shows the first 100)")
    add_invert(p)
    add_data_dir(p, run=True)
    p.add_argument("--out", metavar="FILE", help=f"PNG to write ({BESIDE}, predict.png; for IMAGE files "
                   "predict_IMAGE.png, named after the first)")
    p.set_defaults(func=run_predict)

    p = commands.add_parser("confusion", help="confusion matrix, per-class accuracy, most confused pairs and mistakes",
                            description="Evaluate on the test set; draw the confusion matrix with per-class "
                                        "accuracy, print the most confused pairs, and draw the most confidently "
                                        "wrong images (a second PNG named like the first, ending in _mistakes).")
    add_checkpoint(p, limit=True)
    add_data_dir(p, run=True)
    p.add_argument("--out", metavar="FILE", help=f"PNG to write ({BESIDE}, confusion.png)")
    p.set_defaults(func=run_confusion)

    p = commands.add_parser("tsne", help="t-SNE map of the last hidden layer's features, coloured by class",
                            description="Embed the features the classifier sees (the last hidden layer) of the "
                                        "first N test images in 2-D with t-SNE (scikit-learn), as Morvan's CNN "
                                        "tutorial does.")
    add_checkpoint(p)
    add_limit(p, 2000, "use the first N test images (default: 2000, or all when the test set is smaller; t-SNE "
                       "time grows faster than linearly)")
    p.add_argument("--seed", type=int, default=0, help="t-SNE random state (default: 0)")
    add_data_dir(p, run=True)
    p.add_argument("--out", metavar="FILE", help=f"PNG to write ({BESIDE}, tsne.png)")
    p.set_defaults(func=run_tsne)

    p = commands.add_parser("features", help="activation maps of every convolution layer for one input",
                            description="Run one input through the model and draw the output of every Conv2d "
                                        "layer, one grid per layer titled with its shape (up to 16 channels each). "
                                        "With more layers than --max-layers, evenly spaced ones are drawn and the "
                                        "others are named, in the terminal and in the picture.")
    add_checkpoint(p)
    p.add_argument("image", nargs="?", metavar="IMAGE", help="an image file (default: a test image, see --index)")
    p.add_argument("--index", type=int, default=0, help="without IMAGE: which test image (default: 0)")
    add_invert(p)
    p.add_argument("--max-layers", type=int, default=12, metavar="N",
                   help="draw at most N layers (2-24), evenly spaced, first and last included (default: 12)")
    add_data_dir(p, run=True)
    p.add_argument("--out", metavar="FILE", help=f"PNG to write ({BESIDE}, features.png)")
    p.set_defaults(func=run_features)

    p = commands.add_parser("kernels", help="the first convolution layer's learned kernels",
                            description="Draw the weights of the model's first Conv2d layer, one tile per kernel, "
                                        "on a colour scale centred on zero.")
    add_checkpoint(p)
    p.add_argument("--out", metavar="FILE", help=f"PNG to write ({BESIDE}, kernels.png)")
    p.set_defaults(func=run_kernels)

    p = commands.add_parser("compare", help="table and plots comparing finished runs",
                            description="Print a markdown table of each run's model, parameters, multiply-adds per "
                                        "image, best test accuracy, training images/s and training time (test "
                                        "passes excluded), with how each run trained (optimizer, lr, batch size, "
                                        "training images: for more than two runs, only the settings in which they "
                                        "differ); write it as compare.csv with compare_time.png (accuracy against "
                                        "time) and compare_params.png (against parameters).")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories (made by cnnlab train)")
    p.add_argument("--out", metavar="DIR", help="directory for the three files (default: compare/ beside the first "
                                                "run, e.g. runs/compare/)")
    p.set_defaults(func=run_compare)


def model_arg(args):
    """`cnnlab train`'s network: the positional MODEL or --model (not two different ones)."""
    if args.model and args.model_ref and args.model != args.model_ref:
        from ..errors import ConfigError

        raise ConfigError(f"two models given: {args.model} and --model {args.model_ref}; give one")
    return args.model_ref or args.model


def _which(args) -> str:
    return "last" if args.last else "best"


def _wrote(path):
    print(f"wrote {path}")


def _notes(figure):
    """A view's notes (a --limit larger than the set, ...), one line each on stderr."""
    import sys

    for note in getattr(figure, "notes", None) or []:
        print(f"cnnlab: note: {note}", file=sys.stderr)


def run_show(args):
    from ..views import show

    figure = show(args.dataset, args.limit, args.split, args.out, args.data_dir)
    _notes(figure)
    _wrote(figure)


def _finished(run_dirs) -> list:
    """The run directories with a finished epoch; a one-line warning for each other one (none: an error)."""
    import sys

    from ..errors import CheckpointError
    from ..views import finished_runs

    good, skipped = finished_runs(run_dirs)
    if not good:  # one line, as every error
        reason = skipped[0].removeprefix("skipped ")
        raise CheckpointError(reason if len(run_dirs) == 1 else
                              f"none of the {len(run_dirs)} run directories has a finished epoch (first: {reason})")
    for line in skipped:
        print(f"cnnlab: warning: {line}", file=sys.stderr)
    return good


def run_plot(args):
    from ..views import plot_runs

    _wrote(plot_runs(_finished(args.run_dirs), args.out))


def _top(prediction) -> str:
    return "  ".join(f"{name} {p:6.1%}" for name, p in prediction.top)


def run_predict(args):
    from ..errors import ConfigError
    from ..views import PICTURE_LIMIT, predict_dataset, predict_files

    if args.images:
        if args.dataset:
            raise ConfigError("give IMAGE files or --dataset, not both")
        figure = predict_files(args.checkpoint, args.images, args.invert, args.out, _which(args), model=args.model)
        predictions = figure.predictions
        for note in figure.notes:
            print(f"converted {note}")
        width = max(len(p.name) for p in predictions)
        for p in predictions:
            print(f"{p.name:<{width}}  {_top(p)}")
        if len(predictions) > PICTURE_LIMIT // 2:
            print(f"the picture shows the first {PICTURE_LIMIT // 2} of {len(predictions):,} files")
    else:
        figure = predict_dataset(args.checkpoint, args.dataset, args.limit, args.out, args.data_dir, _which(args),
                                 model=args.model)
        _notes(figure)
        predictions = figure.predictions
        width = max(len(p.true) for p in predictions)
        print(f"{'image':<10} {'true':<{width}} {'predicted':<{width}}   top 3")
        for p in predictions:
            mark = " " if p.top[0][0] == p.true else "x"
            print(f"{p.name:<10} {p.true:<{width}} {p.top[0][0]:<{width}} {mark} {_top(p)}")
        right = sum(p.top[0][0] == p.true for p in predictions)
        print(f"{right}/{len(predictions)} right")
        if len(predictions) > PICTURE_LIMIT:
            print(f"the picture shows the first {PICTURE_LIMIT} of {len(predictions):,}")
    _wrote(figure)


def run_confusion(args):
    from ..evaluate import shown_accuracy, untested_warning
    from ..views import confusion

    result = confusion(args.checkpoint, args.out, args.limit, args.data_dir, which=_which(args), model=args.model)
    _notes(result)
    print(f"accuracy {result.accuracy:.4f} on {int(result.matrix.sum()):,} test images")
    width = max(len(c) for c in result.classes)
    print(f"{'class':<{width}} {'accuracy':>8} {'images':>7}")
    for name, acc, n in result.per_class:
        print(f"{name:<{width}} {shown_accuracy(acc):>8} {n:>7,}")
    if untested_warning(result.per_class):
        import sys

        print(untested_warning(result.per_class), file=sys.stderr)
    print("most confused (true -> predicted: images):")
    for true, predicted, count in result.pairs:
        print(f"  {true} -> {predicted}: {count}")
    _wrote(result.path)
    if result.mistakes_path:
        _wrote(result.mistakes_path)


def run_tsne(args):
    from ..views import tsne

    figure = tsne(args.checkpoint, args.limit, args.out, args.data_dir, args.seed, _which(args), model=args.model)
    _notes(figure)
    _wrote(figure)


def run_features(args):
    from ..views import features

    figure = features(args.checkpoint, args.image, args.index, args.out, args.invert, args.data_dir,
                      args.max_layers, _which(args), model=args.model)
    print(f"input: {figure.source}")
    for name, shape in figure.layers:
        print(f"  {name:<24} {list(shape)}{'' if name in figure.drawn else '  (not drawn)'}")
    if figure.left_out:
        print(f"drawn: {len(figure.drawn)} of {len(figure.layers)} conv layers (--max-layers {args.max_layers}); "
              f"left out: {', '.join(figure.left_out)}")
    _wrote(figure)


def run_kernels(args):
    from ..views import kernels

    figure = kernels(args.checkpoint, args.out, _which(args), model=args.model)
    print(f"first convolution '{figure.layer}': weights {list(figure.shape)}")
    _wrote(figure)


def run_compare(args):
    from ..views import compare

    figure = compare(_finished(args.run_dirs), args.out)
    print(figure.table)
    for path in figure.files:
        _wrote(path)
