"""Convolution and pooling from scratch, with tensor arithmetic only (no F.conv2d, F.unfold, F.*pool*, nn.Conv2d).
A ladder with one signature, every rung checked against torch.nn.functional in tests/test_ops.py:
`corr2d` (d2l's 6-line loop, for teaching) -> `conv2d_im2col` (d2l 6.2's exercise: windows as rows, one matrix product)
-> `conv2d` (the same product laid out for speed); drop-in layers and `to_scratch(model)` at the end."""
import math

import torch
from torch import nn

from .errors import ConfigError


# ---------------------------------------------------------------- sizes
def _pair(value, name: str = "value") -> tuple[int, int]:
    """An int or a pair of ints as (height, width)."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ConfigError(f"{name} must be an int or a pair of ints, not {value!r}")
    return pair


def conv_output_size(n: int, k: int, padding: int = 0, stride: int = 1) -> int:
    """Output length along one axis: floor((n - k + 2p) / s) + 1 (d2l 6.3); the same rule holds for pooling."""
    if n < 1 or k < 1 or padding < 0 or stride < 1:
        raise ConfigError(f"need input size >= 1, kernel >= 1, padding >= 0 and stride >= 1, "
                          f"got n={n}, k={k}, padding={padding}, stride={stride}")
    if n + 2 * padding < k:
        raise ConfigError(f"kernel {k} is larger than the padded input {n} + 2*{padding} = {n + 2 * padding}: "
                          f"use a smaller kernel or more padding")
    return (n - k + 2 * padding) // stride + 1


def same_padding(k: int) -> int:
    """The padding that keeps the size at stride 1: p = (k - 1) / 2, which needs an odd kernel."""
    if k < 1 or k % 2 == 0:
        raise ConfigError(f"'same' padding needs an odd kernel size, not {k} (an even kernel pads one side more)")
    return (k - 1) // 2


def _output_hw(x: torch.Tensor, kernel, stride, padding) -> tuple[int, int]:
    return (conv_output_size(x.shape[-2], kernel[0], padding[0], stride[0]),
            conv_output_size(x.shape[-1], kernel[1], padding[1], stride[1]))


# ---------------------------------------------------------------- the teaching rung (d2l 6.2, 6.4)
def corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """2-D cross-correlation of a 2-D X with a 2-D K, one output element at a time (d2l 6.2)."""
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1), dtype=torch.result_type(X, K))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y


def corr2d_multi_in(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Several input channels: cross-correlate channel by channel and add up. X (C, H, W), K (C, kh, kw)."""
    return sum(corr2d(x, k) for x, k in zip(X, K))


