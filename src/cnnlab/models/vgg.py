"""VGG (Simonyan & Zisserman 2014) as in d2l 7.2: blocks of 3x3 convs, each block halving H and W."""
from torch import nn

from .registry import register_model

# (number of 3x3 convs, output channels) per block: VGG-11, configuration "A" of the paper's Table 1.
VGG11 = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))


def vgg_block(num_convs, in_channels, out_channels):
    """`num_convs` 3x3 convs (padding 1, so H, W kept) with ReLU, then a 2x2 max-pool:
    (N, in, H, W) -> (N, out, H/2, W/2)."""
    layers = []
    for _ in range(num_convs):
        layers += [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU()]
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def vgg(arch, num_classes=10, in_channels=1):
    """A VGG for 224x224 input: one vgg_block per (num_convs, channels) row of `arch`, then the 4096-wide classifier."""
    channels = [in_channels] + [c for _, c in arch]
    blocks = [vgg_block(n, c_in, c_out) for (n, c_out), c_in in zip(arch, channels)]
    return nn.Sequential(
        *blocks,  # (N, channels[-1], 7, 7): five blocks halve 224 five times
        nn.Flatten(),  # (N, channels[-1] * 49)
        nn.Linear(channels[-1] * 7 * 7, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, num_classes),
    )


@register_model("vgg11", description="VGG-11 (d2l): 8 convs in 5 vgg_blocks, 25088 -> 4096 -> 4096",
                source="d2l 7.2, Simonyan 2014", input_size=224, family="deep")
def vgg11(num_classes=10, in_channels=1):
    return vgg(VGG11, num_classes, in_channels)


@register_model("vgg11-small", description="VGG-11 with a quarter of the conv channels (d2l's trainable variant)",
                source="d2l 7.2, Simonyan 2014", input_size=224, family="deep")
def vgg11_small(num_classes=10, in_channels=1):
    # As d2l: only the conv channels are divided by 4; the classifier keeps 4096 units.
    return vgg(tuple((n, c // 4) for n, c in VGG11), num_classes, in_channels)
