"""The small networks of seed 000 (basic, Inception and residual CNNs) and seed 001 (Morvan's CNN)."""
from torch import nn

from .registry import register_model


@register_model("basic-cnn", description="seed 000: conv 10 -> conv 20 -> fc 320", source="seed 000")
def basic_cnn(num_classes=10, in_channels=1):
    return nn.Sequential(
        nn.Conv2d(in_channels, 10, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),  # (N, 10, 12, 12)
        nn.Conv2d(10, 20, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),  # (N, 20, 4, 4)
        nn.Flatten(),  # (N, 320)
        nn.Linear(320, num_classes),
    )
