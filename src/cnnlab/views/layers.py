"""Views inside a network: `features` (every convolution's activation maps for one input) and `kernels` (the
first convolution's learned weights)."""
from pathlib import Path

import torch
from torch import nn

from .. import pictures, plots
from ..errors import ConfigError
from ..evaluate import top_k
from ..inspect import forward_with_hooks
from .figure import PICTURE_LIMIT, Figure, load, out_path

MAX_LAYERS = 24  # feature grids one picture shows at most


def conv_activations(model: nn.Module, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """The output of every Conv2d call for the input batch `x`, in the order they run: [(module name, output)]."""
    names = {m: name for name, m in model.named_modules()}
    captured = []

    def grab(module, args, output):
        captured.append((names[module], output.detach().float()))

    forward_with_hooks(model, x, [m for m in model.modules() if isinstance(m, nn.Conv2d)], grab)
    return captured


def spread(count: int, most: int) -> list[int]:
    """`most` of `count` positions, evenly spaced, first and last included (all of them when they fit)."""
    if count <= most:
        return list(range(count))
    return sorted({round(i * (count - 1) / (most - 1)) for i in range(most)})


def features(checkpoint, image=None, index: int = 0, out=None, invert: str = "auto", data_dir=None,
             max_layers: int = 12, which: str = "best", model=None, dataset=None, command: str = "features") -> Figure:
    """Activation maps of every convolution layer for one input (an image file, else test image `index`), one
    grid per layer titled with its output shape. More than `max_layers` layers: evenly spaced ones, first and
    last included, and the picture names the ones left out. Default: in the run directory, features.png. The
    Figure keeps .layers [(name, shape)] of every conv layer, .drawn and .left_out (names), .source (the input)."""
    if not 2 <= max_layers <= MAX_LAYERS:
        raise ConfigError(f"--max-layers must be in 2-{MAX_LAYERS} (grids one picture shows), got {max_layers}")
    net = load(checkpoint, which, model, dataset, data_dir, command=command)
    if image is not None:
        picture = pictures.read_file(image, net, invert)
        x, transform = pictures.model_input([picture], net)
        source = f"{picture.path}: {', '.join(picture.steps)}; {transform}"
        label = picture.name
    else:
        picture = pictures.test_picture(net.dataset(dataset, data_dir), index)
        x, _ = pictures.model_input([picture], net)
        source = label = picture.steps[0]
    layers = conv_activations(net.model, x)
    if not layers:
        raise ConfigError(f"model '{net.name}' has no Conv2d layers to show")
    predicted = top_k(net.logits(x), net.classes, 1)[0][0]
    keep = spread(len(layers), max_layers)
    grids = [(f"conv '{name}' ({i + 1}/{len(layers)}): {list(output.shape)}", output[0].cpu().numpy())
             for i, (name, output) in ((i, layers[i]) for i in keep)]
    left_out = [layers[i][0] for i in range(len(layers)) if i not in keep]
    title = f"{net.name}: {label}, predicted {predicted[0]} {predicted[1]:.0%}"
    if left_out:
        title += (f"\n{len(keep)} of {len(layers)} conv layers drawn (--max-layers {max_layers}); left out: "
                  + _names(left_out))
    path = plots.plot_activations(pictures.seen(x[0], net), grids, out_path(out, net.out_dir / "features.png"),
                                  title=title)
    shapes = [(name, tuple(o.shape)) for name, o in layers]
    return Figure.of(path, legacy=(shapes, source, path), layers=shapes, drawn=[layers[i][0] for i in keep],
                     left_out=left_out, source=source)


def _names(names: list[str], most: int = 8) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise ConfigError(f"{type(model).__name__} has no Conv2d layer: no kernels to show")


def kernels(checkpoint, out=None, which: str = "best", model=None, command: str = "kernels") -> Figure:
    """The first convolution layer's learned kernels. Default: in the run directory (a module without a run:
    runs/NAME-views/), kernels.png. The Figure keeps .layer (its name) and .shape (the weight's)."""
    if isinstance(checkpoint, nn.Module):
        label, network = type(checkpoint).__name__, checkpoint
        default = Path("runs") / f"{label}-views"
    else:
        net = load(checkpoint, which, model, command=command)
        label, network, default = net.name, net.model, net.out_dir
    name, conv = first_conv(network)
    weight = conv.weight.detach().float().cpu()
    k = weight.shape[-1]
    outputs = max(1, min(weight.shape[0], PICTURE_LIMIT // weight.shape[1]))  # tiles one picture shows
    part = f" (the first {outputs} shown)" if outputs < weight.shape[0] else ""
    path = plots.plot_kernels(weight[:outputs].numpy(), out_path(out, default / "kernels.png"),
                              title=f"{label}: first layer '{name}', {weight.shape[0]} kernels {k}x{k}{part} "
                                    f"(red excites, blue inhibits)")
    return Figure.of(path, legacy=(name, tuple(weight.shape), path), layer=name, shape=tuple(weight.shape))