def corr2d_multi_in_out(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Several output channels: one multi-input kernel per output channel. X (C, H, W), K (O, C, kh, kw)."""
    return torch.stack([corr2d_multi_in(X, k) for k in K])


def corr2d_multi_in_out_1x1(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution is a fully-connected layer applied at every pixel: (O, C) @ (C, H*W)."""
    c, h, w = X.shape
    return (K.reshape(K.shape[0], c) @ X.reshape(c, h * w)).reshape(-1, h, w)


def convolve2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """True 2-D convolution ('valid' part): cross-correlation with the kernel flipped on both axes.
    Y[i, j] = sum_{a,b} X[i + a, j + b] K[kh-1-a, kw-1-b]. Learned kernels make the difference immaterial (d2l 6.2)."""
    return conv2d(X[None, None], K.flip(0, 1)[None, None])[0, 0]


# ---------------------------------------------------------------- vectorised
def pad2d(x: torch.Tensor, padding, value: float = 0.0) -> torch.Tensor:
    """Surround the last two axes with `padding` (int or (ph, pw)) rows/columns of `value`."""
    ph, pw = _pair(padding, "padding")
    if ph == pw == 0:
        return x
    out = x.new_full((*x.shape[:-2], x.shape[-2] + 2 * ph, x.shape[-1] + 2 * pw), value)
    out[..., ph:ph + x.shape[-2], pw:pw + x.shape[-1]] = x  # a slice copy: autograd routes the gradient back to x
    return out


def _windows(xp: torch.Tensor, kernel, stride) -> torch.Tensor:
    """Every window of the padded input as a view, (..., oh, ow, kh, kw): window[..., i, j, a, b] =
    xp[..., i*sh + a, j*sw + b]. Tensor.unfold makes it without copying, and its backward adds the
    overlapping windows back in one pass."""
    (kh, kw), (sh, sw) = kernel, stride
    return xp.unfold(-2, kh, sh).unfold(-2, kw, sw)


def _taps(xp: torch.Tensor, kernel, stride, out_hw) -> list[torch.Tensor]:
    """For each kernel position (a, b) in row-major order, the strided view of the padded input that position
    multiplies: tap[..., i, j] = xp[..., i*sh + a, j*sw + b]. Stacking them gives every window at once."""
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    return [xp[..., a:a + sh * (oh - 1) + 1:sh, b:b + sw * (ow - 1) + 1:sw] for a in range(kh) for b in range(kw)]


def _check_conv(x: torch.Tensor, weight: torch.Tensor) -> None:
    if x.dim() != 4 or weight.dim() != 4:
        raise ValueError(f"conv2d expects x (N, C, H, W) and weight (O, C, kh, kw), got {tuple(x.shape)} and "
                         f"{tuple(weight.shape)}")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but weight expects {weight.shape[1]}")


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride=1,
           padding=0) -> torch.Tensor:
    """Batched 2-D cross-correlation, F.conv2d's semantics: x (N, C, H, W) or (C, H, W), weight (O, C, kh, kw),
    bias (O,); stride and padding an int or (h, w). One matrix product (O, C*kh*kw) @ (C*kh*kw, N*oh*ow): the
    windows are built channel-first so stacking the taps yields that matrix with no transposing copy."""
    if x.dim() == 3:
        return conv2d(x[None], weight, bias, stride, padding)[0]
    _check_conv(x, weight)
    (n, c), (o, _, kh, kw) = x.shape[:2], weight.shape
    stride, padding = _pair(stride, "stride"), _pair(padding, "padding")
    oh, ow = _output_hw(x, (kh, kw), stride, padding)
    # Measured (benchmarks/bench_ops.py): stacking kh*kw strided slices of the channel-first input yields the
    # matrix directly and beats Tensor.unfold + permute-copy here; im2col below uses the unfold route.
    xp = pad2d(x.transpose(0, 1), padding)  # (C, N, H + 2ph, W + 2pw)
    cols = torch.stack(_taps(xp, (kh, kw), stride, (oh, ow)), dim=1)  # (C, kh*kw, N, oh, ow)
    out = weight.reshape(o, c * kh * kw) @ cols.reshape(c * kh * kw, n * oh * ow)  # (O, N*oh*ow)
    out = out.reshape(o, n, oh, ow).transpose(0, 1)  # (N, O, oh, ow)
    if bias is not None:
        out = out + bias.reshape(1, o, 1, 1)
    return out.contiguous()


def im2col(x: torch.Tensor, kernel_size, stride=1, padding=0) -> torch.Tensor:
    """Every window flattened to a row (d2l 6.2's exercise): x (N, C, H, W) -> (N, oh*ow, C*kh*kw), windows in
    row-major order, each row ordered (channel, kernel row, kernel column) like weight.reshape(O, -1).
    A 2-D x (H, W) gives (oh*ow, kh*kw). (F.unfold returns the transpose, (N, C*kh*kw, oh*ow).)"""
    if x.dim() == 2:
        return im2col(x[None, None], kernel_size, stride, padding)[0]
    kernel, stride, padding = _pair(kernel_size, "kernel_size"), _pair(stride, "stride"), _pair(padding, "padding")
    n, c = x.shape[:2]
    oh, ow = _output_hw(x, kernel, stride, padding)
    windows = _windows(pad2d(x, padding), kernel, stride)  # (N, C, oh, ow, kh, kw), a view
    return windows.permute(0, 2, 3, 1, 4, 5).reshape(n, oh * ow, c * kernel[0] * kernel[1])


