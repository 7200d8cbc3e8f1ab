"""The small networks of Liu Er's PyTorch course (lectures 10 and 11, "CNN basics" and "CNN advanced": the basic,
Inception and residual CNNs) and of Morvan's PyTorch CNN tutorial."""
import torch
import torch.nn.functional as F
from torch import nn

from .registry import register_model


@register_model("basic-cnn", description="Liu Er's basic CNN: conv 10 -> conv 20 -> fc 320",
                source="Liu Er, lecture 10", family="plain")
def basic_cnn(num_classes=10, in_channels=1):
    return nn.Sequential(
        nn.Conv2d(in_channels, 10, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),  # (N, 10, 12, 12)
        nn.Conv2d(10, 20, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),  # (N, 20, 4, 4)
        nn.Flatten(),  # (N, 320)
        nn.Linear(320, num_classes),
    )


@register_model("morvan-cnn", description="Morvan's CNN: conv 16 -> conv 32 ('same' 5x5) -> fc 32*7*7",
                source="Morvan's tutorial 401", family="plain")
def morvan_cnn(num_classes=10, in_channels=1):
    # Morvan's tutorial 401 returns (logits, flattened features); here forward returns logits and
    # cnnlab.inspect.penultimate(model, x) gives the (N, 1568) features for t-SNE.
    return nn.Sequential(
        # (N, 16, 14, 14)
        nn.Sequential(nn.Conv2d(in_channels, 16, kernel_size=5, stride=1, padding=2), nn.ReLU(), nn.MaxPool2d(2)),
        # (N, 32, 7, 7)
        nn.Sequential(nn.Conv2d(16, 32, kernel_size=5, stride=1, padding=2), nn.ReLU(), nn.MaxPool2d(2)),
        nn.Flatten(),  # (N, 1568)
        nn.Linear(32 * 7 * 7, num_classes),
    )


class InceptionA(nn.Module):
    """Liu Er's lecture 11 Inception block: four branches concatenated to 16 + 24 + 24 + 24 = 88 channels, same H, W."""

    out_channels = 88

    def __init__(self, in_channels):
        super().__init__()
        self.branch1x1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch5x5_1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch5x5_2 = nn.Conv2d(16, 24, kernel_size=5, padding=2)
        self.branch3x3_1 = nn.Conv2d(in_channels, 16, kernel_size=1)
        self.branch3x3_2 = nn.Conv2d(16, 24, kernel_size=3, padding=1)
        self.branch3x3_3 = nn.Conv2d(24, 24, kernel_size=3, padding=1)
        self.branch_pool = nn.Conv2d(in_channels, 24, kernel_size=1)

    def forward(self, x):
        # No activations inside the block, exactly as in the seed.
        b1 = self.branch1x1(x)  # (N, 16, H, W)
        b2 = self.branch5x5_2(self.branch5x5_1(x))  # (N, 24, H, W)
        b3 = self.branch3x3_3(self.branch3x3_2(self.branch3x3_1(x)))  # (N, 24, H, W)
        # Functional pooling as in the seed, so the layer listing matches its torchsummary table row for row.
        b4 = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))  # (N, 24, H, W)
        return torch.cat([b1, b2, b3, b4], dim=1)  # (N, 88, H, W)


class InceptionNet(nn.Module):
    """Liu Er's lecture 11 net: conv 10 -> InceptionA -> conv 20 -> InceptionA -> fc 1408."""

    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 10, kernel_size=5)
        self.incep1 = InceptionA(10)
        self.conv2 = nn.Conv2d(InceptionA.out_channels, 20, kernel_size=5)
        self.incep2 = InceptionA(20)
        self.mp = nn.MaxPool2d(2)  # used twice, as in the seed
        self.fc = nn.Linear(InceptionA.out_channels * 4 * 4, num_classes)

    def forward(self, x):  # (N, 1, 28, 28)
        x = F.relu(self.mp(self.conv1(x)))  # (N, 10, 12, 12)
        x = self.incep1(x)  # (N, 88, 12, 12)
        x = F.relu(self.mp(self.conv2(x)))  # (N, 20, 4, 4)
        x = self.incep2(x)  # (N, 88, 4, 4)
        return self.fc(x.flatten(1))  # (N, 1408) -> (N, num_classes)


class ResidualBlock(nn.Module):
    """Liu Er's lecture 11 residual block: relu(x + conv(relu(conv(x)))), channels and size unchanged."""

    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x):
        y = self.conv2(F.relu(self.conv1(x)))
        return F.relu(x + y)  # add first, then activate


@register_model("inception-cnn",
                description="Liu Er's Inception CNN: conv 10 -> InceptionA -> conv 20 -> InceptionA -> fc 1408",
                source="Liu Er, lecture 11", family="plain")
def inception_cnn(num_classes=10, in_channels=1):
    return InceptionNet(num_classes, in_channels)


@register_model("residual-cnn",
                description="Liu Er's residual CNN: conv 16 -> ResidualBlock -> conv 32 -> ResidualBlock -> fc 512",
                source="Liu Er, lecture 11", family="plain")
def residual_cnn(num_classes=10, in_channels=1):
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),  # (N, 16, 12, 12)
        ResidualBlock(16),  # (N, 16, 12, 12)
        nn.Conv2d(16, 32, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),  # (N, 32, 4, 4)
        ResidualBlock(32),  # (N, 32, 4, 4)
        nn.Flatten(),  # (N, 512)
        nn.Linear(32 * 4 * 4, num_classes),
    )
