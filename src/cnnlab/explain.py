"""Why did the network choose this class? Grad-CAM (Selvaraju et al. 2017) and gradient saliency (Simonyan et
al. 2014) maps for one input, as arrays in [0, 1] at the input's resolution; `explain` also draws them as a PNG.

    >>> cam = grad_cam(model, x)          # x: (1, C, H, W), the model's input as it was trained
    >>> cam.map.shape, cam.target, cam.layer
"""
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError
from .inspect import forward_with_hooks


@dataclass
class Explanation:
    map: np.ndarray  # (H, W) float32 in [0, 1], the input's height and width
    target: int  # the class explained
    probability: float  # the model's softmax probability of that class
    layer: str | None = None  # Grad-CAM: the module whose output was weighted; saliency: None


def _modules_by_name(model: nn.Module) -> dict[str, nn.Module]:
    return {name: m for name, m in model.named_modules() if name}


def spatial_layers(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Names of the modules whose output for `x` is a (1, C, H, W) map with H * W > 1, in the order they run:
    the layers Grad-CAM can use."""
    names = {m: name for name, m in model.named_modules() if name}
    order = []

    def grab(module, args, output):
        if isinstance(output, torch.Tensor) and output.dim() == 4 and output.shape[-1] * output.shape[-2] > 1:
            order.append(names[module])

    forward_with_hooks(model, x, names, grab)
    return list(dict.fromkeys(order))


def default_cam_layer(model: nn.Module, x: torch.Tensor) -> str:
    """The last module (in the order calls finish) with a spatial output: after the last convolution's activation
    or the last block's sum, the most semantic maps that still keep a position (ResNet's layer4 in the paper's use).
    A raw conv output before its BatchNorm and ReLU often has no positive evidence at all."""
    layers = spatial_layers(model, x)
    if not layers:
        raise ConfigError(f"{type(model).__name__} has no layer with a spatial output: no Grad-CAM")
    return layers[-1]


def _target(logits: torch.Tensor, target) -> int:
    classes = logits.shape[1]
    if target is None:
        return int(logits.argmax(1)[0])
    if not 0 <= int(target) < classes:
        raise ConfigError(f"class {target} does not exist: the model has classes 0-{classes - 1}")
    return int(target)


def _unit_range(a: torch.Tensor) -> np.ndarray:
    a = a.detach().float()
    low, high = a.min(), a.max()
    return ((a - low) / (high - low) if high > low else torch.zeros_like(a)).numpy().astype(np.float32)


class _EvalMode:
    """Eval mode for the duration (BatchNorm statistics and dropout fixed), the caller's modes restored after."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.modes = [(m, m.training) for m in self.model.modules()]
        self.model.eval()

    def __exit__(self, *exc):
        for m, mode in self.modes:
            m.train(mode)


def grad_cam(model: nn.Module, x: torch.Tensor, target: int | None = None, layer: str | None = None) -> Explanation:
    """Grad-CAM of class `target` (default: the predicted one) at module `layer` (default: the last module with a
    spatial output): relu(sum_k w_k A_k), w_k the mean gradient of the class score over map A_k, upsampled
    bilinearly to the input size and scaled to [0, 1]. x: (1, C, H, W)."""
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"grad_cam expects one input (1, C, H, W), got {tuple(x.shape)}")
    with _EvalMode(model):
        layer = layer or default_cam_layer(model, x)
        modules = _modules_by_name(model)
        if layer not in modules:
            raise ConfigError(f"no layer '{layer}' in {type(model).__name__}; choose from: "
                              f"{', '.join(spatial_layers(model, x))}")
        captured = {}

        def grab(module, args, output):
            if isinstance(output, torch.Tensor) and "A" not in captured:  # a module called twice: its first call
                captured["A"] = output

        hook = modules[layer].register_forward_hook(grab)
        try:
            with torch.enable_grad():
                logits = model(x.detach().clone().requires_grad_(True))  # a graph even for frozen weights
                if "A" not in captured or captured["A"].dim() != 4:
                    raise ConfigError(f"layer '{layer}' gives no (N, C, H, W) map: choose from: "
                                      f"{', '.join(spatial_layers(model, x))}")
                k = _target(logits, target)
                # autograd.grad, not backward(): the parameters' .grad of the caller's model stay untouched
                grad, = torch.autograd.grad(logits[0, k], captured["A"])
        finally:
            hook.remove()
        a, grad = captured["A"].detach()[0].float(), grad[0].float()  # (C, h, w)
        weights = grad.mean(dim=(1, 2))  # (C,)
        cam = F.relu((weights[:, None, None] * a).sum(0))  # (h, w)
        cam = F.interpolate(cam[None, None], size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
        probability = logits.detach().float().softmax(1)[0, k].item()
    return Explanation(_unit_range(cam), k, probability, layer)


def saliency(model: nn.Module, x: torch.Tensor, target: int | None = None) -> Explanation:
    """Gradient saliency: |d score_target / d x|, the largest over input channels, divided by its maximum: the pixels
    whose small change would move the class score most. x: (1, C, H, W)."""
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"saliency expects one input (1, C, H, W), got {tuple(x.shape)}")
    with _EvalMode(model), torch.enable_grad():
        x = x.detach().clone().requires_grad_(True)
        logits = model(x)
        k = _target(logits, target)
        grad, = torch.autograd.grad(logits[0, k], x)
        probability = logits.detach().float().softmax(1)[0, k].item()
    g = grad[0].abs().amax(0)
    top = g.max()
    return Explanation((g / top if top > 0 else g).numpy().astype(np.float32), k, probability)


