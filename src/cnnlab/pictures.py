"""The one picture pipeline: a file, an upload's bytes, a canvas drawing or a test image becomes the model's input
the way training prepared its images. `cnnlab predict`, `features`, `explain` and the explorer all call it.

    picture (any size, mode)  --convert-->  pixels: uint8 as the training images are stored
                                            (28x28 light on dark for MNIST-like sets; for an image folder or a
                                            colour set, decoded as cnnlab.data.folder decodes its files)
    pixels  --model_input-->  (N, C, S, S) float: per-channel normalisation and resize of the checkpoint

What the conversion targets is read from the network (cnnlab.trained.TrainedNetwork): its input channels, its
data set and the size its files were decoded at. Pictures from outside (uploads, drawings) are checked before
they are decoded: bytes, pixels and the square canvas a picture is padded to, so a small file cannot ask for
gigabytes."""
import base64
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import ConfigError, ImageError

NATIVE = 28  # the side of every MNIST-like image: a picture is brought to it before the training transform
MAX_UPLOAD_BYTES = 5 * 2**20  # an upload (or a drawing) larger than this is refused before it is read
MAX_PIXELS = 16_000_000  # an upload whose decoded image, or the square it is padded to, has more pixels is refused
REDUCE_ABOVE = 4096  # a file whose longer side is above this is first reduced (box filter) to bound the canvas
INK = 20  # grey level above which a drawing's pixel counts as ink


@dataclass
class Picture:
    """A picture converted the way the model was trained."""

    name: str  # file name, "upload", "drawing" or "test[i]"
    original: object  # as given, for display: a PIL image (RGB) or an array
    pixels: torch.Tensor  # uint8 as the training images: (H, W) grey, or (C, H, W) colour
    steps: list = field(default_factory=list)  # what was done to it, in order, in words
    path: Path | None = None  # the file, when it came from one


def stored_as(net) -> tuple[bool, int, int]:
    """How `net`'s training images were stored: (decoded like a folder's files, their side, their channels). `net`
    is a TrainedNetwork, a checkpoint payload (dict), or None (an MNIST-like grey model)."""
    if net is None:
        return False, NATIVE, 1
    if isinstance(net, dict):
        channels, dataset = net.get("in_channels", 1), net["config"].get("dataset") or ""
        size = net["config"].get("image_size") or net["input_size"]
    else:
        channels, dataset, size = net.in_channels, net.dataset_name or "", net.image_size
    return channels == 3 or dataset.startswith("folder:"), size, channels


# ---------------------------------------------------------------- opening, with limits
def check_canvas(width: int, height: int, what: str) -> None:
    """ImageError when the image, or the max(w, h) square it would be padded to, has more than MAX_PIXELS pixels.
    Called on the header's size, before anything is decoded."""
    if width * height > MAX_PIXELS or max(width, height) ** 2 > MAX_PIXELS:
        side = int(MAX_PIXELS ** 0.5)
        raise ImageError(f"{what}: {width}x{height} pixels is more than the limit of {MAX_PIXELS:,} pixels "
                         f"(padded square up to {side}x{side}); make it smaller")


def decode_image(data: bytes, what: str = "upload"):
    """A PIL image (loaded) from a picture's bytes, its byte count and its padded canvas checked before decoding."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError(f"{what}: {len(data) / 2**20:.1f} MiB is larger than the {MAX_UPLOAD_BYTES // 2**20} MiB "
                         "limit")
    if not data:
        raise ImageError(f"{what}: empty file")
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
        check_canvas(image.width, image.height, what)
        image.load()
    except UnidentifiedImageError:
        raise ImageError(f"{what}: not an image (use PNG, JPEG, BMP, GIF, ...)") from None
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as error:
        raise ImageError(f"{what}: cannot read the image ({error or type(error).__name__})") from None
    return image


def open_file(path):
    """A PIL image (loaded) from a file; ImageError naming it when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()  # open() is lazy: decode now so a truncated file fails here
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: a directory, not an image file") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image PIL can read (use PNG, JPEG, BMP, GIF, ...)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise ImageError(f"{path}: cannot read the image ({reason})") from None
    return image


