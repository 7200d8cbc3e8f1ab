"""Views of what a trained network decides: `predict` (files or test images), `confusion` and `tsne`. Every
prediction goes through cnnlab.evaluate with the checkpoint's recorded precision and test-time augmentation;
every picture through cnnlab.pictures."""
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import pictures, plots
from ..data import display_images
from ..errors import ConfigError
from ..evaluate import confident_mistakes, confusion_matrix, most_confused, per_class_accuracy, predict_split, top_k
from .figure import PICTURE_LIMIT, Figure, limit_of, load, out_path, safe_stem


@dataclass
class Prediction:
    name: str  # file name, or "test[i]"
    top: list  # [(class, probability)] most probable first
    true: str | None = None  # the label, for data set images


def _predict_name(files) -> str:
    """predict_NAME.png after the image (several: after the first, with the count): a second image never
    overwrites the first one's picture."""
    first = safe_stem(Path(files[0]).name)
    return f"predict_{first}.png" if len(files) == 1 else f"predict_{first}_and_{len(files) - 1}_more.png"


def predict_files(checkpoint, files, invert: str = "auto", out=None, which: str = "best", model=None,
                  dataset=None, command: str = "predict") -> Figure:
    """Classify image files: a PNG showing each picture as given and as the model sees it (default: in the run
    directory, predict_IMAGE.png), with .predictions and .notes (one line per file describing its conversion)."""
    files = [files] if isinstance(files, (str, Path)) else list(files)
    if not files:
        raise ConfigError("no image files given")
    net = load(checkpoint, which, model, dataset, command=command)
    converted = [pictures.read_file(f, net, invert) for f in files]
    x, transform = pictures.model_input(converted, net)
    logits = net.logits(x)
    predictions = [Prediction(p.name, top) for p, top in zip(converted, top_k(logits, net.classes))]
    notes = [f"{p.path}: {', '.join(p.steps)}; {transform}" for p in converted]
    images, titles = [], []
    shown = zip(converted[:PICTURE_LIMIT // 2], x, predictions)  # the table lists every file; the picture the first 50
    for picture, xi, pred in shown:  # one row per file: as given, as the model sees it
        images += [picture.original, pictures.seen(xi, net)]
        titles += [picture.name[:24], ", ".join(f"{c[:12]} {prob:.0%}" for c, prob in pred.top[:2])]
    path = plots.image_grid(images, titles, out_path(out, net.out_dir / _predict_name(files)),
                            cols=2 * min(len(images) // 2, 5),
                            title=f"{net.name}: each file as given (left) and as the model sees it (right)")
    return Figure.of(path, legacy=(predictions, notes, path), predictions=predictions, notes=notes)


def predict_dataset(checkpoint, dataset=None, limit: int = 10, out=None, data_dir=None, which: str = "best",
                    model=None, command: str = "predict") -> Figure:
    """Predictions for the first `limit` test images beside their true labels (Morvan's tutorial 401's "10 predictions
    vs real"), and a grid of the first PICTURE_LIMIT of them (green: right, red: wrong). Default: in the run
    directory, predict.png. A limit above the test set's size means all of it (.notes says so)."""
    net = load(checkpoint, which, model, dataset, data_dir, command=command)
    data = net.dataset(dataset, data_dir)
    n, note = limit_of(limit, data)
    logits, labels = predict_split(net.model, net.batches(data.test, limit=n), net.evaluation)
    predictions = [Prediction(f"test[{i}]", top, data.classes[int(y)])
                   for i, (top, y) in enumerate(zip(top_k(logits, data.classes), labels))]
    right = [p.top[0][0] == p.true for p in predictions]
    titles = [f"{p.top[0][0]} {p.top[0][1]:.0%}\n(true: {p.true})" for p in predictions]
    shown = min(n, PICTURE_LIMIT)  # the table lists all n; one picture shows the first PICTURE_LIMIT
    part = f"first {shown} of {n} shown, " if shown < n else ""
    path = plots.image_grid(display_images(data.test.images[:shown]), titles[:shown],
                            out_path(out, net.out_dir / "predict.png"),
                            cols=min(shown, 5 if shown <= 25 else 10),
                            colors=["green" if r else "red" for r in right[:shown]],
                            title=f"{net.name} on {data.name} test: {sum(right)}/{n} right "
                                  f"({part}green: right, red: wrong)")
    return Figure.of(path, legacy=(predictions, path), predictions=predictions, notes=[note] if note else [])


def predict(checkpoint, images=None, limit: int = 10, dataset=None, out=None, which: str = "best", model=None,
            invert: str = "auto", data_dir=None) -> Figure:
    """`cnnlab predict` from Python: the image files `images` classified (predict_files), or without them the
    first `limit` test images beside their true labels (predict_dataset). The Figure's .predictions lists them."""
    if images:
        figure = predict_files(checkpoint, images, invert, out, which, model, dataset)
        figure._legacy = (figure.predictions, figure)
        return figure
    return predict_dataset(checkpoint, dataset, limit, out, data_dir, which, model)


# ---------------------------------------------------------------- confusion
class Confusion(Figure):
    """confusion.png, with .matrix ((classes, classes): row = true, column = predicted), .classes, .accuracy,
    .per_class [(class, accuracy, images)], .pairs [(true, predicted, count)] most frequent first, .mistakes
    [(test index, true, predicted, probability)] most confident first, .path and .mistakes_path (None: none)."""

    def __repr__(self) -> str:  # one line in a notebook's text view: the matrix is in .matrix and the picture
        top = ", ".join(f"{t} -> {p} ({n})" for t, p, n in self.pairs[:2]) or "none"
        return (f"Confusion(accuracy {self.accuracy:.4f} on {int(self.matrix.sum()):,} images; most confused: {top}; "
                f"{self.path})")


def confusion(checkpoint, out=None, limit=None, data_dir=None, pairs: int = 8, mistakes: int = 24, which: str = "best",
              model=None, dataset=None, command: str = "confusion") -> Confusion:
    """Confusion matrix over the test set with per-class accuracy, the most confused pairs, and a grid of the
    most confidently wrong images. Default: in the run directory, confusion.png and confusion_mistakes.png."""
    net = load(checkpoint, which, model, dataset, data_dir, command=command)
    data = net.dataset(dataset, data_dir)
    n, note = limit_of(limit, data)
    logits, labels = predict_split(net.model, net.test_batches(data, n if limit is not None else None),
                                   net.evaluation)
    matrix = confusion_matrix(logits, labels, len(data.classes))
    per_class = per_class_accuracy(logits, labels, data.classes)
    accuracy = (logits.argmax(1) == labels).float().mean().item()
    path = plots.plot_confusion(matrix, data.classes, per_class, out_path(out, net.out_dir / "confusion.png"),
                                title=f"{net.name} on {data.name} test ({len(labels):,} images): "
                                      f"accuracy {accuracy:.2%}")
    wrong = [(i, data.classes[int(labels[i])], data.classes[k], p)
             for i, k, p in confident_mistakes(logits, labels, mistakes)]
    mistakes_path = path.with_name(path.stem + "_mistakes.png")
    if wrong:
        plots.image_grid(display_images(data.test.images[[i for i, *_ in wrong]]),
                         [f"[{i}] {t[:11]}\n→ {p[:11]} {q:.0%}" for i, t, p, q in wrong], mistakes_path, cols=8,
                         title=f"{net.name}: most confident mistakes ([test index] true → predicted probability)")
    else:
        mistakes_path = None
    return Confusion.of(path, matrix=matrix, classes=data.classes, accuracy=accuracy, per_class=per_class,
                        pairs=most_confused(matrix, data.classes, pairs), mistakes=wrong, path=Path(path),
                        mistakes_path=mistakes_path, notes=[note] if note else [])


# ---------------------------------------------------------------- t-SNE
def embed_tsne(features: torch.Tensor, seed: int = 0):
    """2-D t-SNE of (N, D) features (scikit-learn; PCA initialisation, as stable as t-SNE gets)."""
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(features) - 1) / 3)  # t-SNE needs perplexity < N
    return TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                random_state=seed).fit_transform(features.cpu().numpy())


