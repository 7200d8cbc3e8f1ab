"""DenseNet (Huang et al. 2017) as in d2l for 1-channel 96x96 input: dense blocks joined by transition layers."""
from collections import OrderedDict

import torch
from torch import nn

from .registry import register_model


def conv_block(in_channels, out_channels):
    """BN, ReLU, 3x3 conv: the pre-activation order DenseNet uses."""
    return nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(),
                         nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))


class DenseBlock(nn.Module):
    """`num_convs` conv_blocks; each sees the concatenation of the block input and every earlier output,
    and adds `growth_rate` channels: (N, C, H, W) -> (N, C + num_convs * growth_rate, H, W)."""

    def __init__(self, num_convs, in_channels, growth_rate):
        super().__init__()
        self.convs = nn.ModuleList(conv_block(in_channels + i * growth_rate, growth_rate) for i in range(num_convs))
        self.out_channels = in_channels + num_convs * growth_rate

    def forward(self, x):
        for conv in self.convs:
            x = torch.cat((x, conv(x)), dim=1)
        return x


def transition_block(in_channels, out_channels):
    """Shrinks channels with a 1x1 conv and halves H, W with average pooling."""
    return nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(), nn.Conv2d(in_channels, out_channels, kernel_size=1),
                         nn.AvgPool2d(kernel_size=2, stride=2))


def make_densenet(layers=(4, 4, 4, 4), growth_rate=32, num_classes=10, in_channels=1):
    """`layers[i]` convs in dense block i; a transition halving channels and size between blocks.
    Shapes are for 96x96 input with the defaults (d2l's):
    channels 64 -> 192 -> 96 -> 224 -> 112 -> 240 -> 120 -> 248."""
    stages, channels = [], 64
    for i, num_convs in enumerate(layers):
        block = DenseBlock(num_convs, channels, growth_rate)
        stages.append(block)
        channels = block.out_channels
        if i != len(layers) - 1:
            stages.append(transition_block(channels, channels // 2))
            channels //= 2
    return nn.Sequential(OrderedDict(
        stem=nn.Sequential(
            # (N, 64, 48, 48)
            nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),  # (N, 64, 24, 24)
        ),
        stages=nn.Sequential(*stages),  # (N, 248, 3, 3)
        head=nn.Sequential(
            nn.BatchNorm2d(channels), nn.ReLU(),
            nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),  # (N, 248)
            nn.Linear(channels, num_classes),
        ),
    ))


@register_model("densenet", description="DenseNet (d2l): 4 dense blocks of 4 convs, growth rate 32, transitions",
                source="d2l 7.7, Huang 2017", input_size=96, min_size=29, family="batchnorm")
def densenet(num_classes=10, in_channels=1):
    return make_densenet((4, 4, 4, 4), 32, num_classes, in_channels)