def data_url_bytes(url: str, what: str) -> bytes:
    """The bytes of a 'data:image/png;base64,...' URL (what a canvas's toDataURL gives)."""
    if not isinstance(url, str) or not url.startswith("data:") or "," not in url:
        raise ConfigError(f"{what}: expected a data: URL")
    head, _, body = url.partition(",")
    if len(body) > MAX_UPLOAD_BYTES * 4 // 3 + 4:
        raise ImageError(f"{what}: larger than the {MAX_UPLOAD_BYTES // 2**20} MiB limit")
    try:
        return base64.b64decode(body, validate=True) if head.endswith(";base64") else body.encode()
    except ValueError:
        raise ConfigError(f"{what}: the data URL is not valid base64") from None


# ---------------------------------------------------------------- conversion
def convert(image, net=None, invert: str = "auto", name: str = "picture", path=None) -> Picture:
    """A loaded PIL image of any size or mode as `net`'s training images are stored (see the module's docstring).
    invert (MNIST-like grey models): "auto" inverts when the border is light (a dark drawing on paper), "yes", "no"."""
    if invert not in ("auto", "yes", "no"):
        raise ConfigError(f"invert must be auto, yes or no, not '{invert}'")
    steps = [f"{image.width}x{image.height} {image.mode}"]
    folder, size, channels = stored_as(net)
    if folder:  # colour, or trained on an image folder: decoded as its training images were
        from .data.folder import picture

        return Picture(name, image.convert("RGB"), picture(image, size, channels),
                       steps + [f"centre square at {size}x{size}"], path)
    return _grey(image, invert, steps, name, path)


