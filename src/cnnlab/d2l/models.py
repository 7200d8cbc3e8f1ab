"""d2l's model names: chapter 7.6's Residual block and the ResNet-18 the book builds from it for Fashion-MNIST;
and the Xavier initialisation train_ch6 applies."""
import torch.nn.functional as F
from torch import nn


def xavier_init(net: nn.Module) -> None:
    """d2l 6.6's init_weights: Xavier-uniform weights for every Linear and Conv2d (subclasses included; d2l tests
    the exact type). Biases keep PyTorch's default."""
    for m in net.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)


class Residual(nn.Module):
    """d2l 7.6's block: relu(bn2(conv2(relu(bn1(conv1(X))))) + X), with a 1x1 convolution `conv3` on the shortcut
    when `use_1x1conv` (needed when the channels or, with `strides` > 1, the size change)."""

    def __init__(self, input_channels: int, num_channels: int, use_1x1conv: bool = False, strides: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides) if use_1x1conv else None
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3 is not None:
            X = self.conv3(X)
        return F.relu(Y + X)


def _resnet_block(in_channels: int, out_channels: int, num_residuals: int, first_block: bool = False) -> nn.Sequential:
    """num_residuals Residual blocks; unless first_block, the first one halves the size and changes the channels."""
    blocks = [Residual(in_channels, out_channels, use_1x1conv=True, strides=2) if i == 0 and not first_block
              else Residual(out_channels, out_channels) for i in range(num_residuals)]
    return nn.Sequential(*blocks)


def resnet18(num_classes: int, in_channels: int = 1) -> nn.Sequential:
    """The book's slightly modified ResNet-18 (d2l 12.6, used for its multi-GPU and image-augmentation chapters):
    a 3x3 stem without max-pooling, so small images such as Fashion-MNIST's keep their size; four stages of two
    blocks at 64, 128, 256, 512 channels; global average pooling; one Linear layer. Its parts are named as the
    book's (resnet_block1..4, global_avg_pool, fc), so printed summaries match."""
    net = nn.Sequential(nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1),
                        nn.BatchNorm2d(64), nn.ReLU())  # (N, 64, H, W)
    net.add_module("resnet_block1", _resnet_block(64, 64, 2, first_block=True))  # (N, 64, H, W)
    net.add_module("resnet_block2", _resnet_block(64, 128, 2))  # (N, 128, H/2, W/2)
    net.add_module("resnet_block3", _resnet_block(128, 256, 2))  # (N, 256, H/4, W/4)
    net.add_module("resnet_block4", _resnet_block(256, 512, 2))  # (N, 512, H/8, W/8)
    net.add_module("global_avg_pool", nn.AdaptiveAvgPool2d((1, 1)))  # (N, 512, 1, 1)
    net.add_module("fc", nn.Sequential(nn.Flatten(), nn.Linear(512, num_classes)))  # (N, num_classes)
    return net
