"""Views of data sets and of finished runs' records (no model is built): `show`, `plot` and `compare`."""
import csv
from pathlib import Path

import torch

from .. import plots
from ..data import display_images, load_dataset
from ..errors import CheckpointError, ConfigError
from ..rundir import best_row, read_run
from .figure import OUTPUTS, PICTURE_LIMIT, Figure, out_path

SHOW_DEFAULT = 16  # images `cnnlab show` draws unless told (fewer when the split is smaller)


def classes_in_turn(labels: torch.Tensor, n: int) -> torch.Tensor:
    """Indices of n images taking the classes in turn: the first image of each class, then the second of each,
    and so on (deterministic), so a grid shows every class even of a split stored class by class."""
    order = torch.argsort(labels, stable=True)  # class by class, each class in its stored order
    starts = torch.cumsum(torch.bincount(labels), 0) - torch.bincount(labels)
    rank = torch.empty_like(labels)
    rank[order] = torch.arange(len(labels)) - starts[labels[order]]  # the image's place within its class
    return torch.argsort(rank * (int(labels.max()) + 1) + labels, stable=True)[:n]


def show(dataset: str, limit: int | None = None, split: str = "test", out=None, data_dir=None) -> Figure:
    """A grid of `limit` images of a data set split (default SHOW_DEFAULT, at most PICTURE_LIMIT) taking the
    classes in turn, each with its class name. Default: runs/show/DATASET-SPLIT.png"""
    from ..data import dataset_label

    data = load_dataset(dataset, data_dir)
    if split not in ("train", "test"):
        raise ConfigError(f"--split must be train or test, got '{split}'")
    part = getattr(data, split)
    n = limit if limit is not None else min(SHOW_DEFAULT, len(part))
    if not 1 <= n <= PICTURE_LIMIT:
        raise ConfigError(f"--limit must be in 1-{PICTURE_LIMIT} (images one picture shows), got {n}")
    notes = []
    if n > len(part):  # more than the split has: all of it
        notes.append(f"--limit {n} is more than the {len(part):,} {split} images of {data.name}: showing all "
                     f"{len(part):,}")
        n = len(part)
    chosen = classes_in_turn(part.labels, n)
    titles = [data.classes[int(k)] for k in part.labels[chosen]]
    default = OUTPUTS / "show" / f"{dataset_label(dataset)}-{split}.png"
    path = plots.image_grid(display_images(part.images[chosen]), titles, out_path(out, default),
                            cols=8 if n <= 64 else 10, title=f"{dataset} {split}: {n} images, the classes in turn")
    return Figure.of(path, titles=titles, notes=notes)


# ---------------------------------------------------------------- curves
def run_label(run_dir: Path, model: str, others: list) -> str:
    """A run's name in legends and tables: its model, plus the directory when several runs share the model."""
    return model if others.count(model) == 1 else f"{model} ({Path(run_dir).name})"


def shared_dir(run_dirs) -> Path:
    """Where a view of several runs goes: compare/ beside the first run (runs/compare/ for runs under runs/)."""
    return Path(run_dirs[0]).parent / "compare"


def plot_runs(run_dirs, out=None) -> Figure:
    """Loss and accuracy curves of one or more run directories (or cnnlab.train results), overlaid; only their
    metrics are read, never their model. Default: RUN_DIR/curves.png for one run, compare/curves.png beside the
    first run for several."""
    if isinstance(run_dirs, (str, Path)) or hasattr(run_dirs, "run_dir"):
        run_dirs = [run_dirs]
    run_dirs = [getattr(d, "run_dir", d) for d in run_dirs]  # cnnlab.train's results, or run directories
    runs = [(Path(d), *read_run(d)) for d in run_dirs]
    models = [info["config"]["model"] for _, info, _ in runs]
    histories = {run_label(d, m, models): h for (d, _, h), m in zip(runs, models)}
    default = runs[0][0] / "curves.png" if len(runs) == 1 else shared_dir(run_dirs) / "curves.png"
    return Figure.of(plots.plot_curves(histories, out_path(out, default)), histories=histories)


def plot(*runs, out=None) -> Figure:
    """`cnnlab plot` from Python: curves of run directories or cnnlab.train results, overlaid."""
    return plot_runs(runs, out)


# ---------------------------------------------------------------- compare
COMPARE_FIELDS = ("run", "model", "dataset", "input", "optimizer", "lr", "batch_size", "train_images", "parameters",
                  "mult_adds", "epochs", "test_images", "best_test_acc", "images_per_s", "train_seconds")
SETTINGS = ("optimizer", "lr", "batch_size", "train_images")  # how each run trained: columns only where runs differ
ALL_COLUMNS_UP_TO = 2  # with more runs than this, the table shows a setting only when the runs differ in it