def tsne(checkpoint, limit: int = 2000, out=None, data_dir=None, seed: int = 0, which: str = "best", model=None,
         dataset=None, command: str = "tsne") -> Figure:
    """t-SNE of the last hidden layer's features (cnnlab.inspect.penultimate) for the first `limit` test images,
    coloured and labelled by class, as in Morvan's tutorial 401. Default: in the run directory, tsne.png. The
    Figure keeps .points (N, 2), .labels and .classes."""
    from ..inspect import penultimate

    net = load(checkpoint, which, model, dataset, data_dir, command=command)
    data = net.dataset(dataset, data_dir)
    n, note = limit_of(limit, data, least=5, purpose=" for t-SNE")
    batches = net.batches(data.test, limit=n)
    features = torch.cat([penultimate(net.model, x).float() for x, _ in batches])  # (n, D)
    points = embed_tsne(features, seed)
    title = (f"{net.name}: t-SNE of the last hidden layer ({features.shape[1]} features), "
             f"{len(features):,} {data.name} test images")
    labels = batches.labels.cpu().numpy()
    path = plots.plot_embedding(points, labels, data.classes, out_path(out, net.out_dir / "tsne.png"), title=title)
    return Figure.of(path, points=points, labels=labels, classes=data.classes, notes=[note] if note else [])
