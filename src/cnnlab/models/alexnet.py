"""AlexNet (Krizhevsky et al. 2012) as in d2l 7.1: one tower, 1-channel 224x224 input."""
from torch import nn

from .registry import register_model


@register_model("alexnet", description="AlexNet (d2l): 5 convs, 3 max-pools, 6400 -> 4096 -> 4096, dropout",
                source="d2l 7.1, Krizhevsky 2012", input_size=224, family="deep")
def alexnet(num_classes=10, in_channels=1):
    return nn.Sequential(
        # padding 1 as in d2l (the paper's 227 input has none), so 224 -> 54
        nn.Conv2d(in_channels, 96, kernel_size=11, stride=4, padding=1), nn.ReLU(),  # (N, 96, 54, 54)
        nn.MaxPool2d(kernel_size=3, stride=2),  # (N, 96, 26, 26)
        nn.Conv2d(96, 256, kernel_size=5, padding=2), nn.ReLU(),  # (N, 256, 26, 26)
        nn.MaxPool2d(kernel_size=3, stride=2),  # (N, 256, 12, 12)
        nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(),  # (N, 384, 12, 12)
        nn.Conv2d(384, 384, kernel_size=3, padding=1), nn.ReLU(),  # (N, 384, 12, 12)
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),  # (N, 256, 12, 12)
        nn.MaxPool2d(kernel_size=3, stride=2),  # (N, 256, 5, 5)
        nn.Flatten(),  # (N, 6400)
        nn.Linear(256 * 5 * 5, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, num_classes),
    )
