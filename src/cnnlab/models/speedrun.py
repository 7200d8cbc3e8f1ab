"""speedrun-net: a small VGG-style network with batch norm for the Fashion-MNIST speed-run recipe
(`cnnlab train --recipe speedrun`, README "Speed-run").

Why this shape (each choice measured on full 5-8 epoch runs, see README): on a CPU the cost is the 3x3 convs
plus the memory traffic of BN, ReLU and pooling, so
- each max-pool comes straight after its conv, and BN and ReLU run on the pooled map: a quarter of the
  pixels (ReLU commutes with max; BN then normalises the pooled values). The 28x28 stage alone cost more than
  a third of every step with BN and ReLU before the pool;
- one conv at 28x28 and one at 14x14, the work at 7x7: a narrow net trained for more epochs beat a wider one
  trained for fewer in the same time;
- the head keeps the whole 7x7 map (flatten, one linear layer): Fashion-MNIST items are centred, so where a
  feature fires matters; it scored above a 3x3 max-pooled head and a global max pool."""
from collections import OrderedDict

from torch import nn

from .registry import register_model


def conv_bn(in_channels, out_channels, pool=False):
    """3x3 conv (no bias: batch norm follows) -> [2x2 max-pool] -> BN -> ReLU."""
    layers = [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def make_speedrun_net(widths=(16, 32, 64), num_classes=10, in_channels=1, hidden=0):
    """The speedrun-net shape with stage widths `widths`; `hidden` > 0 puts a hidden layer of that many ReLU
    units between the 7x7 map and the output."""
    w0, w1, w2 = widths
    head = [nn.Linear(w2 * 7 * 7, num_classes)] if not hidden else [
        nn.Linear(w2 * 7 * 7, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_classes)]
    return nn.Sequential(OrderedDict(
        stem=conv_bn(in_channels, w0, pool=True),  # (N, w0, 14, 14)
        stages=nn.Sequential(
            conv_bn(w0, w1, pool=True),  # (N, w1, 7, 7)
            conv_bn(w1, w2), conv_bn(w2, w2),  # (N, w2, 7, 7)
        ),
        head=nn.Sequential(nn.Flatten(), *head),  # (N, classes)
    ))


@register_model("speedrun-net", description="small VGG-style net with batch norm, built for the speed-run recipe",
                source="cnnlab", input_size=28, family="batchnorm")
def speedrun_net(num_classes=10, in_channels=1):
    return make_speedrun_net((16, 32, 64), num_classes, in_channels)


@register_model("speedrun94-net", description="speedrun-net with a 128-unit hidden layer in its head, for the "
                "speedrun94 recipe", source="cnnlab", input_size=28, family="batchnorm")
def speedrun94_net(num_classes=10, in_channels=1):
    return make_speedrun_net((16, 32, 64), num_classes, in_channels, hidden=128)
