"""speedrun-net and speedrun94-net: small VGG-style networks for the Fashion-MNIST speed-run recipes
(`cnnlab train --recipe speedrun` / `speedrun94`, docs/speedrun.md).

Why this shape (each choice measured on full 5-16 epoch runs, docs/speedrun.md): on a CPU the cost is the 3x3
convs plus the memory traffic of BN, ReLU and pooling, so
- the first conv is a frozen whitening conv (fitted to the training images before training, as airbench does on
  CIFAR-10): 18 fixed filters, no backward, and no batch norm after it (the whitened patches already have unit
  variance; that norm over the 18 x 14 x 14 map cost 18% of a step on an Intel Xeon in float32, for no accuracy);
- each max-pool comes straight after its conv, and BN and ReLU run on the pooled map: a quarter of the
  pixels (ReLU commutes with max; BN then normalises the pooled values);
- one conv at 28x28 and one at 14x14, the work at 7x7: a narrow net trained for more epochs beat a wider one
  trained for fewer in the same time; speedrun94-net's 14x14 conv has stride 2 and no max-pool after it (a
  quarter of its multiply-adds and no pool to go back through: its step 1.25x faster, for 20 epochs instead of 18);
- the head keeps the whole 7x7 map (flatten, a linear layer): Fashion-MNIST items are centred, so where a
  feature fires matters; it scored above a 3x3 max-pooled head and a global max pool. Its first linear layer
  flattens the map itself (`FlattenLinear`), reading the channels_last map the trainer keeps as it lies;
- the frozen stem's max-pool takes the max of the four 2x2 offsets (`MaxPool2x2`): the same values, faster than
  PyTorch's kernel on an 18-channel channels_last map.

speedrun-net keeps 48 channels at 7x7 and one linear layer (93% in 8 epochs); speedrun94-net 64 channels and a
128-unit hidden layer (94% in 20)."""
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .registry import register_model


def conv_bn(in_channels, out_channels, pool=False, stride=1):
    """3x3 conv (no bias: batch norm follows) -> [2x2 max-pool] -> BN -> ReLU."""
    layers = [nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class MaxPool2x2(nn.MaxPool2d):
    """nn.MaxPool2d(2). Where no gradient flows back through it (after the frozen whitening conv, in training and
    in every test pass) it takes the elementwise max of the map's four 2x2 offsets: the same values as
    F.max_pool2d, and on an Intel Xeon 2.6x faster on speedrun-net's 18 x 28 x 28 channels_last map (PyTorch's
    kernel there also computes the indices a backward pass would need). Anything else (a gradient to the input,
    an odd size, export) takes nn.MaxPool2d's path; `--ops scratch` swaps it like any nn.MaxPool2d."""

    def __init__(self):
        super().__init__(2)

    def forward(self, x):
        exporting = torch.jit.is_tracing() or torch.compiler.is_compiling()
        if x.requires_grad or x.shape[-1] % 2 or x.shape[-2] % 2 or exporting:
            return super().forward(x)
        return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
                             torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))


class FlattenLinear(nn.Linear):
    """nn.Flatten, then this nn.Linear: the same weights in the same (C, H, W) order of the map's values. On a
    channels_last map it reads the map as it lies, (H, W, C), with the weight's columns put in that order: the
    map is not copied, and its gradient goes back channels_last. nn.Flatten on such a map copies it, and hands
    the layers below a gradient in the other layout, a slow mix for their backward (speedrun94-net's training
    step was about 1.1x faster this way on an Intel Xeon)."""

    def forward(self, x):
        if x.dim() != 4 or not x.is_contiguous(memory_format=torch.channels_last) or x.is_contiguous():
            return super().forward(x.flatten(1))
        n, c, h, w = x.shape
        weight = self.weight.view(self.out_features, c, h, w).permute(0, 2, 3, 1).reshape(self.out_features, -1)
        return F.linear(x.permute(0, 2, 3, 1).reshape(n, -1), weight, self.bias)