def _grey(image, invert: str, steps: list, name: str, path) -> Picture:
    """An MNIST-like 28x28 light-on-dark grey image: transparency onto white, grey, inverted when needed, contrast
    stretched, padded square with the border colour (keeping proportions), resized."""
    from PIL import Image, ImageOps

    if max(image.size) > REDUCE_ABOVE:  # bound the square canvas below: a box filter first, by a whole factor
        factor = -(-max(image.size) // REDUCE_ABOVE)
        image = image.reduce(factor)
        steps.append(f"reduced {factor}x to {image.width}x{image.height}")
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
    if image.size != (NATIVE, NATIVE):
        image = image.resize((NATIVE, NATIVE), Image.Resampling.LANCZOS)
        steps.append(f"resized to {NATIVE}x{NATIVE}")
    return Picture(name, original, torch.from_numpy(np.array(image, dtype=np.uint8)), steps, path)


def read_file(path, net=None, invert: str = "auto") -> Picture:
    """An image file converted for `net` (see convert)."""
    path = Path(path)
    return convert(open_file(path), net, invert, path.name, path)


def read_upload(data: bytes, net=None, name: str = "upload", invert: str = "auto") -> Picture:
    """An upload's bytes (never written to a file) converted for `net`, its size checked before decoding."""
    return convert(decode_image(data, name), net, invert, name)


def _ink_box(gray: np.ndarray):
    ink = np.argwhere(gray > INK)
    if len(ink) == 0:
        return None
    (top, left), (bottom, right) = ink.min(0), ink.max(0) + 1
    return gray[top:bottom, left:right]


def mnist_fit(gray: np.ndarray, box: int = 20) -> tuple[np.ndarray, list[str]]:
    """MNIST's preprocessing of a light-on-dark drawing (LeCun et al.): crop to the ink, scale it so its longer
    side is `box` (20) pixels keeping the aspect ratio (anti-aliased), then place it in 28x28 so that its centre
    of mass is the image centre. gray: (H, W) uint8. Returns (28, 28) uint8 and the steps in words."""
    from PIL import Image

    crop = _ink_box(gray)
    if crop is None:
        return np.zeros((NATIVE, NATIVE), np.uint8), ["empty drawing"]
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

    crop = _ink_box(gray)
    if crop is None:
        return np.zeros((NATIVE, NATIVE), np.uint8), ["empty drawing"]
    side = max(crop.shape)  # at most the drawing's longer side: decode_image bounded its square
    square = np.zeros((side, side), np.uint8)
    oy, ox = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    square[oy:oy + crop.shape[0], ox:ox + crop.shape[1]] = crop
    out = np.asarray(Image.fromarray(square).resize((NATIVE, NATIVE), Image.Resampling.LANCZOS), dtype=np.uint8)
    return out, [f"cropped to the item ({crop.shape[1]}x{crop.shape[0]})", "padded square, resized to 28x28"]


FITS = {"mnist": mnist_fit, "frame": frame_fit}


def read_drawing(url: str, fit: str = "mnist") -> Picture:
    """A canvas drawing (a data: URL, white strokes on black, any size) as 28x28 grey with `fit` 'mnist' or
    'frame'; model_input gives it the network's channels and size."""
    if fit not in FITS:
        raise ConfigError(f"unknown fit '{fit}': choose {' or '.join(FITS)}")
    image = decode_image(data_url_bytes(url, "drawing"), "drawing")
    gray = np.asarray(image.convert("L"))
    pixels, steps = FITS[fit](gray)
    return Picture("drawing", image.convert("RGB"), torch.from_numpy(pixels),
                   [f"drawing {image.width}x{image.height}", *steps])


def test_picture(data, index: int) -> Picture:
    """Test image `index` of a loaded data set, as stored (it needs no conversion)."""
    if not 0 <= index < len(data.test):
        raise ConfigError(f"--index must be in 0-{len(data.test) - 1}, got {index}")
    pixels = data.test.images[index]
    label = data.classes[int(data.test.labels[index])]
    return Picture(f"test[{index}]", pixels.numpy(), pixels, [f"{data.name} test image {index} ({label})"])


def from_raw(raw: bytes, net) -> torch.Tensor:
    """Pixels sent back by the explorer's page: 28x28 grey, or the shape `net`'s training images are stored in."""
    folder, size, channels = stored_as(net)
    shapes = [(NATIVE, NATIVE)] + ([(size, size) if channels == 1 else (channels, size, size)] if folder else [])
    for shape in shapes:
        if len(raw) == int(np.prod(shape)):
            return torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(shape)
    raise ConfigError(f"pixels: expected {' or '.join('x'.join(map(str, s)) for s in shapes)} bytes, got {len(raw)}")


# ---------------------------------------------------------------- the model's input
def in_words(v) -> str:
    """A normalisation constant in words: 0.2860, or (0.4914, 0.4822, 0.4465) per channel."""
    v = tuple(v) if isinstance(v, (tuple, list)) else (v,)
    return f"{v[0]:.4f}" if len(v) == 1 else "(" + ", ".join(f"{x:.4f}" for x in v) + ")"


def model_input(pixels, net) -> tuple[torch.Tensor, str]:
    """Model inputs (N, C, S, S) on `net`'s device for pictures (Picture objects) or uint8 pixel arrays through
    the training transform of the checkpoint (per-channel normalisation, resize), and that transform in words.
    A grey picture for a colour network (a drawing) is given its three channels."""
    from .data import Split

    planes = [torch.as_tensor(np.asarray(p.pixels if isinstance(p, Picture) else p), dtype=torch.uint8)
              for p in pixels]
    planes = [p[None].expand(net.in_channels, *p.shape) if p.ndim == 2 and net.in_channels > 1 else p
              for p in planes]
    sides = {p.shape[-1] for p in planes}
    if len(sides) > 1:  # 28x28 drawings beside folder pictures: bring them to one side before stacking
        side = max(sides)
        planes = [_resize_uint8(p, side) for p in planes]
    images = torch.stack(planes)
    x = net.batches(Split(images, torch.zeros(len(images), dtype=torch.int64))).transform(images.to(net.device))
    words = f"normalised with mean {in_words(net.mean)}, std {in_words(net.std)} (from the checkpoint)"
    if net.input_size != images.shape[-1]:
        words += f", resized to {net.input_size}x{net.input_size} as in training"
    return x, words


def _resize_uint8(p: torch.Tensor, side: int) -> torch.Tensor:
    import torch.nn.functional as F

    if p.shape[-1] == side:
        return p
    x = p.float()[None] if p.ndim == 3 else p.float()[None, None]
    y = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False).round().clamp(0, 255)
    return y.to(torch.uint8)[0] if p.ndim == 3 else y.to(torch.uint8)[0, 0]


def seen(x: torch.Tensor, net) -> np.ndarray:
    """One model input (C, S, S) back in [0, 1] for display: what the network actually sees."""
    from .data import display_input

    return display_input(x, net.mean, net.std)


__all__ = ["MAX_PIXELS", "MAX_UPLOAD_BYTES", "NATIVE", "Picture", "check_canvas", "convert", "data_url_bytes",
           "decode_image", "frame_fit", "from_raw", "mnist_fit", "model_input", "open_file", "read_drawing",
           "read_file", "read_upload", "seen", "test_picture"]
