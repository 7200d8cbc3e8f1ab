"""What the page asks for, computed with the real PyTorch model: an input turned into the exact tensor the
network sees, a forward pass recording every module's output (hooks), one conv unit's multiply-add (cnnlab.ops),
Grad-CAM and saliency (cnnlab.explain). Results are plain dicts ready for JSON; maps travel as base64 uint8."""
import base64
import io
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import ops
from ..errors import ConfigError, ImageError
from .loader import Network

NATIVE = 28  # every picture becomes 28x28 light on dark first, as the MNIST-like training images are
MAX_UPLOAD_BYTES = 5 * 2**20  # an upload (or a drawing) larger than this is refused before it is read
MAX_PIXELS = 16_000_000  # and an image with more pixels than this (4000 x 4000) before it is decoded
DEFAULT_CHANNELS = 8  # maps sent per layer unless the page asks for more
MAX_WINDOW_CHANNELS = 16  # input channels of a multiply-add shown in full; the others as partial sums


class InputError(ConfigError):
    """A request the page made that cannot be served (bad input, unknown layer or unit)."""


# ---------------------------------------------------------------- pictures
def decode_image(data: bytes, what: str = "upload"):
    """A PIL image from file bytes, with size and pixel limits checked before decoding."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError(f"{what}: {len(data) / 2**20:.1f} MiB is larger than the {MAX_UPLOAD_BYTES // 2**20} MiB "
                         "limit")
    if not data:
        raise ImageError(f"{what}: empty file")
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            raise ImageError(f"{what}: {image.width}x{image.height} pixels is more than the limit of "
                             f"{MAX_PIXELS:,} pixels; make it smaller")
        image.load()
    except UnidentifiedImageError:
        raise ImageError(f"{what}: not an image (use PNG, JPEG, BMP, GIF, ...)") from None
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as error:
        raise ImageError(f"{what}: cannot read the image ({error or type(error).__name__})") from None
    return image


def data_url_bytes(url: str, what: str) -> bytes:
    """The bytes of a 'data:image/png;base64,...' URL (what a canvas's toDataURL gives)."""
    if not isinstance(url, str) or not url.startswith("data:") or "," not in url:
        raise InputError(f"{what}: expected a data: URL")
    head, _, body = url.partition(",")
    if len(body) > MAX_UPLOAD_BYTES * 4 // 3 + 4:
        raise ImageError(f"{what}: larger than the {MAX_UPLOAD_BYTES // 2**20} MiB limit")
    try:
        return base64.b64decode(body, validate=True) if head.endswith(";base64") else body.encode()
    except ValueError:
        raise InputError(f"{what}: the data URL is not valid base64") from None


def mnist_fit(gray: np.ndarray, box: int = 20) -> tuple[np.ndarray, list[str]]:
    """MNIST's preprocessing of a light-on-dark drawing (LeCun et al.): crop to the ink, scale it so its longer
    side is `box` (20) pixels keeping the aspect ratio (anti-aliased), then place it in 28x28 so that its centre
    of mass is the image centre. gray: (H, W) uint8. Returns (28, 28) uint8 and the steps in words."""
    from PIL import Image

    ink = np.argwhere(gray > 20)
    if len(ink) == 0:
        return np.zeros((NATIVE, NATIVE), np.uint8), ["empty drawing"]
    (top, left), (bottom, right) = ink.min(0), ink.max(0) + 1
    crop = gray[top:bottom, left:right]
    h, w = crop.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS), dtype=np.float64)
    total = small.sum()
    ys, xs = np.indices(small.shape)
    cy, cx = (ys * small).sum() / total, (xs * small).sum() / total  # centre of mass of the scaled stroke
    oy, ox = int(round(NATIVE / 2 - 0.5 - cy)), int(round(NATIVE / 2 - 0.5 - cx))
    oy = min(max(oy, 0), NATIVE - small.shape[0])  # keep the stroke inside the frame
    ox = min(max(ox, 0), NATIVE - small.shape[1])
    out = np.zeros((NATIVE, NATIVE), np.float64)
    out[oy:oy + small.shape[0], ox:ox + small.shape[1]] = small
    steps = [f"cropped to the ink ({w}x{h})", f"scaled to {size[0]}x{size[1]} (longer side {box})",
             "centred by centre of mass in 28x28"]
    return np.clip(out, 0, 255).round().astype(np.uint8), steps


