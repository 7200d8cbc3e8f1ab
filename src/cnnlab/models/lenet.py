"""LeNet-5 as in d2l 6.6: sigmoid + average pooling, and its batch-norm and ReLU variants."""
from torch import nn

from .registry import register_model


def lenet5(activation, pool, num_classes=10, in_channels=1):
    """LeNet-5 as one nn.Sequential; `activation` and `pool` are the layer classes (1998: Sigmoid, AvgPool2d)."""
    return nn.Sequential(
        # (N, 6, 28, 28); padding 2: LeNet was built for 32x32
        nn.Conv2d(in_channels, 6, kernel_size=5, padding=2), activation(),
        pool(kernel_size=2, stride=2),  # (N, 6, 14, 14)
        nn.Conv2d(6, 16, kernel_size=5), activation(),  # (N, 16, 10, 10)
        pool(kernel_size=2, stride=2),  # (N, 16, 5, 5)
        nn.Flatten(),  # (N, 400)
        nn.Linear(16 * 5 * 5, 120), activation(),
        nn.Linear(120, 84), activation(),
        nn.Linear(84, num_classes),
    )


@register_model("lenet", description="LeNet-5 (d2l): sigmoid, average pooling, 400 -> 120 -> 84",
                source="d2l 6.6, LeCun 1998", family="sigmoid")
def lenet(num_classes=10, in_channels=1):
    return lenet5(nn.Sigmoid, nn.AvgPool2d, num_classes, in_channels)


@register_model("lenet-bn", description="LeNet-5 with batch norm after every conv / linear layer (d2l 7.5)",
                source="d2l 7.5, Ioffe 2015", family="batchnorm")
def lenet_bn(num_classes=10, in_channels=1):
    # As d2l's batch-norm LeNet: the first conv has no padding, so 16 * 4 * 4 features reach the classifier.
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5), nn.BatchNorm2d(6), nn.Sigmoid(),  # (N, 6, 24, 24)
        nn.AvgPool2d(kernel_size=2, stride=2),  # (N, 6, 12, 12)
        nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.Sigmoid(),  # (N, 16, 8, 8)
        nn.AvgPool2d(kernel_size=2, stride=2),  # (N, 16, 4, 4)
        nn.Flatten(),  # (N, 256)
        nn.Linear(16 * 4 * 4, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(),
        nn.Linear(84, num_classes),
    )


@register_model("lenet-relu", description="LeNet-5 with ReLU and max pooling (the modern choices)",
                source="d2l 6.6 exercises", family="plain")
def lenet_relu(num_classes=10, in_channels=1):
    return lenet5(nn.ReLU, nn.MaxPool2d, num_classes, in_channels)
