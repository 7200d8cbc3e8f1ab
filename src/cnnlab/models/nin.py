"""Network in Network (Lin et al. 2013) as in d2l 7.3: 1x1 convs instead of fully connected layers."""
from torch import nn

from .registry import register_model


def nin_block(in_channels, out_channels, kernel_size, stride, padding):
    """A conv then two 1x1 convs (a per-pixel MLP), each followed by ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
    )


@register_model("nin",
                description="NiN (d2l): nin_blocks (conv + two 1x1 convs), one channel per class, global average pool",
                source="d2l 7.3, Lin 2013", input_size=224, min_size=67, family="deep")
def nin(num_classes=10, in_channels=1):
    return nn.Sequential(
        nin_block(in_channels, 96, kernel_size=11, stride=4, padding=0),  # (N, 96, 54, 54)
        nn.MaxPool2d(3, stride=2),  # (N, 96, 26, 26)
        nin_block(96, 256, kernel_size=5, stride=1, padding=2),  # (N, 256, 26, 26)
        nn.MaxPool2d(3, stride=2),  # (N, 256, 12, 12)
        nin_block(256, 384, kernel_size=3, stride=1, padding=1),  # (N, 384, 12, 12)
        nn.MaxPool2d(3, stride=2),  # (N, 384, 5, 5)
        nn.Dropout(0.5),
        nin_block(384, num_classes, kernel_size=3, stride=1, padding=1),  # (N, num_classes, 5, 5)
        nn.AdaptiveAvgPool2d((1, 1)),  # (N, num_classes, 1, 1): the class scores are channel means
        nn.Flatten(),  # (N, num_classes)
    )
