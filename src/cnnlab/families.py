"""The model families' training defaults: the settings a zoo model trains with when no recipe is given. A leaf
module (no torch): the registry checks a model's family against it, and config.resolve applies it."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    description: str
    settings: dict  # TrainConfig fields a model of the family trains with when no recipe is given


# Each registered model names its family (register_model(..., family=...)); `cnnlab models` shows it and
# `cnnlab recipes` lists these. Measured on Fashion-MNIST, 2 epochs on the first 6,000 training images
# (README, "Defaults per model family").
FAMILIES = {
    "plain": Family("small ReLU nets without batch norm, 28x28: Adam at 3e-3",
                    dict(optimizer="adam", lr=3e-3)),
    "sigmoid": Family("sigmoid LeNet: saturating units start slowly; Adam at 1e-2, 20 epochs",
                      dict(optimizer="adam", lr=1e-2, epochs=20)),
    "batchnorm": Family("nets with batch norm: Adam at 1e-3 (their test accuracy lags train accuracy until the "
                        "batch-norm statistics settle)", dict(optimizer="adam", lr=1e-3)),
    "deep": Family("deep nets without batch norm (d2l 7.1-7.4): the AlexNet and VGG papers' SGD lr 0.01, momentum "
                   "0.9, with d2l's Xavier init, batch 128",
                   dict(optimizer="sgd", lr=0.01, momentum=0.9, init="xavier", batch_size=128)),
}