def frame_fit(gray: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Fashion-MNIST's framing: the item's longer side fills the 28x28 frame, centred (no centre of mass)."""
    from PIL import Image

    ink = np.argwhere(gray > 20)
    if len(ink) == 0:
        return np.zeros((NATIVE, NATIVE), np.uint8), ["empty drawing"]
    (top, left), (bottom, right) = ink.min(0), ink.max(0) + 1
    crop = gray[top:bottom, left:right]
    side = max(crop.shape)
    square = np.zeros((side, side), np.uint8)
    oy, ox = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    square[oy:oy + crop.shape[0], ox:ox + crop.shape[1]] = crop
    out = np.asarray(Image.fromarray(square).resize((NATIVE, NATIVE), Image.Resampling.LANCZOS), dtype=np.uint8)
    return out, [f"cropped to the item ({crop.shape[1]}x{crop.shape[0]})", "padded square, resized to 28x28"]


def drawing_pixels(url: str, fit: str = "mnist") -> tuple[np.ndarray, list[str]]:
    """A canvas drawing (white strokes on black, any size) as 28x28 uint8 with `fit` 'mnist' or 'frame'."""
    image = decode_image(data_url_bytes(url, "drawing"), "drawing")
    gray = np.asarray(image.convert("L"))
    steps = [f"drawing {image.width}x{image.height}"]
    if fit == "mnist":
        pixels, more = mnist_fit(gray)
    elif fit == "frame":
        pixels, more = frame_fit(gray)
    else:
        raise InputError(f"unknown fit '{fit}': choose mnist or frame")
    return pixels, steps + more


def upload_pixels(data: bytes, name: str = "upload", invert: str = "auto") -> tuple[np.ndarray, list[str]]:
    """An uploaded PNG/JPEG/... converted exactly as `cnnlab predict` converts files (views.read_picture)."""
    import tempfile
    from pathlib import Path

    from ..views import read_picture

    decode_image(data, name)  # limits and a clear message before anything else
    safe = "".join(c for c in Path(name).name if c.isalnum() or c in "._-")[:60] or "upload"
    with tempfile.TemporaryDirectory(prefix="cnnlab-explore-") as tmp:
        path = Path(tmp) / safe
        path.write_bytes(data)
        picture = read_picture(path, invert)
    return picture.pixels.numpy(), picture.steps


# ---------------------------------------------------------------- the model's input
def model_input(net: Network, pixels: np.ndarray) -> torch.Tensor:
    """(1, 1, S, S): 28x28 uint8 pixels through the training transform (normalise, resize) of the checkpoint."""
    from ..data import Batches, Split

    images = torch.from_numpy(np.array(pixels, dtype=np.uint8))[None]  # a copy: the caller keeps its array
    batches = Batches(Split(images, torch.zeros(1, dtype=torch.int64)), 1, mean=net.mean, std=net.std,
                      size=net.input_size)
    return batches.transform(images)


def encode(array, channels: int | None = None) -> dict:
    """A tensor as JSON: (C, H, W) maps (the first `channels`) or a (F,) vector, each map quantised to uint8
    between its own minimum and maximum (lo, hi), so the page can scale per map or per layer."""
    a = torch.as_tensor(array).detach().float()
    shape = list(a.shape)
    if a.dim() == 3:
        shown = a.shape[0] if channels is None else min(channels, a.shape[0])
        maps = a[:shown].reshape(shown, -1)
    elif a.dim() == 1:
        shown, maps = 1, a[None]
    elif a.dim() == 2:
        shown, maps = 1, a.reshape(1, -1)
    else:
        return {"shape": shape, "shown": 0}
    lo, hi = maps.min(1).values, maps.max(1).values
    q = ((maps - lo[:, None]) / (hi - lo).clamp(min=1e-12)[:, None] * 255).round().clamp(0, 255).to(torch.uint8)
    return {"shape": shape, "shown": shown, "lo": [round(v, 6) for v in lo.tolist()],
            "hi": [round(v, 6) for v in hi.tolist()], "data": base64.b64encode(q.numpy().tobytes()).decode()}


# ---------------------------------------------------------------- forward with every activation
@dataclass
class Record:
    name: str  # qualified module name; "#2" appended for a module's second call
    kind: str  # class name
    depth: int  # 1 for the model's direct children
    leaf: bool
    output: torch.Tensor  # (1, ...) detached
    input: torch.Tensor | None  # the first positional input, detached


def forward_all(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[Record]]:
    """Run `model` on `x` without gradients, recording the output of every module call (leaves and blocks, so
    Inception branches, residual sums and dense concatenations all appear), in the order the calls finish."""
    names = {m: name for name, m in model.named_modules() if name}
    records, calls = [], {}

    def grab(module, args, output):
        if isinstance(output, (tuple, list)):
            output = next((o for o in output if isinstance(o, torch.Tensor)), None)
        if not isinstance(output, torch.Tensor):
            return
        name = names[module]
        calls[name] = calls.get(name, 0) + 1
        first = args[0] if args and isinstance(args[0], torch.Tensor) else None
        records.append(Record(name if calls[name] == 1 else f"{name}#{calls[name]}", type(module).__name__,
                              name.count(".") + 1, next(module.children(), None) is None, output.detach(),
                              None if first is None else first.detach()))

    hooks = [m.register_forward_hook(grab) for m in names]
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        for h in hooks:
            h.remove()
    return logits.detach().float(), records


def class_names(net: Network, logits: torch.Tensor) -> list[str]:
    n = logits.shape[1]
    return list(net.classes) if len(net.classes) == n else [str(k) for k in range(n)]


def predictions(net: Network, logits: torch.Tensor) -> list[dict]:
    probs = logits.softmax(1)[0]
    names = class_names(net, logits)
    return [{"class": names[k], "index": k, "p": round(float(probs[k]), 6), "logit": round(float(logits[0, k]), 5)}
            for k in range(len(names))]


def layer_info(record: Record, module: nn.Module) -> dict:
    info = {"name": record.name, "kind": record.kind, "depth": record.depth, "leaf": record.leaf,
            "shape": list(record.output.shape[1:])}
    if isinstance(module, nn.Conv2d):
        info["conv"] = {"kernel": list(module.kernel_size), "stride": list(module.stride),
                        "padding": list(module.padding) if not isinstance(module.padding, str) else module.padding,
                        "in": module.in_channels, "out": module.out_channels, "groups": module.groups}
    return info


def _module(model: nn.Module, record_name: str) -> nn.Module:
    return dict(model.named_modules())[record_name.split("#")[0]]


def forward_json(net: Network, pixels: np.ndarray, steps: list[str], channels: int = DEFAULT_CHANNELS,
                 only: str | None = None) -> dict:
    """Everything the page draws for one input: the pixels and the exact model input, the class probabilities,
    and every layer with its shape and its first `channels` maps. only: send maps of that one layer (all its
    channels) and no others."""
    x = model_input(net, pixels)
    logits, records = forward_all(net.model, x)
    layers = []
    for r in records:
        info = layer_info(r, _module(net.model, r.name))
        if only is None or r.name == only:
            info["maps"] = encode(r.output[0], None if only else channels)
        layers.append(info)
    if only is not None and not any(r.name == only for r in records):
        raise InputError(f"no layer '{only}' in {net.name}")
    return {"model": net.name, "pixels": encode(torch.from_numpy(pixels.astype(np.float32))),
            "raw": base64.b64encode(np.ascontiguousarray(pixels, np.uint8).tobytes()).decode(),
            "input": encode(x[0]), "steps": steps,
            "transform": f"(pixel/255 - {net.mean:.4f}) / {net.std:.4f}"
                         + (f", resized to {net.input_size}x{net.input_size}" if net.input_size != NATIVE else ""),
            "top": predictions(net, logits), "layers": layers}


# ---------------------------------------------------------------- one unit's multiply-add
def as_int(value, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a whole number, got {value!r}") from None


def unit_math(net: Network, pixels: np.ndarray, layer: str, channel, y, x) -> dict:
    """The multiply-add behind output (channel, y, x) of conv layer `layer`: the input window (cnnlab.ops.pad2d
    of the layer's actual input), the kernel, their products, the sum plus bias, and the module's own output
    there, with the layer's whole output recomputed by cnnlab.ops.conv2d as a second check."""
    inp = model_input(net, pixels)
    _, records = forward_all(net.model, inp)
    record = next((r for r in records if r.name == layer), None)
    if record is None:
        raise InputError(f"no layer '{layer}' in {net.name}")
    conv = _module(net.model, layer)
    if not isinstance(conv, nn.Conv2d):
        raise InputError(f"layer '{layer}' is a {record.kind}, not a Conv2d: it has no kernel to show")
    out = record.output[0]  # (O, oh, ow)
    channel, y, x = as_int(channel, "channel"), as_int(y, "row"), as_int(x, "column")
    if not (0 <= channel < out.shape[0] and 0 <= y < out.shape[1] and 0 <= x < out.shape[2]):
        raise InputError(f"unit ({channel}, {y}, {x}) is outside layer '{layer}' of shape {list(out.shape)} "
                         f"(channel 0-{out.shape[0] - 1}, row 0-{out.shape[1] - 1}, column 0-{out.shape[2] - 1})")
    if isinstance(conv.padding, str):  # 'same' / 'valid': the numbers PyTorch pads with at stride 1
        padding = tuple(d * (k - 1) // 2 for d, k in zip(conv.dilation, conv.kernel_size)) \
            if conv.padding == "same" else (0, 0)
    else:
        padding = tuple(conv.padding)
    (kh, kw), (sh, sw), (dh, dw) = conv.kernel_size, conv.stride, conv.dilation
    if conv.padding_mode != "zeros":
        raise InputError(f"layer '{layer}' pads with '{conv.padding_mode}': only zero padding is shown")
    xin = record.input[0].double()  # (C, H, W), the layer's actual input
    group_size = conv.in_channels // conv.groups
    first = (channel // (conv.out_channels // conv.groups)) * group_size  # grouped conv: this unit's input slice
    padded = ops.pad2d(xin[first:first + group_size], padding)
    y0, x0 = y * sh, x * sw
    window = padded[:, y0:y0 + dh * (kh - 1) + 1:dh, x0:x0 + dw * (kw - 1) + 1:dw]  # (C, kh, kw)
    kernel = conv.weight.detach()[channel].double()
    products = window * kernel
    partial = products.sum(dim=(1, 2))  # per input channel
    bias = float(conv.bias.detach()[channel]) if conv.bias is not None else 0.0
    total = float(partial.sum()) + bias
    module_value = float(out[channel, y, x])
    check = None
    if conv.groups == 1 and (dh, dw) == (1, 1):
        whole = ops.conv2d(record.input.float(), conv.weight.detach().float(),
                           None if conv.bias is None else conv.bias.detach().float(), conv.stride, padding)
        check = float(whole[0, channel, y, x])
    shown = min(group_size, MAX_WINDOW_CHANNELS)
    effective = effective_field(net, inp, layer, channel, y, x)

    def rows(t):
        return [[[round(float(v), 6) for v in row] for row in plane] for plane in t[:shown]]

    return {"layer": layer, "unit": [channel, y, x], "kernel_size": [kh, kw], "stride": [sh, sw],
            "padding": list(padding), "dilation": [dh, dw], "in_channels": group_size, "first_channel": first,
            "shown": shown,
            # the window's top-left corner in the unpadded input (negative: it starts in the padding)
            "window_origin": [y0 - padding[0], x0 - padding[1]], "input_shape": list(xin.shape),
            "window": rows(window), "kernel": rows(kernel), "products": rows(products),
            "partial": [round(float(v), 6) for v in partial], "bias": round(bias, 6), "sum": total,
            "module_value": module_value, "ops_value": check, "difference": abs(total - module_value),
            "input_maps": encode(xin[first:first + shown]), "effective": effective}


def effective_field(net: Network, x: torch.Tensor, layer: str, channel: int, y: int, xx: int) -> dict:
    """Which input pixels this unit depends on for this input: the gradient of the unit with respect to the input
    (nonzero inside the receptive field, except where a ReLU upstream is off), its bounding box and map."""
    module = _module(net.model, layer)
    captured = {}

    def grab(m, args, output):
        captured.setdefault("out", output)

    hook = module.register_forward_hook(grab)
    try:
        with torch.enable_grad():
            inp = x.detach().clone().requires_grad_(True)
            net.model(inp)
            grad, = torch.autograd.grad(captured["out"][0, channel, y, xx], inp)
    finally:
        hook.remove()
    grad = grad[0].abs().amax(0)  # (H, W)
    nonzero = torch.nonzero(grad > 0)
    box = None
    if len(nonzero):
        (top, left), (bottom, right) = nonzero.min(0).values.tolist(), nonzero.max(0).values.tolist()
        box = [top, left, bottom - top + 1, right - left + 1]
    return {"box": box, "map": encode(grad), "size": list(grad.shape)}


# ---------------------------------------------------------------- why this class
def explain_json(net: Network, pixels: np.ndarray, target=None, layer: str | None = None) -> dict:
    from ..explain import default_cam_layer, grad_cam, saliency, spatial_layers

    x = model_input(net, pixels)
    if target is not None and target != "":
        target = as_int(target, "class")
    else:
        target = None
    layers = spatial_layers(net.model, x)
    if not layers:
        raise InputError(f"{net.name} has no layer with a spatial map: no Grad-CAM")
    if layer and layer not in layers:
        raise InputError(f"no layer '{layer}' with a spatial output in {net.name}")
    layer = layer or default_cam_layer(net.model, x)
    cam = grad_cam(net.model, x, target, layer)
    sal = saliency(net.model, x, cam.target)
    return {"target": cam.target, "p": cam.probability, "layer": cam.layer, "layers": layers,
            "cam_empty": bool(cam.map.max() == 0),  # no map of the layer speaks for the class
            "cam": encode(torch.from_numpy(cam.map)), "saliency": encode(torch.from_numpy(sal.map)),
            "input": encode(x[0])}


def live_maps(net: Network, pixels: np.ndarray, layers: int = 4, channels: int = 8) -> dict:
    """For the live panel: predictions and the first `channels` maps of the first `layers` Conv2d layers."""
    x = model_input(net, pixels)
    logits, records = forward_all(net.model, x)
    convs = [r for r in records if r.kind == "Conv2d" and r.output.dim() == 4][:layers]
    return {"top": predictions(net, logits),
            "maps": [{"name": r.name, "kind": r.kind, "shape": list(r.output.shape[1:]),
                      "maps": encode(r.output[0], channels)} for r in convs]}


def output_size(n, k, p, s) -> int:
    """The playground's check: the seeds' formula floor((n - k + 2p) / s) + 1 (cnnlab.ops.conv_output_size)."""
    return ops.conv_output_size(as_int(n, "input size"), as_int(k, "kernel"), as_int(p, "padding"), as_int(s, "stride"))


__all__ = ["InputError", "decode_image", "drawing_pixels", "encode", "explain_json", "forward_all", "forward_json",
           "live_maps", "mnist_fit", "model_input", "unit_math", "upload_pixels"]