def run_row(run_dir, label: str) -> dict:
    """One run's line of the comparison: how it trained, size and cost of the model, best accuracy, speed, time."""
    from ..inspect import summarize
    from ..models import create_model

    info, history = read_run(run_dir)
    config, size = info["config"], info["input_size"]
    operations = info.get("mult_adds")  # recorded by training: no model is built, so any run compares
    channels = info.get("in_channels", 1)
    if operations is None:  # a run from before cnnlab recorded it: a registered model, rebuilt on the meta device
        with torch.device("meta"):  # shapes and counts only: no weights allocated, nothing computed
            model = create_model(config["model"], num_classes=len(info["classes"]), in_channels=channels)
        operations = summarize(model, (channels, size, size)).mult_adds
    return {
        "run": label, "model": config["model"], "dataset": config["dataset"], "input": size,
        "optimizer": config.get("optimizer"), "lr": config.get("lr"), "batch_size": config.get("batch_size"),
        "train_images": info.get("train_images"),
        "parameters": info["parameters"], "mult_adds": operations,
        "epochs": len(history), "test_images": info.get("test_images"),
        "best_test_acc": best["test_acc"] if (best := best_row(history)) else None,  # None: no epoch tested yet
        # throughput of the training passes, averaged over epochs; time sums them (test passes excluded)
        "images_per_s": round(sum(r["images_per_s"] for r in history) / len(history), 1),
        "train_seconds": round(sum(r["seconds"] for r in history), 1),
    }


def _setting(row: dict, key: str) -> str:
    value = row.get(key)
    if value is None:
        return "?"
    if key == "lr":
        return f"{value:g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def shown_settings(rows: list[dict]) -> list[str]:
    """The settings columns a table shows: all of them for one or two runs, else those in which the runs differ."""
    if len(rows) <= ALL_COLUMNS_UP_TO:
        return list(SETTINGS)
    return [key for key in SETTINGS if len({_setting(r, key) for r in rows}) > 1]


SETTING_HEADERS = {"optimizer": "optimizer", "lr": "lr", "batch_size": "batch", "train_images": "train images"}


def markdown_table(rows: list[dict]) -> str:
    settings = shown_settings(rows)
    header = ["run", *(SETTING_HEADERS[k] for k in settings), "parameters", "mult-adds", "epochs",
              "test set (images)", "best test acc", "images/s", "train time (s)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for r in rows:  # accuracies on other data sets or on a few test images are not comparable: say which
        tested = f"{r['dataset']} {r['test_images']:,}" if r["test_images"] is not None else r["dataset"]
        best = "-" if r["best_test_acc"] is None else f"{r['best_test_acc']:.4f}"  # no epoch tested yet
        cells = [r["run"], *(_setting(r, k) for k in settings), f"{r['parameters']:,}",
                 f"{r['mult_adds'] / 1e6:,.2f} M", str(r["epochs"]), tested, best,
                 f"{r['images_per_s']:,.0f}", f"{r['train_seconds']:,.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    same = [f"{SETTING_HEADERS[k]} {_setting(rows[0], k)}" for k in SETTINGS if k not in settings]
    if same:
        lines.append(f"\nall runs: {', '.join(same)}")
    return "\n".join(lines)


def finished_runs(run_dirs) -> tuple[list[Path], list[str]]:
    """The run directories with at least one finished epoch, and for each other one a line saying why it is
    left out (unfinished, broken, not a run): one bad run never blocks comparing the others."""
    good, skipped = [], []
    for d in run_dirs:
        try:
            read_run(d)
        except CheckpointError as error:
            skipped.append(f"skipped {error}")  # the error names the directory
        else:
            good.append(Path(d))
    return good, skipped


def compare(run_dirs, out_dir=None) -> Figure:
    """Compare finished runs: writes compare.csv (one row per run, COMPARE_FIELDS), compare_time.png (accuracy
    against training time) and compare_params.png (against parameters) in `out_dir` (default: compare/ beside the
    first run). Returns compare_params.png as a Figure with .rows, .table (markdown) and .files."""
    run_dirs = [Path(getattr(d, "run_dir", d)) for d in run_dirs]
    if not run_dirs:
        raise ConfigError("compare needs at least one run directory")
    runs = [read_run(d) for d in run_dirs]
    models = [info["config"]["model"] for info, _ in runs]
    rows = [run_row(d, run_label(d, m, models)) for d, m in zip(run_dirs, models)]
    out_dir = Path(out_dir) if out_dir is not None else shared_dir(run_dirs)
    table = out_dir / "compare.csv"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with open(table, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COMPARE_FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    except OSError as error:
        raise ConfigError(f"cannot write {table} ({error}); choose another --out") from None
    timelines = []
    for (_, history), row in zip(runs, rows):
        elapsed = [sum(r["seconds"] for r in history[:i + 1]) for i in range(len(history))]
        tested = [(s, r["test_acc"]) for s, r in zip(elapsed, history) if r["test_acc"] is not None]
        timelines.append((row["run"], [s for s, _ in tested], [a for _, a in tested]))
    time_png = plots.plot_accuracy_vs_time(timelines, out_dir / "compare_time.png")
    params_png = plots.plot_accuracy_vs_params([(r["run"], r["parameters"], r["best_test_acc"]) for r in rows
                                                if r["best_test_acc"] is not None], out_dir / "compare_params.png")
    files = [table, time_png, params_png]
    return CompareFigure.of(params_png, legacy=(rows, files), rows=rows, files=files, table=markdown_table(rows),
                            time_path=time_png)


class CompareFigure(Figure):
    """compare_params.png (accuracy against parameters); .time_path is compare_time.png (against time)."""
