"""Seeing inside: each view computes what to show (data sets, predictions, confusions, features, activations,
kernels, run comparisons), draws it with plots.py and returns the data with the PNG path.

A checkpoint argument is a .pt file or a run directory; for a directory the views use best.pt (the epoch with
the best test accuracy) and fall back to last.pt, or last.pt with which="last" (cnnlab.rundir's rule). Every
prediction goes through cnnlab.evaluate with the checkpoint's recorded precision and test-time augmentation.
From Python it may also be what cnnlab.train returned (its run, with its network), or an nn.Module itself with
`dataset=` (shown on that data set with its normalisation, in float32); a run of your own network needs the
network again as `model=` (a module, class, factory or import reference)."""
import csv
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import plots
from .data import Split, display_images, display_input, load_dataset
from .errors import CheckpointError, ConfigError, ImageError
from .evaluate import confident_mistakes, confusion_matrix, most_confused, per_class_accuracy, predict_split, top_k
from .inspect import forward_with_hooks
from .rundir import TrainedModel, checkpoint_path, from_module, load_trained, read_run

NATIVE_SIZE = 28  # the side of every MNIST-like image: a picture is brought to it before the training transform
PICTURE_LIMIT = 100  # images one grid shows at most (10 rows of 10, about 1,500 pixels a side); tables list all
MAX_LAYERS = 24  # feature grids one picture shows at most


# ---------------------------------------------------------------- checkpoints
checkpoint_file = checkpoint_path  # the .pt file a view reads (a run directory: its best.pt, else last.pt)


def load(checkpoint, which: str = "best", model=None, dataset=None, data_dir=None) -> TrainedModel:
    """What a view shows: a run directory or .pt file (of your own network: with `model`), the result of
    cnnlab.train, or an nn.Module with the `dataset` to show it on."""
    if isinstance(checkpoint, nn.Module):
        return from_module(checkpoint, dataset, data_dir)
    if hasattr(checkpoint, "run_dir"):  # cnnlab.train's result (or its history)
        model = model if model is not None else getattr(checkpoint, "model", None)
        checkpoint = checkpoint.run_dir
    return load_trained(checkpoint, which, model=model)


def _out(out, default: Path) -> Path:
    return Path(out) if out is not None else default


def _pixels(x: torch.Tensor, loaded: TrainedModel) -> torch.Tensor:
    """A model input (1, S, S) back in [0, 1] for display: what the network actually sees."""
    return torch.from_numpy(display_input(x, *loaded.normalize))


# ---------------------------------------------------------------- pictures from files
@dataclass
class Picture:
    """An image file converted the way the model was trained."""

    path: Path
    original: object  # the picture as given (PIL image), for display
    pixels: torch.Tensor  # (28, 28) uint8 after grayscale, inversion, padding and resizing
    steps: list  # what was done to it, in order, in words