def overlay(gray: np.ndarray, heat: np.ndarray, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """An (H, W, 3) RGB image in [0, 1]: the grayscale picture `gray` (values in [0, 1]) under the heat map
    `heat` (in [0, 1]) coloured by a matplotlib colour map."""
    from matplotlib import colormaps  # the colour table only: no figure, no backend

    base = np.repeat(np.clip(gray, 0, 1)[..., None], 3, axis=2)
    colours = colormaps[cmap](np.clip(heat, 0, 1))[..., :3]
    return (1 - alpha) * base + alpha * colours


def explain(checkpoint, image=None, index: int = 0, target=None, layer: str | None = None, out=None,
            invert: str = "auto", data_dir=None, which: str = "best", model=None):
    """Grad-CAM and saliency of one input (an image file, else test image `index`) for class `target` (a class
    name or index; default: the predicted class). Writes a PNG (default: beside the checkpoint, explain.png) with
    the input, both maps and both overlays. Returns (grad-cam Explanation, saliency Explanation, class names,
    input described, PNG path)."""
    from . import plots
    from .data import Split
    from .views import _out, _pixels, load, picture_batch, read_picture

    loaded = load(checkpoint, which, model)
    if image is not None:
        picture = read_picture(image, invert)
        x, transform = picture_batch([picture], loaded)
        source = f"{picture.path.name}"
    else:
        data = loaded.dataset(data_dir=data_dir)
        if not 0 <= index < len(data.test):
            raise ConfigError(f"--index must be in 0-{len(data.test) - 1}, got {index}")
        x, y = next(iter(loaded.batches(Split(data.test.images[index:index + 1], data.test.labels[index:index + 1]))))
        source = f"test image {index} ({data.classes[int(y)]})"
    target = class_index(target, loaded.classes)
    cam = grad_cam(loaded.model, x, target, layer)
    sal = saliency(loaded.model, x, cam.target)
    gray = _pixels(x[0], loaded).numpy()
    name = loaded.classes[cam.target]
    path = plots.image_grid(
        [gray, cam.map, overlay(gray, cam.map), sal.map, overlay(gray, sal.map, cmap="hot")],
        ["input", f"Grad-CAM at '{cam.layer}'", "Grad-CAM overlay", "saliency |d score / d x|", "saliency overlay"],
        _out(out, loaded.run_dir / "explain.png"), cols=5,
        title=f"{loaded.name}: {source}, why '{name}' ({cam.probability:.0%})")
    return cam, sal, loaded.classes, source, path


def class_index(target, classes) -> int | None:
    """A class given by name or number as its index (None stays None: the predicted class)."""
    if target is None:
        return None
    if isinstance(target, int) or str(target).isdigit():
        k = int(target)
        if not 0 <= k < len(classes):
            raise ConfigError(f"--target {target}: the model has classes 0-{len(classes) - 1}")
        return k
    if target in classes:
        return list(classes).index(target)
    from .errors import unknown_name

    raise unknown_name("class", str(target), classes)


__all__ = ["Explanation", "class_index", "default_cam_layer", "explain", "grad_cam", "overlay", "saliency",
           "spatial_layers"]