def col2im(cols: torch.Tensor, output_size, kernel_size, stride=1, padding=0) -> torch.Tensor:
    """The adjoint of im2col: put each row back at its window and add where windows overlap (F.fold's sum).
    cols (N, oh*ow, C*kh*kw) -> (N, C, H, W) for output_size (H, W); 2-D cols (oh*ow, kh*kw) -> (H, W)."""
    if cols.dim() == 2:
        return col2im(cols[None], output_size, kernel_size, stride, padding)[0, 0]
    (h, w), (kh, kw) = _pair(output_size, "output_size"), _pair(kernel_size, "kernel_size")
    (sh, sw), (ph, pw) = _pair(stride, "stride"), _pair(padding, "padding")
    oh, ow = conv_output_size(h, kh, ph, sh), conv_output_size(w, kw, pw, sw)
    n, rows, width = cols.shape
    if rows != oh * ow or width % (kh * kw):
        raise ValueError(f"cols {tuple(cols.shape)} do not fit {oh}x{ow} windows of {kh}x{kw} on a {h}x{w} image")
    c = width // (kh * kw)
    blocks = cols.reshape(n, oh, ow, c, kh, kw).permute(0, 3, 4, 5, 1, 2)  # (N, C, kh, kw, oh, ow)
    out = cols.new_zeros(n, c, h + 2 * ph, w + 2 * pw)
    for a in range(kh):  # kh*kw strided slice-adds: each kernel position scatters all windows at once
        for b in range(kw):
            out[:, :, a:a + sh * (oh - 1) + 1:sh, b:b + sw * (ow - 1) + 1:sw] += blocks[:, :, a, b]
    return out[:, :, ph:ph + h, pw:pw + w]


def conv2d_im2col(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride=1,
                  padding=0) -> torch.Tensor:
    """conv2d as the notes on d2l 6.2's exercises write it: im2col rows (N, oh*ow, C*kh*kw) @ flattened kernels
    (C*kh*kw, O)."""
    _check_conv(x, weight)
    n, (o, _, kh, kw) = x.shape[0], weight.shape
    stride, padding = _pair(stride, "stride"), _pair(padding, "padding")
    oh, ow = _output_hw(x, (kh, kw), stride, padding)
    out = im2col(x, (kh, kw), stride, padding) @ weight.reshape(o, -1).t()  # (N, oh*ow, O)
    if bias is not None:
        out = out + bias
    return out.transpose(1, 2).reshape(n, o, oh, ow)


def _pool_windows(x, kernel_size, stride, padding, value) -> torch.Tensor:
    """(..., oh, ow, kh*kw): each pooling window's elements along the last axis, padding filled with `value`."""
    kernel = _pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else _pair(stride, "stride")
    padding = _pair(padding, "padding")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        # PyTorch's rule: otherwise a window could hold padding only
        raise ConfigError(f"pooling padding {padding} must be at most half the window {kernel}")
    _output_hw(x, kernel, stride, padding)  # checks the window fits
    return _windows(pad2d(x, padding, value), kernel, stride).flatten(-2)


def max_pool2d(x: torch.Tensor, kernel_size, stride=None, padding=0) -> torch.Tensor:
    """Maximum over each window (stride defaults to the window), padding with -inf so it never wins.
    Ties send the gradient to the first maximum in row-major order, as F.max_pool2d does."""
    return _pool_windows(x, kernel_size, stride, padding, float("-inf")).max(dim=-1).values