def read_picture(path, invert: str = "auto", payload=None) -> Picture:
    """Read a PNG/JPEG/... of any size or colour and bring it to a 28x28 light-on-dark grayscale image, as the
    MNIST-like data are. invert: "auto" inverts when the border is light (a dark drawing on paper), "yes", "no".
    Any unreadable file raises ImageError naming it."""
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()  # open() is lazy: decode now so a truncated file fails here
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image PIL can read (use PNG, JPEG, BMP, GIF, ...)") from None
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise ImageError(f"{path}: cannot read the image ({reason})") from None
    steps = [f"{image.width}x{image.height} {image.mode}"]
    channels = payload.get("in_channels", 1) if payload else 1
    if payload and (channels == 3 or payload["config"]["dataset"].startswith("folder:")):
        from .data.folder import picture  # colour, or trained on an image folder: decoded as its training images were

        size = payload["config"].get("image_size") or payload["input_size"]
        return Picture(path, image.convert("RGB"), picture(image, size, channels),
                       steps + [f"centre square at {size}x{size}"])
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # transparent pixels carry arbitrary colour (often black): put the drawing on white paper first
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
        steps.append("transparency onto white")
    original = image.convert("RGB")
    if image.mode != "L":
        image = image.convert("L")
        steps.append("grayscale")
    gray = np.asarray(image)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    light = border.mean() > 127
    if invert == "yes" or (invert == "auto" and light):
        image = ImageOps.invert(image)
        steps.append(f"inverted because its border is light (mean {border.mean():.0f}/255) and the training images "
                     "are light on dark" if invert == "auto" else "inverted (--invert yes)")
    low, high = image.getextrema()
    if (low, high) != (0, 255) and high > low:
        # the training images span the full range (black background, brightest pixel 255); a photo rarely does
        image = ImageOps.autocontrast(image)
        steps.append(f"contrast stretched from {low}-{high} to 0-255")
    if image.width != image.height:
        side = max(image.size)
        background = int(np.median(np.asarray(image)[[0, -1]]))  # pad with the border colour, keep proportions
        square = Image.new("L", (side, side), background)
        square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
        image = square
        steps.append(f"padded to {side}x{side}")
    if image.size != (NATIVE_SIZE, NATIVE_SIZE):
        image = image.resize((NATIVE_SIZE, NATIVE_SIZE), Image.Resampling.LANCZOS)
        steps.append(f"resized to {NATIVE_SIZE}x{NATIVE_SIZE}")
    return Picture(path, original, torch.from_numpy(np.array(image, dtype=np.uint8)), steps)


def _values(v) -> str:
    """A normalisation constant in words: 0.2860, or (0.4914, 0.4822, 0.4465) per channel."""
    return f"{v:.4f}" if isinstance(v, (int, float)) else "(" + ", ".join(f"{x:.4f}" for x in v) + ")"


def picture_batch(pictures, loaded: TrainedModel) -> tuple[torch.Tensor, str]:
    """Model inputs (N, C, S, S) for converted pictures through the training transform, and that transform in words."""
    images = torch.stack([p.pixels for p in pictures])
    batches = loaded.batches(Split(images, torch.zeros(len(images), dtype=torch.int64)))
    mean, std = loaded.normalize
    size = loaded.input_size
    words = f"normalised with mean {_values(mean)}, std {_values(std)} (from the checkpoint)"
    if size != images.shape[-1]:
        words += f", resized to {size}x{size} as in training"
    return batches.transform(images), words


def check_limit(limit, data, least: int = 1) -> None:
    """ConfigError unless --limit N (None: not given) is a count of `data`'s test images."""
    if limit is not None and not least <= limit <= len(data.test):
        raise ConfigError(f"--limit must be in {least}-{len(data.test)} (the {data.name} test images), got {limit}")


# ---------------------------------------------------------------- show
SHOW_DEFAULT = 16  # images `cnnlab show` draws unless told (fewer when the split is smaller)


def show(dataset: str, limit: int | None = None, split: str = "test", out=None, data_dir=None) -> Path:
    """A grid of the first `limit` images of a data set split (default SHOW_DEFAULT, at most PICTURE_LIMIT), each
    with its class name. Default: ./DATASET-SPLIT.png"""
    from .data import dataset_label

    data = load_dataset(dataset, data_dir)
    if split not in ("train", "test"):
        raise ConfigError(f"--split must be train or test, got '{split}'")
    part = getattr(data, split)
    n = limit if limit is not None else min(SHOW_DEFAULT, len(part))
    if not 1 <= n <= min(len(part), PICTURE_LIMIT):
        raise ConfigError(f"--limit must be in 1-{min(len(part), PICTURE_LIMIT)} (images one picture shows), got {n}")
    titles = [data.classes[int(k)] for k in part.labels[:n]]
    return plots.image_grid(display_images(part.images[:n]), titles, _out(out, Path(f"{dataset_label(dataset)}-{split}.png")),
                            cols=8 if n <= 64 else 10, title=f"{dataset} {split}: images 0-{n - 1}")


# ---------------------------------------------------------------- curves
def run_label(run_dir: Path, model: str, others: list) -> str:
    """A run's name in legends and tables: its model, plus the directory when several runs share the model."""
    return model if others.count(model) == 1 else f"{model} ({Path(run_dir).name})"


