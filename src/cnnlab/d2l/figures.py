"""d2l's plotting names (use_svg_display, set_figsize, set_axes, plot, show_images, Animator) on pyplot-free
figures: in Jupyter each figure is shown in the cell (an Animator redrawn in place); elsewhere it is written as a
PNG into d2l-figures/ in the working directory, which the first figure creates and names once. d2l itself draws
with pyplot and shows nothing in a terminal."""
from pathlib import Path

import torch

from ..errors import ConfigError
from ..notebook import LiveFigure, in_notebook
from ..plots import subplots

FIGURES_DIR = "d2l-figures"
_written: set[Path] = set()  # the PNGs this process has written, so that none overwrites another
_told: set[Path] = set()  # the folders whose place has been said


def figure_path(name: str) -> Path:
    """A new PNG path in d2l-figures/ for a figure called `name`: `name.png`, then `name-2.png`, ..., so that no
    figure of this process overwrites another (a script that calls plot() three times keeps three files; running
    it again replaces them). The first figure in a folder says where the figures go."""
    folder = Path(FIGURES_DIR).resolve()
    try:
        folder.mkdir(exist_ok=True)
    except OSError as error:
        raise ConfigError(f"{folder}: cannot create the folder for d2l's figures ({error.strerror or error}); "
                          f"work in a writable directory (os.chdir) or pass path=") from None
    if folder not in _told:
        print(f"d2l figures are written to {folder}/ (outside Jupyter there is no window to show them)")
        _told.add(folder)
    count = 1
    while (path := folder / (f"{name}.png" if count == 1 else f"{name}-{count}.png")) in _written:
        count += 1
    _written.add(path)
    return path


def show(fig, name: str, path=None) -> Path | None:
    """A finished figure: inline in a notebook; written as a PNG to `path` if given, and outside a notebook to a
    new file in d2l-figures/ otherwise. Returns the file written, if any."""
    notebook = in_notebook()
    if notebook:
        from IPython.display import Image, display

        from ..notebook import png_bytes

        display(Image(data=png_bytes(fig)))
    if notebook and path is None:
        return None
    path = Path(path) if path is not None else figure_path(name)
    fig.savefig(path, dpi=100)
    return path


def use_svg_display():
    """In Jupyter, pyplot's inline figures as SVG (d2l 2.4). cnnlab's own figures are unaffected: they are PNGs
    rendered by cnnlab. Outside Jupyter there is no inline display, so nothing to do."""
    if in_notebook():
        from matplotlib_inline import backend_inline

        backend_inline.set_matplotlib_formats("svg")


def set_figsize(figsize=(3.5, 2.5)):
    """The default size (inches) of new figures, pyplot's included (matplotlib.rcParams; pyplot is not imported)."""
    import matplotlib

    use_svg_display()
    matplotlib.rcParams["figure.figsize"] = figsize


def set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend):
    """Labels, limits, scales, legend and grid of one matplotlib Axes."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_xscale(xscale)
    axes.set_yscale(yscale)
    if not (xlim and xlim[0] == xlim[1]):  # train_ch6 over one epoch asks for [1, 1]: matplotlib would warn
        axes.set_xlim(xlim)
    axes.set_ylim(ylim)
    if legend:
        axes.legend(legend)
    axes.grid()


def _plottable(values):
    """A tensor as matplotlib takes it (detached, on the CPU); anything else unchanged."""
    return values.detach().cpu() if torch.is_tensor(values) else values


def _has_one_axis(values) -> bool:
    """True for one series (a 1-D array or a flat list), False for a list of series."""
    return (hasattr(values, "ndim") and values.ndim == 1 or isinstance(values, list)
            and not hasattr(values[0], "__len__"))


def plot(X, Y=None, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None, xscale="linear", yscale="linear",
         fmts=("-", "m--", "g-.", "r:"), figsize=(3.5, 2.5), axes=None):
    """One or more curves (d2l 2.4): X and Y a series or a list of series; Y alone plots against the index.
    With `axes`, draws into them and shows nothing (the caller owns the figure); else a figure of its own."""
    legend = legend or []
    own = axes is None
    if own:
        fig, axes = subplots(figsize=figsize)
    X = [_plottable(x) for x in X] if isinstance(X, (list, tuple)) else _plottable(X)
    if Y is not None:
        Y = [_plottable(y) for y in Y] if isinstance(Y, (list, tuple)) else _plottable(Y)
    if _has_one_axis(X):
        X = [X]
    if Y is None:
        X, Y = [[]] * len(X), X
    elif _has_one_axis(Y):
        Y = [Y]
    if len(X) != len(Y):
        X = X * len(Y)
    axes.cla()
    for x, y, fmt in zip(X, Y, fmts):
        if len(x):
            axes.plot(x, y, fmt)
        else:
            axes.plot(y, fmt)
    set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend)
    if own:
        show(fig, "plot")


def image_grid(imgs, num_rows: int, num_cols: int, titles=None, scale: float = 1.5):
    """show_images' figure and flattened axes, not yet shown."""
    fig, axes = subplots(num_rows, num_cols, figsize=(num_cols * scale, num_rows * scale), squeeze=False)
    axes = axes.flatten()
    for i, (ax, img) in enumerate(zip(axes, imgs)):
        ax.imshow(img.detach().cpu().numpy() if torch.is_tensor(img) else img)
        ax.axes.get_xaxis().set_visible(False)
        ax.axes.get_yaxis().set_visible(False)
        if titles:
            ax.set_title(titles[i])
    return fig, axes


