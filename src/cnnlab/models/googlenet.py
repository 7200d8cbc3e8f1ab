"""GoogLeNet / Inception v1 (Szegedy et al. 2014) in full, as in d2l for 96x96 input (no auxiliary classifiers)."""
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .registry import register_model


class Inception(nn.Module):
    """One row of the paper's Table 1: c1 = #1x1, c2 = (#3x3 reduce, #3x3), c3 = (#5x5 reduce, #5x5), c4 = pool proj.
    Every branch keeps H and W; the output has c1 + c2[1] + c3[1] + c4 channels."""

    def __init__(self, in_channels, c1, c2, c3, c4):
        super().__init__()
        self.branch1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        self.branch2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
        self.branch2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        self.branch3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
        self.branch3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        self.branch4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.branch4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)

    def forward(self, x):
        b1 = F.relu(self.branch1(x))  # (N, c1, H, W)
        b2 = F.relu(self.branch2_2(F.relu(self.branch2_1(x))))  # (N, c2[1], H, W)
        b3 = F.relu(self.branch3_2(F.relu(self.branch3_1(x))))  # (N, c3[1], H, W)
        b4 = F.relu(self.branch4_2(self.branch4_1(x)))  # (N, c4, H, W)
        return torch.cat((b1, b2, b3, b4), dim=1)


@register_model("googlenet", description="GoogLeNet / Inception v1 (d2l): 9 Inception blocks, global average pool",
                source="d2l 7.4, Szegedy 2014", input_size=96, min_size=1, family="deep")
def googlenet(num_classes=10, in_channels=1):
    # Shapes are for 96x96 input; the global average pool accepts other sizes.
    return nn.Sequential(OrderedDict(
        stem=nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3), nn.ReLU(),  # (N, 64, 48, 48)
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),  # (N, 64, 24, 24)
            nn.Conv2d(64, 64, kernel_size=1), nn.ReLU(),
            nn.Conv2d(64, 192, kernel_size=3, padding=1), nn.ReLU(),  # (N, 192, 24, 24)
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),  # (N, 192, 12, 12)
        ),
        stages=nn.Sequential(
            Inception(192, 64, (96, 128), (16, 32), 32),  # 3a (N, 256, 12, 12)
            Inception(256, 128, (128, 192), (32, 96), 64),  # 3b (N, 480, 12, 12)
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),  # (N, 480, 6, 6)
            Inception(480, 192, (96, 208), (16, 48), 64),  # 4a (N, 512, 6, 6)
            Inception(512, 160, (112, 224), (24, 64), 64),  # 4b (N, 512, 6, 6)
            Inception(512, 128, (128, 256), (24, 64), 64),  # 4c (N, 512, 6, 6)
            Inception(512, 112, (144, 288), (32, 64), 64),  # 4d (N, 528, 6, 6)
            Inception(528, 256, (160, 320), (32, 128), 128),  # 4e (N, 832, 6, 6)
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),  # (N, 832, 3, 3)
            Inception(832, 256, (160, 320), (32, 128), 128),  # 5a (N, 832, 3, 3)
            Inception(832, 384, (192, 384), (48, 128), 128),  # 5b (N, 1024, 3, 3)
        ),
        head=nn.Sequential(
            nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),  # (N, 1024)
            nn.Linear(1024, num_classes),
        ),
    ))