def plot_runs(run_dirs, out=None) -> Path:
    """Loss and accuracy curves of one or more run directories (or cnnlab.train results), overlaid; only their
    metrics are read, never their model. Default: RUN_DIR/curves.png for one run, ./curves.png for several."""
    if isinstance(run_dirs, (str, Path)) or hasattr(run_dirs, "run_dir"):
        run_dirs = [run_dirs]
    run_dirs = [getattr(d, "run_dir", d) for d in run_dirs]  # cnnlab.train's results, or run directories
    runs = [(Path(d), *read_run(d)) for d in run_dirs]
    models = [info["config"]["model"] for _, info, _ in runs]
    histories = {run_label(d, m, models): h for (d, _, h), m in zip(runs, models)}
    default = runs[0][0] / "curves.png" if len(runs) == 1 else Path("curves.png")
    return plots.plot_curves(histories, _out(out, default))


# ---------------------------------------------------------------- predict
@dataclass
class Prediction:
    name: str  # file name, or "test[i]"
    top: list  # [(class, probability)] most probable first
    true: str | None = None  # the label, for data set images


def predict_files(checkpoint, files, invert: str = "auto", out=None, which: str = "best", model=None,
                  dataset=None) -> tuple[list[Prediction], list[str], Path]:
    """Classify image files: returns the predictions, one line per file describing its conversion, and a PNG
    showing each picture as given and as the model sees it. Default: beside the checkpoint, predict.png."""
    loaded = load(checkpoint, which, model, dataset)
    pictures = [read_picture(f, invert, loaded.payload) for f in files]
    x, transform = picture_batch(pictures, loaded)
    logits = loaded.logits(x)
    predictions = [Prediction(p.path.name, top) for p, top in zip(pictures, top_k(logits, loaded.classes))]
    notes = [f"{p.path}: {', '.join(p.steps)}; {transform}" for p in pictures]
    images, titles = [], []
    shown = zip(pictures[:PICTURE_LIMIT // 2], x, predictions)  # the table lists every file; the picture the first 50
    for picture, xi, pred in shown:  # one row per file: as given, as the model sees it
        images += [picture.original, _pixels(xi, loaded).numpy()]
        titles += [picture.path.name[:24], ", ".join(f"{c[:12]} {prob:.0%}" for c, prob in pred.top[:2])]
    path = plots.image_grid(images, titles, _out(out, loaded.run_dir / "predict.png"), cols=2 * min(len(images) // 2, 5),
                            title=f"{loaded.name}: each file as given (left) and as the model sees it (right)")
    return predictions, notes, path


def predict_dataset(checkpoint, dataset=None, limit: int = 10, out=None, data_dir=None, which: str = "best",
                    model=None) -> tuple[list[Prediction], Path]:
    """Predictions for the first `limit` test images beside their true labels (Morvan's tutorial 401's "10 predictions
    vs real"), and a grid of the first PICTURE_LIMIT of them (green: right, red: wrong). Default: beside the
    checkpoint, predict.png."""
    n = limit
    if n < 1:
        raise ConfigError(f"--limit must be at least 1, got {n}")
    loaded = load(checkpoint, which, model, dataset, data_dir)
    data = loaded.dataset(dataset, data_dir)
    check_limit(n, data)
    logits, labels = predict_split(loaded.model, loaded.batches(data.test, limit=n), loaded.evaluation)
    predictions = [Prediction(f"test[{i}]", top, data.classes[int(y)])
                   for i, (top, y) in enumerate(zip(top_k(logits, data.classes), labels))]
    right = [p.top[0][0] == p.true for p in predictions]
    titles = [f"{p.top[0][0]} {p.top[0][1]:.0%}\n(true: {p.true})" for p in predictions]
    shown = min(n, PICTURE_LIMIT)  # the table lists all n; one picture shows the first PICTURE_LIMIT
    part = f"first {shown} of {n} shown, " if shown < n else ""
    path = plots.image_grid(display_images(data.test.images[:shown]), titles[:shown], _out(out, loaded.run_dir / "predict.png"),
                            cols=min(shown, 5 if shown <= 25 else 10), colors=["green" if r else "red" for r in right[:shown]],
                            title=f"{loaded.name} on {data.name} test: {sum(right)}/{n} right ({part}green: right, red: wrong)")
    return predictions, path


# ---------------------------------------------------------------- confusion
@dataclass
class Confusion:
    matrix: torch.Tensor  # (classes, classes): row = true, column = predicted
    classes: tuple
    accuracy: float
    per_class: list  # [(class, accuracy, images)]
    pairs: list  # [(true, predicted, count)] most frequent confusions first
    mistakes: list  # [(test index, true class, predicted class, probability)] most confident first
    path: Path
    mistakes_path: Path

    def __repr__(self) -> str:  # one line in a notebook: the matrix is in .matrix and the picture
        top = ", ".join(f"{t} -> {p} ({n})" for t, p, n in self.pairs[:2]) or "none"
        return (f"Confusion(accuracy {self.accuracy:.4f} on {int(self.matrix.sum()):,} images; most confused: {top}; "
                f"{self.path})")


def confusion(checkpoint, out=None, limit=None, data_dir=None, pairs: int = 8, mistakes: int = 24, which: str = "best",
              model=None, dataset=None) -> Confusion:
    """Confusion matrix over the test set with per-class accuracy, the most confused pairs, and a grid of the
    most confidently wrong images. Default: beside the checkpoint, confusion.png and confusion_mistakes.png."""
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    loaded = load(checkpoint, which, model, dataset, data_dir)
    data = loaded.dataset(dataset, data_dir)
    check_limit(limit, data)
    logits, labels = predict_split(loaded.model, loaded.test_batches(data, limit), loaded.evaluation)
    matrix = confusion_matrix(logits, labels, len(data.classes))
    per_class = per_class_accuracy(logits, labels, data.classes)
    accuracy = (logits.argmax(1) == labels).float().mean().item()
    path = plots.plot_confusion(matrix, data.classes, per_class, _out(out, loaded.run_dir / "confusion.png"),
                                title=f"{loaded.name} on {data.name} test ({len(labels):,} images): accuracy {accuracy:.2%}")
    wrong = [(i, data.classes[int(labels[i])], data.classes[k], p) for i, k, p in confident_mistakes(logits, labels, mistakes)]
    mistakes_path = path.with_name(path.stem + "_mistakes.png")
    if wrong:
        plots.image_grid(display_images(data.test.images[[i for i, *_ in wrong]]),
                         [f"[{i}] {t[:11]}\n→ {p[:11]} {q:.0%}" for i, t, p, q in wrong], mistakes_path, cols=8,
                         title=f"{loaded.name}: most confident mistakes ([test index] true → predicted probability)")
    else:
        mistakes_path = None
    return Confusion(matrix, data.classes, accuracy, per_class, most_confused(matrix, data.classes, pairs), wrong,
                     path, mistakes_path)


# ---------------------------------------------------------------- t-SNE
def embed_tsne(features: torch.Tensor, seed: int = 0):
    """2-D t-SNE of (N, D) features (scikit-learn; PCA initialisation, as stable as t-SNE gets)."""
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(features) - 1) / 3)  # t-SNE needs perplexity < N
    return TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                random_state=seed).fit_transform(features.numpy())