class WhiteningConv(nn.Module):
    """A frozen k x k conv (`.conv`) whose filters whiten the training images' k x k patches: the eigenvectors
    of the patches' covariance, each scaled by 1 / sqrt(eigenvalue + eps), and their negatives (2 * C * k * k
    output channels; a max-pool after it then sees both signs). The trainer calls `fit_to_data` with the
    normalised training images before the first step; until then the filters are random, as a fresh
    nn.Conv2d's. The weight never gets a gradient; checkpoints carry it like any conv's. The conv is a plain
    nn.Conv2d child, so every view sees it as the first conv and `--ops scratch` swaps it like any other."""

    def __init__(self, in_channels: int = 1, kernel_size: int = 3, eps: float = 5e-4):
        super().__init__()
        self.eps = eps
        self.conv = nn.Conv2d(in_channels, 2 * in_channels * kernel_size ** 2, kernel_size,
                              padding=kernel_size // 2, bias=False)
        self.conv.weight.requires_grad_(False)

    @property
    def out_channels(self) -> int:
        return self.conv.out_channels

    @torch.no_grad()
    def fit_to_data(self, images: torch.Tensor) -> None:
        """Set the filters from normalised images (N, C, H, W), every patch the conv will see (zero padding
        included)."""
        weight = self.conv.weight
        k = weight.shape[-1]
        patches = F.unfold(images.float(), k, padding=k // 2).transpose(1, 2).flatten(0, 1)  # (patches, C*k*k)
        values, vectors = torch.linalg.eigh(torch.cov(patches.T))
        filters = (vectors / (values + self.eps).sqrt()).T.reshape(-1, *weight.shape[1:])
        weight.copy_(torch.cat([filters, -filters]))

    def forward(self, x):
        return self.conv(x)


def make_speedrun_net(widths=(16, 32, 64), num_classes=10, in_channels=1, hidden=0, whiten=False, stem_norm=True,
                      convs_at_7=2, pool_at_14=True):
    """The speedrun-net shape with stage widths `widths`; `hidden` > 0 puts a hidden layer of that many ReLU
    units between the 7x7 map and the output; `whiten` makes the first conv a frozen WhiteningConv (its width
    is then 18 per input channel, not widths[0]); `stem_norm=False` leaves out the whitening stem's batch norm;
    `convs_at_7` is the number of 3x3 convs at 7x7 (1 or 2); `pool_at_14=False` makes the 14x14 conv a stride-2
    one with no max-pool after it."""
    w0, w1, w2 = widths
    head = [FlattenLinear(w2 * 7 * 7, num_classes)] if not hidden else [
        FlattenLinear(w2 * 7 * 7, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_classes)]
    if whiten:
        first = WhiteningConv(in_channels)
        w0 = first.out_channels
        norm = [nn.BatchNorm2d(w0)] if stem_norm else []
        stem = nn.Sequential(first, MaxPool2x2(), *norm, nn.ReLU(inplace=True))
    else:
        stem = conv_bn(in_channels, w0, pool=True)
    return nn.Sequential(OrderedDict(
        stem=stem,  # (N, w0, 14, 14)
        stages=nn.Sequential(
            conv_bn(w0, w1, pool=True) if pool_at_14 else conv_bn(w0, w1, stride=2),  # (N, w1, 7, 7)
            conv_bn(w1, w2), *[conv_bn(w2, w2) for _ in range(convs_at_7 - 1)],  # (N, w2, 7, 7)
        ),
        head=nn.Sequential(*head),  # (N, classes)
    ))


@register_model("speedrun-net", description="small VGG-style net with a frozen whitening first conv and batch "
                "norm, built for the speed-run recipe", source="cnnlab", input_size=28, family="batchnorm")
def speedrun_net(num_classes=10, in_channels=1):
    return make_speedrun_net((16, 32, 48), num_classes, in_channels, whiten=True, stem_norm=False)


@register_model("speedrun94-net", description="speedrun-net with a stride-2 conv at 14x14, one conv of 64 channels "
                "at 7x7 and a 128-unit hidden layer in its head, for the speedrun94 recipe", source="cnnlab",
                input_size=28, family="batchnorm")
def speedrun94_net(num_classes=10, in_channels=1):
    return make_speedrun_net((16, 32, 64), num_classes, in_channels, hidden=128, whiten=True, stem_norm=False,
                             convs_at_7=1, pool_at_14=False)
