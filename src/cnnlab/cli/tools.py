"""`cnnlab lr-find` (the learning-rate range test, lr_find.py) and `cnnlab export` (ONNX, TorchScript,
torch.export; export.py)."""
from dataclasses import fields

from ..config import RECIPES, TrainConfig
from .options import add_data_dir, given
from .train import add_config_flags
from .views import add_checkpoint

# lr-find takes train's command line: the options a range test has no use for (--epochs, --schedule, --out, ...)
# are accepted and ignored, so that `cnnlab train ARGS` becomes `cnnlab lr-find ARGS`
_NOT_FOR_LR_FIND = ("model", "recipe", "lr")


def register(commands):
    from ..lr_find import END, START, STEPS

    p = commands.add_parser(
        "lr-find", help="learning-rate range test: suggest a rate for MODEL with the given training options",
        description="Train MODEL for a few hundred steps while the learning rate rises exponentially from --start "
                    "to --end, smooth the loss, stop when it diverges, print a suggested rate with the rule used and "
                    "plot loss against rate. Nothing is saved but the plot; 'cnnlab train ... --lr find' runs this "
                    "first and trains with the suggestion. Takes the options of 'cnnlab train'; those a range test "
                    "has no use for (--epochs, --schedule, --out, ...) are ignored.")
    p.add_argument("model", nargs="?", help="model name (default: the recipe's, else basic-cnn)")
    p.add_argument("--recipe", help="preset: " + ", ".join(RECIPES) + " (its lr is ignored)")
    p.add_argument("--start", type=float, default=START, help=f"first learning rate (default: {START:g})")
    p.add_argument("--end", type=float, default=END, help=f"last learning rate (default: {END:g})")
    p.add_argument("--steps", type=int, default=STEPS, help=f"steps from --start to --end (default: {STEPS})")
    p.add_argument("--plot", metavar="FILE", help="where to draw the curve (default: runs/lr-find/MODEL-DATASET.png)")
    add_config_flags(p, _NOT_FOR_LR_FIND)
    p.set_defaults(func=run_lr_find)

    p = commands.add_parser(
        "export", help="write a trained model as ONNX, TorchScript or torch.export (pt2), checked against PyTorch",
        description="Export RUN's model (a run directory: best.pt, else last.pt; or a .pt file) to one file with a "
                    "dynamic batch dimension. The file is loaded back and run on real test images (ONNX: in "
                    "onnxruntime), and kept only if its outputs match PyTorch's within 1e-4; the largest "
                    "difference is printed. The file carries the preprocessing its input needs (shape, channels, "
                    "value range, per-channel mean and std, class names, the run), printed too: ONNX as "
                    "metadata_props, TorchScript and pt2 as the extra file cnnlab.json.")
    add_checkpoint(p)
    p.add_argument("--format", default="onnx", choices=["onnx", "torchscript", "pt2"],
                   help="onnx (needs cnnlab[onnx]), torchscript (torch.jit) or pt2 (torch.export) (default: onnx)")
    p.add_argument("--out", metavar="FILE", help="output file (default: beside the checkpoint, model.onnx, "
                   "model.ts.pt or model.pt2)")
    p.add_argument("--images", type=int, default=64, help="test images to check the export on (default: 64)")
    add_data_dir(p, run=True)
    p.set_defaults(func=run_export)


def run_lr_find(args):
    from ..config import resolve
    from ..data import dataset_label
    from ..lr_find import find_lr_for, plot_finding

    options = given(args, {f.name for f in fields(TrainConfig)})
    options.update(tensorboard=None, out=None)  # nothing of a run is written
    config = resolve({**options, "model": args.model, "recipe": args.recipe, "lr": 1.0})  # lr: replaced by the test
    finding = find_lr_for(config, start=args.start, end=args.end, steps=args.steps, report=False)
    plot = args.plot or f"runs/lr-find/{dataset_label(config.model)}-{dataset_label(config.dataset)}.png"
    path = plot_finding(finding, plot, title=f"{config.model} on {config.dataset}, {config.optimizer}, "
                                             f"batch {config.batch_size}")
    print(finding.describe())
    print(f"plot: {path}")
    print(f"train with it: cnnlab train {config.model} --lr {finding.suggestion:.3g} ... (or --lr find)")


def run_export(args):
    from ..export import describe, export_run

    result = export_run(args.checkpoint, args.format, args.out, args.data_dir, args.images,
                        "last" if args.last else "best", args.model)
    runner = "onnxruntime" if result.format == "onnx" else "PyTorch"
    print(f"wrote {result.path} ({result.format}, dynamic batch)")
    where = "metadata_props" if result.format == "onnx" else "extra file cnnlab.json"
    print(f"preprocessing, written into the file ({where}):")
    for line in describe(result.metadata):
        print(f"  {line}")
    print(f"checked in {runner} on {result.images} test images: largest difference from PyTorch "
          f"{result.max_diff:.2e}, same prediction for {result.same_predictions}/{result.images}")