def tsne(checkpoint, limit: int = 2000, out=None, data_dir=None, seed: int = 0, which: str = "best", model=None,
         dataset=None) -> Path:
    """t-SNE of the last hidden layer's features (cnnlab.inspect.penultimate) for the first `limit` test images,
    coloured and labelled by class, as in Morvan's tutorial 401. Default: beside the checkpoint, tsne.png."""
    from .inspect import penultimate

    n = limit
    if n < 5:
        raise ConfigError(f"--limit must be at least 5 for t-SNE, got {n}")
    loaded = load(checkpoint, which, model, dataset, data_dir)
    data = loaded.dataset(dataset, data_dir)
    check_limit(n, data, least=5)
    batches = loaded.batches(data.test, limit=n)
    features = torch.cat([penultimate(loaded.model, x).float() for x, _ in batches])  # (n, D)
    points = embed_tsne(features, seed)
    title = (f"{loaded.name}: t-SNE of the last hidden layer ({features.shape[1]} features), "
             f"{len(features):,} {data.name} test images")
    return plots.plot_embedding(points, batches.labels.numpy(), data.classes,
                                _out(out, loaded.run_dir / "tsne.png"), title=title)


# ---------------------------------------------------------------- features and kernels
def conv_activations(model: nn.Module, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """The output of every Conv2d call for the input batch `x`, in the order they run: [(module name, output)]."""
    names = {m: name for name, m in model.named_modules()}
    captured = []

    def grab(module, args, output):
        captured.append((names[module], output.detach().float()))

    forward_with_hooks(model, x, [m for m in model.modules() if isinstance(m, nn.Conv2d)], grab)
    return captured


def features(checkpoint, image=None, index: int = 0, out=None, invert: str = "auto", data_dir=None,
             max_layers: int = 12, which: str = "best", model=None, dataset=None) -> tuple[list[tuple[str, tuple]], str, Path]:
    """Activation maps of every convolution layer for one input (an image file, else test image `index`), one
    grid per layer titled with its output shape. More than `max_layers` layers: evenly spaced ones, first and
    last included. Returns [(layer, shape)] of all conv layers, the input described, and the PNG path
    (default: beside the checkpoint, features.png)."""
    if not 2 <= max_layers <= MAX_LAYERS:
        raise ConfigError(f"--max-layers must be in 2-{MAX_LAYERS} (grids one picture shows), got {max_layers}")
    loaded = load(checkpoint, which, model, dataset, data_dir)
    if image is not None:
        picture = read_picture(image, invert, loaded.payload)
        x, transform = picture_batch([picture], loaded)
        source = f"{picture.path}: {', '.join(picture.steps)}; {transform}"
        label = picture.path.name
    else:
        data = loaded.dataset(dataset, data_dir)
        if not 0 <= index < len(data.test):
            raise ConfigError(f"--index must be in 0-{len(data.test) - 1}, got {index}")
        x, y = next(iter(loaded.batches(Split(data.test.images[index:index + 1], data.test.labels[index:index + 1]))))
        source = f"{data.name} test image {index} ({data.classes[int(y)]})"
        label = source
    layers = conv_activations(loaded.model, x)
    if not layers:
        raise ConfigError(f"model '{loaded.name}' has no Conv2d layers to show")
    predicted = top_k(loaded.logits(x), loaded.classes, 1)[0][0]
    keep = range(len(layers))
    if len(layers) > max_layers:
        keep = sorted({round(i * (len(layers) - 1) / (max_layers - 1)) for i in range(max_layers)})
    grids = [(f"conv '{layers[i][0]}' ({i + 1}/{len(layers)}): {list(layers[i][1].shape)}", layers[i][1][0].numpy())
             for i in keep]
    path = plots.plot_activations(_pixels(x[0], loaded).numpy(), grids, _out(out, loaded.run_dir / "features.png"),
                                  title=f"{loaded.name}: {label}, predicted {predicted[0]} {predicted[1]:.0%}")
    return [(name, tuple(o.shape)) for name, o in layers], source, path


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise ConfigError(f"{type(model).__name__} has no Conv2d layer: no kernels to show")


def kernels(checkpoint, out=None, which: str = "best", model=None) -> tuple[str, tuple, Path]:
    """The first convolution layer's learned kernels. Returns (layer name, weight shape, PNG path);
    default: beside the checkpoint (for a module: the current directory), kernels.png."""
    if isinstance(checkpoint, nn.Module):
        label, net = type(checkpoint).__name__, checkpoint
        default = Path(".")
    else:
        loaded = load(checkpoint, which, model)
        label, net, default = loaded.name, loaded.model, loaded.run_dir
    name, conv = first_conv(net)
    weight = conv.weight.detach().float()
    k = weight.shape[-1]
    outputs = max(1, min(weight.shape[0], PICTURE_LIMIT // weight.shape[1]))  # tiles one picture shows
    part = f" (the first {outputs} shown)" if outputs < weight.shape[0] else ""
    path = plots.plot_kernels(weight[:outputs].numpy(), _out(out, default / "kernels.png"),
                              title=f"{label}: first layer '{name}', {weight.shape[0]} kernels {k}x{k}{part} "
                                    f"(red excites, blue inhibits)")
    return name, tuple(weight.shape), path


# ---------------------------------------------------------------- the views' Python faces
def predict(checkpoint, images=None, limit: int = 10, dataset=None, out=None, which: str = "best", model=None,
            invert: str = "auto", data_dir=None) -> tuple[list[Prediction], Path]:
    """`cnnlab predict` from Python: the image files `images` classified (predict_files), or without them the
    first `limit` test images beside their true labels (predict_dataset). Returns (predictions, PNG path)."""
    if images:
        images = [images] if isinstance(images, (str, Path)) else images
        predictions, _, path = predict_files(checkpoint, images, invert, out, which, model, dataset)
        return predictions, path
    return predict_dataset(checkpoint, dataset, limit, out, data_dir, which, model)


def plot(*runs, out=None) -> Path:
    """`cnnlab plot` from Python: curves of run directories or cnnlab.train results, overlaid."""
    return plot_runs(runs, out)


# ---------------------------------------------------------------- compare
COMPARE_FIELDS = ("run", "model", "dataset", "input", "parameters", "mult_adds", "epochs", "test_images",
                  "best_test_acc", "images_per_s", "train_seconds")


def run_row(run_dir, label: str) -> dict:
    """One run's line of the comparison: size and cost of the model, best accuracy, speed and time."""
    from .inspect import summarize
    from .models import create_model

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
        "parameters": info["parameters"], "mult_adds": operations,
        "epochs": len(history), "test_images": info.get("test_images"),
        "best_test_acc": max(r["test_acc"] for r in history),
        # throughput of the training passes, averaged over epochs; time sums them (test passes excluded)
        "images_per_s": round(sum(r["images_per_s"] for r in history) / len(history), 1),
        "train_seconds": round(sum(r["seconds"] for r in history), 1),
    }


def markdown_table(rows: list[dict]) -> str:
    header = ["run", "parameters", "mult-adds", "epochs", "test set (images)", "best test acc", "images/s",
              "train time (s)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for r in rows:  # accuracies on other data sets or on a few test images are not comparable: say which
        tested = f"{r['dataset']} {r['test_images']:,}" if r["test_images"] is not None else r["dataset"]
        lines.append(f"| {r['run']} | {r['parameters']:,} | {r['mult_adds'] / 1e6:,.2f} M | {r['epochs']} | "
                     f"{tested} | {r['best_test_acc']:.4f} | {r['images_per_s']:,.0f} | {r['train_seconds']:,.1f} |")
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


def compare(run_dirs, out_dir=".") -> tuple[list[dict], list[Path]]:
    """Compare finished runs: returns one row per run (COMPARE_FIELDS) and the files written in `out_dir`:
    compare.csv, compare_time.png (accuracy against training time) and compare_params.png (against parameters)."""
    run_dirs = [Path(d) for d in run_dirs]
    runs = [read_run(d) for d in run_dirs]
    models = [info["config"]["model"] for info, _ in runs]
    rows = [run_row(d, run_label(d, m, models)) for d, m in zip(run_dirs, models)]
    out_dir = Path(out_dir)
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
        timelines.append((row["run"], elapsed, [r["test_acc"] for r in history]))
    time_png = plots.plot_accuracy_vs_time(timelines, out_dir / "compare_time.png")
    params_png = plots.plot_accuracy_vs_params([(r["run"], r["parameters"], r["best_test_acc"]) for r in rows],
                                               out_dir / "compare_params.png")
    return rows, [table, time_png, params_png]


__all__ = ["checkpoint_file", "read_run", "compare", "confusion", "conv_activations", "features", "kernels", "markdown_table",
           "plot", "plot_runs", "predict", "predict_dataset", "predict_files", "read_picture", "show", "tsne"]
