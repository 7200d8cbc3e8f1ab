"""ResNet-18 (He et al. 2015) as in d2l for 1-channel 96x96 input, and its pre-activation variant
(He et al. 2016, "Identity Mappings in Deep Residual Networks")."""
from collections import OrderedDict

import torch.nn.functional as F
from torch import nn

from .registry import register_model


class Residual(nn.Module):
    """d2l's basic block: relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)); a 1x1 conv shortcut when the shape changes.
    Convs keep PyTorch's default bias, as d2l does (BatchNorm makes it redundant)."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        reshape = stride != 1 or in_channels != out_channels
        self.shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride) if reshape else nn.Identity()

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class PreActResidual(nn.Module):
    """Full pre-activation block (He et al. 2016, Fig. 4e): x + conv(relu(bn(conv(relu(bn(x)))))).
    Nothing follows the addition, so the identity path runs unchanged through the whole network."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        reshape = stride != 1 or in_channels != out_channels
        self.shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride) if reshape else nn.Identity()

    def forward(self, x):
        y = self.conv1(F.relu(self.bn1(x)))
        y = self.conv2(F.relu(self.bn2(y)))
        return y + self.shortcut(x)


def resnet(block, layers, num_classes=10, in_channels=1):
    """`layers[i]` blocks in stage i, at 64, 128, 256, 512 channels; every stage after the first halves H and W.
    Shapes are for 96x96 input; the global average pool accepts any size."""
    widths = (64, 128, 256, 512)
    stages, in_width = [], 64
    for i, (num_blocks, width) in enumerate(zip(layers, widths)):
        stride = 1 if i == 0 else 2  # the stem has already pooled, so the first stage keeps the size
        stages.append(nn.Sequential(block(in_width, width, stride),
                                    *[block(width, width) for _ in range(num_blocks - 1)]))
        in_width = width
    # Pre-activation blocks end in a bare sum, so the paper adds one last BN + ReLU before pooling.
    final = [nn.BatchNorm2d(widths[-1]), nn.ReLU()] if block is PreActResidual else []
    return nn.Sequential(OrderedDict(
        stem=nn.Sequential(
            # (N, 64, 48, 48)
            nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),  # (N, 64, 24, 24)
        ),
        stages=nn.Sequential(*stages),  # (N, 64, 24, 24) (N, 128, 12, 12) (N, 256, 6, 6) (N, 512, 3, 3)
        head=nn.Sequential(
            *final,
            nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),  # (N, 512)
            nn.Linear(widths[-1], num_classes),
        ),
    ))


@register_model("resnet18", description="ResNet-18 (d2l): 4 stages of 2 Residual blocks, global average pool",
                source="d2l 7.6, He 2015", input_size=96, min_size=1, family="batchnorm")
def resnet18(num_classes=10, in_channels=1):
    return resnet(Residual, (2, 2, 2, 2), num_classes, in_channels)


@register_model("resnet18-preact", description="ResNet-18 with full pre-activation blocks (BN, ReLU before each conv)",
                source="He 2016", input_size=96, min_size=1, family="batchnorm")
def resnet18_preact(num_classes=10, in_channels=1):
    return resnet(PreActResidual, (2, 2, 2, 2), num_classes, in_channels)
