"""speedrun-net: a small VGG-style network with batch norm for the Fashion-MNIST speed-run recipe
(`cnnlab train --recipe speedrun`, README "Speed-run").

Why this shape (each choice measured on 5-6 epoch runs, see README): on a CPU the cost is multiply-adds, so
the 28x28 stage is one narrow conv and the work happens at 14x14 and 7x7; a narrow net trained for more
epochs beat a wider one trained for fewer in the same time; a 3x3 max-pooled head keeps coarse position
(Fashion-MNIST items are centred) and scored 0.3 points above a global max pool."""
from collections import OrderedDict

from torch import nn

from .registry import register_model


def conv_bn(in_channels, out_channels):
    """3x3 conv (no bias: batch norm follows) -> BN -> ReLU; keeps H and W."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def speedrun_net(widths=(16, 32, 64), num_classes=10, in_channels=1):
    w0, w1, w2 = widths
    return nn.Sequential(OrderedDict(
        stem=conv_bn(in_channels, w0),  # (N, w0, 28, 28)
        stages=nn.Sequential(
            nn.MaxPool2d(2), conv_bn(w0, w1), conv_bn(w1, w1),  # (N, w1, 14, 14)
            nn.MaxPool2d(2), conv_bn(w1, w2), conv_bn(w2, w2),  # (N, w2, 7, 7)
        ),
        head=nn.Sequential(nn.AdaptiveMaxPool2d(3), nn.Flatten(), nn.Linear(w2 * 9, num_classes)),  # (N, classes)
    ))


@register_model("speedrun-net", description="small VGG-style net with batch norm, built for the speed-run recipe",
                source="cnnlab", input_size=28, min_size=4)
def speedrun(num_classes=10, in_channels=1):
    return speedrun_net((16, 32, 64), num_classes, in_channels)
