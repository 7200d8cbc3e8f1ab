"""Pictures drawn from data that is already computed (histories, images, matrices, embeddings, activations):
one PNG per call, the path returned; the path carries the figure (`.figure`), which a notebook shows inline.
Figures are matplotlib.figure.Figure objects, never pyplot's: the user's backend and open figures stay as
they were. What to draw is computed in the views package (cnnlab.views)."""
import math
import textwrap
from pathlib import Path

import numpy as np

from .errors import ConfigError


def figure(**options):
    """A new figure outside pyplot (no backend chosen, nothing global kept: it is freed with its last reference);
    savefig renders it with Agg."""
    from matplotlib.figure import Figure

    return Figure(**options)


def subplots(nrows: int = 1, ncols: int = 1, *, figsize, **options):
    """pyplot.subplots' (figure, axes), on a figure of our own."""
    fig = figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **options)


def colormap(name: str):
    import matplotlib

    return matplotlib.colormaps[name]


class FigurePath(type(Path())):
    """The PNG's path, carrying the figure drawn into it: a notebook shows it inline (`_repr_png_`)."""
    figure = None
    dpi = 110

    def _repr_png_(self):
        from .notebook import png_bytes

        return png_bytes(self.figure, self.dpi) if self.figure is not None else None


def _save(fig, path, dpi: int = 110, flag: str = "--out") -> FigurePath:
    """The one writer of every picture: a path that cannot be written is a ConfigError naming it and `flag`."""
    path = FigurePath(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    except (OSError, ValueError) as error:  # ValueError: a file name ending in a format matplotlib cannot write
        raise ConfigError(f"cannot write {path} ({error}); choose another {flag}") from None
    path.figure, path.dpi = fig, dpi
    return path


def plot_curves(histories: dict, path) -> Path:
    """Loss and accuracy against epoch for one or more runs ({label: per-epoch rows}); returns the PNG path.
    Each run has one colour; train is a solid line, test a dashed one."""
    fig = figure(figsize=(11, 4.2))
    draw_curves(fig, histories)
    return _save(fig, path)


def draw_curves(fig, histories: dict) -> None:
    """plot_curves' two panels drawn into `fig` (also redrawn in place by the notebook reporter)."""
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, (label, rows) in enumerate(histories.items()):
        epochs = [r["epoch"] for r in rows]
        color = f"C{i % 10}"
        prefix = f"{label} " if len(histories) > 1 else ""
        ax_loss.plot(epochs, [r["train_loss"] for r in rows], "-o", color=color, ms=3, label=f"{prefix}train")
        tested = [r for r in rows if r["test_acc"] is not None]  # --test-every: the tested epochs only
        ax_loss.plot([r["epoch"] for r in tested], [r["test_loss"] for r in tested], "--s", color=color, ms=3,
                     label=f"{prefix}test")
        ax_acc.plot(epochs, [r["train_acc"] for r in rows], "-o", color=color, ms=3, label=f"{prefix}train")
        ax_acc.plot([r["epoch"] for r in tested], [r["test_acc"] for r in tested], "--s", color=color, ms=3,
                    label=f"{prefix}test")
    for ax, name in ((ax_loss, "cross-entropy loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)  # epochs are whole numbers
    title = next(iter(histories)) if len(histories) == 1 else f"{len(histories)} runs"
    fig.suptitle(title)
    fig.tight_layout()


def image_grid(images, titles, path, *, cols: int = 8, title: str | None = None, colors=None) -> Path:
    """A grid of images (each (H, W) grayscale or (H, W, 3) RGB, any numeric range) with a title above each.
    `colors` optionally colours each title (e.g. green for right, red for wrong).
    Every picture and title is drawn into one axes whose units are the figure's inches, each picture fitted to its
    cell with its own aspect: a matplotlib axes per picture (and tight_layout over them) took 6-9 s for 100."""
    n = len(images)
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    lines = max(t.count("\n") + 1 for t in titles)
    width = max(1.45 * cols, 4.5)  # a grid of one or two columns still needs room for its titles
    label, cell = 0.14 * lines + 0.06, 1.4 + 0.14 * lines  # inches: a title's room, and a whole row
    head, margin = (0.5 if title else 0.05), 0.05
    height = rows * cell + head + margin
    fig = figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    column = (width - 2 * margin) / cols
    box_w, box_h = column - 0.1, cell - label - 0.08  # a picture's room, with a gap to its neighbours
    for i, image in enumerate(images):
        image = np.asarray(image)  # an array, a tensor on the CPU or a PIL image
        left, top = margin + (i % cols) * column, head + (i // cols) * cell
        h, w = image.shape[:2]
        scale = min(box_w / w, box_h / h)
        x0, y0 = left + (column - w * scale) / 2, top + label + (box_h - h * scale) / 2
        ax.imshow(image, cmap=None if image.ndim == 3 else "gray", interpolation="nearest",
                  extent=(x0, x0 + w * scale, y0 + h * scale, y0), aspect="auto")
        ax.text(left + column / 2, y0 - 0.03, titles[i], ha="center", va="bottom", fontsize=7,
                color=colors[i] if colors else "black")
    ax.set_xlim(0, width)  # after imshow, which sets the limits to its own extent
    ax.set_ylim(height, 0)  # y grows downwards, as rows do
    if title:
        fig.suptitle(textwrap.fill(title, width=int(11 * width)), fontsize=10, y=1 - 0.08 / height, va="top")
    return _save(fig, path)


def plot_confusion(matrix, classes, per_class, path, title: str = "") -> Path:
    """The confusion matrix (rows: true class, columns: predicted), shaded by the fraction of each true class,
    with the counts written in; each row's label carries that class's accuracy."""
    counts = matrix.numpy() if hasattr(matrix, "numpy") else matrix
    fractions = counts / counts.sum(1, keepdims=True).clip(min=1)
    n = len(classes)
    fig, ax = subplots(figsize=(2.2 + 0.62 * n, 1.4 + 0.55 * n))
    image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if counts[i, j]:
                ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=7,
                        color="white" if fractions[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), [f"{name} {'n/a' if acc is None else f'{acc:.0%}'}" for name, acc, _ in per_class],
                  fontsize=8)  # n/a: a class with no test image
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (accuracy)")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_embedding(points, labels, classes, path, title: str = "") -> Path:
    """A 2-D embedding (N, 2) as a scatter coloured by class, each class's name written at its median point
    (Morvan's tutorial writes every point's label; the median keeps the picture readable with thousands of points)."""
    import numpy as np

    points, labels = np.asarray(points), np.asarray(labels)
    fig, ax = subplots(figsize=(7.5, 6.5))
    cmap = colormap("tab10" if len(classes) <= 10 else "tab20")
    for k, name in enumerate(classes):
        mine = points[labels == k]
        if len(mine) == 0:
            continue
        ax.scatter(mine[:, 0], mine[:, 1], s=5, color=cmap(k % cmap.N), alpha=0.6, label=name)
        x, y = np.median(mine, axis=0)
        ax.text(x, y, name, fontsize=9, weight="bold", ha="center", va="center", color=cmap(k % cmap.N),
                bbox=dict(facecolor="white", alpha=0.7, edgecolor="none", pad=1))
    ax.legend(fontsize=7, markerscale=3, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_activations(image, layers, path, *, max_maps: int = 16, title: str = "") -> Path:
    """The input image, then one grid per layer: `layers` is a list of (label, (C, H, W) array); up to `max_maps`
    channels of each are shown, each map scaled to its own range (brighter = stronger response)."""
    cols, tile, head = 8, 1.1, 0.35  # maps per row; inches per map and per grid title
    rows = [1] + [math.ceil(min(len(maps), max_maps) / cols) for _, maps in layers]
    inches = [tile * r + head for r in rows]
    fig = figure(figsize=(tile * cols, sum(inches)))
    subfigs = fig.subfigures(len(rows), 1, height_ratios=inches, squeeze=False)[:, 0]
    for subfig, h in zip(subfigs, inches):  # tight grids: only the title takes room above them
        subfig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=1 - head / h, wspace=0.06, hspace=0.06)
    ax = subfigs[0].subplots(1, 1)
    ax.imshow(image, cmap="gray", interpolation="nearest")
    ax.axis("off")
    subfigs[0].suptitle(title or "input", fontsize=9)
    for subfig, (label, maps), n_rows in zip(subfigs[1:], layers, rows[1:]):
        shown = min(len(maps), max_maps)
        axes = subfig.subplots(n_rows, cols, squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < shown:
                ax.imshow(maps[i], cmap="viridis", interpolation="nearest")
        more = f" (first {shown} of {len(maps)} channels)" if shown < len(maps) else ""
        subfig.suptitle(label + more, fontsize=9)
    return _save(fig, path, dpi=90)


def plot_kernels(weights, path, title: str = "") -> Path:
    """Convolution kernels (O, I, k, k): one tile per (output, input) pair, on a diverging scale centred on
    zero shared by all tiles (red excites, blue inhibits), so their strengths can be compared."""
    import numpy as np

    weights = np.asarray(weights)
    out_ch, in_ch = weights.shape[:2]
    tiles = weights.reshape(out_ch * in_ch, *weights.shape[2:])
    n = len(tiles)
    if in_ch == 1:  # balanced rows of at most 8: 10 kernels as 2 x 5, not 8 + 2
        rows = math.ceil(n / 8)
        cols = math.ceil(n / rows)
    else:  # one row per output channel, one column per input channel
        cols = in_ch
    rows = math.ceil(n / cols)
    limit = float(np.abs(tiles).max()) or 1.0
    fig, axes = subplots(rows, cols, figsize=(1.1 * cols + 1.0, 1.15 * rows + 0.5), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            image = ax.imshow(tiles[i], cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
            ax.set_title(f"{i // in_ch}" if in_ch == 1 else f"{i // in_ch}.{i % in_ch}", fontsize=7)
    fig.colorbar(image, ax=axes.ravel().tolist(), fraction=0.03, pad=0.02)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_accuracy_vs_time(runs, path) -> Path:
    """Test accuracy after each epoch against cumulative training seconds; `runs` = [(label, seconds, accuracies)]."""
    fig, ax = subplots(figsize=(6.5, 4.2))
    for i, (label, seconds, accuracies) in enumerate(runs):
        ax.plot(seconds, accuracies, "-o", ms=4, color=f"C{i % 10}", label=label)
    ax.set_xlabel("training time (s, test passes excluded)")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("accuracy against time", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_accuracy_vs_params(runs, path) -> Path:
    """Best test accuracy against parameter count (log scale); `runs` = [(label, parameters, accuracy)]."""
    fig, ax = subplots(figsize=(6.5, 4.2))
    order = sorted(range(len(runs)), key=lambda i: -runs[i][2])  # top to bottom, so stacked labels keep their order
    accuracies = [r[2] for r in runs]
    spread = max(accuracies) - min(accuracies) if accuracies else 0  # no runs: a run with no test yet is left out
    near = 0.05 * (spread or 1)  # closer than this, two labels on one line would collide
    beside = {}  # runs of one parameter count sit on one vertical line: close ones stack their labels downwards
    for i in order:
        label, params, accuracy = runs[i]
        ax.scatter([params], [accuracy], s=40, color=f"C{i % 10}", label=label, zorder=3)
        above, k = beside.get(params, (None, -1))
        k = k + 1 if above is not None and above - accuracy < near * (k + 2) else 0
        beside[params] = (accuracy, k)
        ax.annotate(label, (params, accuracy), textcoords="offset points", xytext=(8, 4 - 11 * k), fontsize=8,
                    color=f"C{i % 10}", arrowprops=dict(arrowstyle="-", color="0.7", lw=0.5) if k else None)
    ax.set_xscale("log")
    ax.margins(x=0.25, y=0.15)  # room for the labels beside the points
    ax.set_xlabel("parameters")
    ax.set_ylabel("best test accuracy")
    ax.grid(alpha=0.3, which="both")
    ax.set_title("accuracy against parameters", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_panels(panels, path, title: str = "", flag: str = "--plot") -> Path:
    """(title, 2-D tensor or array) panels on a grey scale symmetric about zero (0 is mid-grey, negatives dark),
    in rows of at most PANELS_PER_ROW; small arrays get their values written in, short enough to fit a cell
    (integers as they are, others to one decimal) and in black or white against the cell's grey."""
    import numpy as np

    cols = len(panels) if len(panels) <= PANELS_PER_ROW + 1 else PANELS_PER_ROW
    rows = math.ceil(len(panels) / cols)
    fig, axes = subplots(rows, cols, figsize=(2.6 * cols, 2.9 * rows + 0.3), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (name, values) in zip(axes.flat, panels):
        a = values.detach().float().numpy() if hasattr(values, "detach") else np.asarray(values, dtype=float)
        limit = max(abs(a).max(), 1e-8)
        ax.imshow(a, cmap="gray", vmin=-limit, vmax=limit, interpolation="nearest")
        if a.size <= 100:
            whole = np.allclose(a, np.round(a), atol=1e-6)
            for (i, j), v in np.ndenumerate(a):
                text = f"{v:.0f}" if whole else f"{v:.1f}"
                text = "0" if text in ("-0", "-0.0", "0.0") else text
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="black" if v >= 0 else "white")  # on mid-grey (zero) and lighter: black
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path, flag=flag)


PANELS_PER_ROW = 4  # more panels than 5 wrap onto further rows: the filters lesson's 10 as 3 rows of 4
