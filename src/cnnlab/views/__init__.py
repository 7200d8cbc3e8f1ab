"""Seeing inside: each view computes what to show (data sets, predictions, confusions, features, kernels, run
comparisons), draws it with cnnlab.plots and returns a Figure: the PNG's path, shown as the picture in a notebook,
with the view's data as attributes (figure.py).

A checkpoint argument is a .pt file or a run directory; for a directory the views use best.pt (the epoch with
the best test accuracy) and fall back to last.pt, or last.pt with which="last" (cnnlab.rundir's rule). It may
also be a cnnlab.trained.TrainedNetwork, what cnnlab.train returned (its run, with its network), or an nn.Module
itself with `dataset=` (shown on that data set with its normalisation, in float32); a run of your own network
needs the network again as `model=` (a module, class, factory or import reference). Pictures are written into
the run directory unless `out=` says otherwise, never into the working directory.

    runs.py      show, plot, compare          (a data set, or finished runs' records)
    classify.py  predict, confusion, tsne     (what the network decides)
    layers.py    features, kernels            (inside the network)"""
import warnings

from ..rundir import checkpoint_path, read_run
from .classify import Confusion, Prediction, confusion, embed_tsne, predict, predict_dataset, predict_files, tsne
from .figure import PICTURE_LIMIT, Figure, check_limit, limit_of, load
from .layers import MAX_LAYERS, conv_activations, features, first_conv, kernels
from .runs import (
    COMPARE_FIELDS,
    CompareFigure,
    classes_in_turn,
    compare,
    finished_runs,
    markdown_table,
    plot,
    plot_runs,
    run_label,
    run_row,
    show,
)

checkpoint_file = checkpoint_path  # the .pt file a view reads (a run directory: its best.pt, else last.pt)
NATIVE_SIZE = 28  # the side of every MNIST-like image (cnnlab.pictures.NATIVE)


def read_picture(path, invert: str = "auto", payload=None):
    """Deprecated: cnnlab.pictures.read_file(path, network, invert) converts a file for a network."""
    from .. import pictures

    warnings.warn("views.read_picture is now cnnlab.pictures.read_file", DeprecationWarning, stacklevel=2)
    return pictures.read_file(path, payload, invert)


def picture_batch(converted, loaded):
    """Deprecated: cnnlab.pictures.model_input(pictures, network)."""
    from .. import pictures

    warnings.warn("views.picture_batch is now cnnlab.pictures.model_input", DeprecationWarning, stacklevel=2)
    return pictures.model_input(converted, loaded)


__all__ = ["COMPARE_FIELDS", "CompareFigure", "Confusion", "Figure", "MAX_LAYERS", "PICTURE_LIMIT", "Prediction",
           "check_limit", "checkpoint_file", "classes_in_turn", "compare", "confusion", "conv_activations",
           "embed_tsne", "features", "finished_runs", "first_conv", "kernels", "limit_of", "load", "markdown_table",
           "plot", "plot_runs", "predict", "predict_dataset", "predict_files", "read_picture", "read_run", "run_label",
           "run_row", "show", "tsne"]