def show_images(imgs, num_rows: int, num_cols: int, titles=None, scale: float = 1.5, path=None):
    """A grid of images with optional titles (d2l 3.5); returns the axes, flattened. `path` (cnnlab's): where to
    write the PNG outside Jupyter, instead of d2l-figures/show_images.png."""
    fig, axes = image_grid(imgs, num_rows, num_cols, titles, scale)
    show(fig, "show_images", path)
    return axes


class Animator:
    """Lines that grow point by point (d2l 3.6's training curves). In Jupyter: one figure in the cell, redrawn in
    place by each add(), leaving the cell's other output alone. Elsewhere the figure is written to its PNG in
    d2l-figures/ (`name`.png) or to `path`: at each add(), or with autosave=False only when save() is called
    (train_ch3 and train_ch6 save once an epoch: rendering a PNG costs as much as many training steps)."""

    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None, xscale="linear",
                 yscale="linear", fmts=("-", "m--", "g-.", "r:"), nrows=1, ncols=1, figsize=(3.5, 2.5), path=None,
                 name="animator", autosave=True):
        legend = legend or []
        self.fig, axes = subplots(nrows, ncols, figsize=figsize, squeeze=False)
        self.axes = list(axes.flatten())
        self.config_axes = lambda: set_axes(self.axes[0], xlabel, ylabel, xlim, ylim, xscale, yscale, legend)
        self.X, self.Y, self.fmts = None, None, fmts
        self.notebook = in_notebook()
        self.path = Path(path) if path is not None else None
        self.name, self.autosave = name, autosave
        self.live = None  # the cell's figure output, made by the first add()

    def add(self, x, y):
        """Append one point to each line: y a number or one per line (None: no point for that line); x one
        number for all lines or one per line."""
        if not hasattr(y, "__len__"):
            y = [y]
        n = len(y)
        if not hasattr(x, "__len__"):
            x = [x] * n
        if not self.X:
            self.X = [[] for _ in range(n)]
        if not self.Y:
            self.Y = [[] for _ in range(n)]
        for i, (a, b) in enumerate(zip(x, y)):
            if a is not None and b is not None:
                self.X[i].append(a)
                self.Y[i].append(b)
        ax = self.axes[0]
        ax.cla()
        for xs, ys, fmt in zip(self.X, self.Y, self.fmts):
            ax.plot(xs, ys, fmt)
        self.config_axes()
        self.draw()

    def draw(self):
        if self.notebook:
            if self.live is None:
                self.live = LiveFigure(self.fig)
            else:
                self.live.update()
        if self.autosave:
            self.save()

    def save(self):
        """Write the figure to its PNG (outside Jupyter, or when given a path)."""
        if self.path is None and not self.notebook:
            self.path = figure_path(self.name)  # chosen at the first write, so an unused Animator leaves no file
        if self.path is not None:
            self.fig.savefig(self.path, dpi=100)