def avg_pool2d(x: torch.Tensor, kernel_size, stride=None, padding=0) -> torch.Tensor:
    """Mean over each window, zero padding counted in the divisor (F.avg_pool2d's count_include_pad=True)."""
    return _pool_windows(x, kernel_size, stride, padding, 0.0).mean(dim=-1)


# ---------------------------------------------------------------- receptive field
def _geometry(module: nn.Module):
    """(kernel, stride, dilation) pairs of a conv or pool layer, or None for any other module."""
    if isinstance(module, (nn.Conv2d, ScratchConv2d)):
        return _pair(module.kernel_size), _pair(module.stride), _pair(module.dilation)
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, ScratchMaxPool2d, ScratchAvgPool2d)):
        kernel = _pair(module.kernel_size)
        stride = kernel if module.stride is None else _pair(module.stride)
        return kernel, stride, _pair(getattr(module, "dilation", 1))
    return None


def receptive_fields(layers_or_model) -> list[dict]:
    """Layer by layer: the input region one output element sees. `layers_or_model` is a list of kernel sizes or
    (kernel, stride) pairs (each an int or (h, w)), or an nn.Module whose Conv2d / MaxPool2d / AvgPool2d layers
    are walked in registration order. Rule: r += (k_eff - 1) * jump; jump *= s, with jump the input distance
    between neighbouring elements of the current layer. Parallel branches (Inception) are walked as if stacked,
    so for branching nets the figure is an upper bound; global pooling (not walked) sees the whole input."""
    if isinstance(layers_or_model, nn.Module):
        layers = [(name or type(m).__name__, type(m).__name__, _geometry(m))
                  for name, m in layers_or_model.named_modules() if _geometry(m) is not None]
    else:
        layers = []
        for i, spec in enumerate(layers_or_model):
            kernel, stride = (spec, 1) if isinstance(spec, int) else spec
            layers.append((str(i), "layer", (_pair(kernel, "kernel"), _pair(stride, "stride"), (1, 1))))
    size, jump, rows = [1, 1], [1, 1], []
    for name, kind, (kernel, stride, dilation) in layers:
        for axis in (0, 1):
            size[axis] += dilation[axis] * (kernel[axis] - 1) * jump[axis]
            jump[axis] *= stride[axis]
        rows.append(dict(name=name, kind=kind, kernel=kernel, stride=stride, jump=tuple(jump), size=tuple(size)))
    return rows


def is_plain_stack(model: nn.Module) -> bool:
    """True when every container in `model` is an nn.Sequential, so `receptive_fields` walks it exactly."""
    return all(isinstance(m, nn.Sequential) for m in model.modules() if next(m.children(), None) is not None)


def receptive_field(layers_or_model) -> tuple[int, int]:
    """(height, width) of the input region that one element of the last layer sees; see `receptive_fields`.
    E.g. two 3x3 convolutions: receptive_field([3, 3]) == (5, 5); LeNet's stack gives (16, 16)."""
    rows = receptive_fields(layers_or_model)
    return rows[-1]["size"] if rows else (1, 1)


# ---------------------------------------------------------------- layers
class Conv2D(nn.Module):
    """The seeds' learnable layer (d2l 6.2): a (kh, kw) kernel and a scalar bias on `corr2d`; 2-D in, 2-D out."""

    def __init__(self, kernel_size):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(_pair(kernel_size, "kernel_size")))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return corr2d(x, self.weight) + self.bias


def _require(layer: str, option: str, value, supported) -> None:
    if value != supported:
        raise ConfigError(f"{layer}: {option}={value!r} is not supported by the scratch ops "
                          f"(only {supported!r}); use ops='native' for this model")


class ScratchConv2d(nn.Module):
    """Drop-in nn.Conv2d on `conv2d`: same arguments, attributes, initialisation and state_dict keys (weight, bias).
    dilation, groups and padding modes other than zeros raise ConfigError."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        _require("ScratchConv2d", "dilation", _pair(dilation, "dilation"), (1, 1))
        _require("ScratchConv2d", "groups", groups, 1)
        _require("ScratchConv2d", "padding_mode", padding_mode, "zeros")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _pair(kernel_size, "kernel_size"), _pair(stride, "stride")
        self.dilation, self.groups, self.padding_mode = (1, 1), 1, padding_mode
        if padding == "valid":
            self.padding, self._pad = padding, (0, 0)
        elif padding == "same":
            _require("ScratchConv2d", "stride with padding='same'", self.stride, (1, 1))
            self.padding, self._pad = padding, tuple(same_padding(k) for k in self.kernel_size)
        else:
            self.padding = self._pad = _pair(padding, "padding")
        factory = dict(device=device, dtype=dtype)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size, **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # nn.Conv2d's initialisation, in the same order, so one seed gives both layers the same weights:
        # kaiming_uniform with a=sqrt(5) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the bias likewise.
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return conv2d(x, self.weight, self.bias, self.stride, self._pad)

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):  # nn.Conv2d's repr leaves out the defaults too
            text += f", padding={self.padding}"
        return text + (", bias=False" if self.bias is None else "")


class ScratchMaxPool2d(nn.Module):
    """Drop-in nn.MaxPool2d on `max_pool2d`; dilation, return_indices and ceil_mode raise ConfigError."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        _require("ScratchMaxPool2d", "dilation", _pair(dilation, "dilation"), (1, 1))
        _require("ScratchMaxPool2d", "return_indices", return_indices, False)
        _require("ScratchMaxPool2d", "ceil_mode", ceil_mode, False)
        # stored as given, like nn.MaxPool2d (stride None means the window)
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = stride if stride is not None else kernel_size
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class ScratchAvgPool2d(nn.Module):
    """Drop-in nn.AvgPool2d on `avg_pool2d`; ceil_mode, count_include_pad=False and divisor_override raise
    ConfigError."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        _require("ScratchAvgPool2d", "ceil_mode", ceil_mode, False)
        _require("ScratchAvgPool2d", "count_include_pad", count_include_pad, True)
        _require("ScratchAvgPool2d", "divisor_override", divisor_override, None)
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = stride if stride is not None else kernel_size
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _scratch_copy(m: nn.Module) -> nn.Module | None:
    """The scratch twin of a native conv/pool layer, carrying the same weights; None for other modules."""
    if isinstance(m, nn.Conv2d):
        # Built on the meta device, so no initialisation draws from the global RNG (a seeded run must consume
        # random numbers exactly as the native model does), then handed the native tensors themselves.
        twin = ScratchConv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation, m.groups,
                             m.bias is not None, m.padding_mode, device="meta", dtype=m.weight.dtype)
        twin.load_state_dict(m.state_dict(), assign=True)
        for name, param in m.named_parameters(recurse=False):  # a frozen conv stays frozen
            getattr(twin, name).requires_grad_(param.requires_grad)
    elif isinstance(m, nn.MaxPool2d):
        twin = ScratchMaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation, m.return_indices, m.ceil_mode)
    elif isinstance(m, nn.AvgPool2d):
        twin = ScratchAvgPool2d(m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad,
                                m.divisor_override)
    else:
        return None
    return twin.train(m.training)


def to_scratch(model: nn.Module, _path: str = "") -> nn.Module:
    """Swap every nn.Conv2d / nn.MaxPool2d / nn.AvgPool2d of `model` (in place) for its scratch twin with the
    same weights, and return the model. Other layers (Linear, BatchNorm, adaptive pooling) stay native.
    A layer option the scratch ops lack raises ConfigError naming the layer."""
    try:
        twin = _scratch_copy(model)
    except ConfigError as error:
        raise ConfigError(f"layer '{_path or type(model).__name__}': {error}") from None
    if twin is not None:
        return twin
    for name, child in model.named_children():
        setattr(model, name, to_scratch(child, f"{_path}.{name}" if _path else name))
    return model
