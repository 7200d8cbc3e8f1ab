"""What to say when a run is not learning: one line of likely causes after an epoch whose test accuracy sits at
chance, or whose train and test accuracy are far apart. Plain data in, a sentence out (the reporter prints it)."""
import math

CHANCE_FACTOR = 1.5  # test accuracy below 1.5x chance (0.15 for 10 classes) counts as "at chance"
WIDE_GAP = 0.3  # train minus test accuracy beyond this is "diverging wildly"
SMALL_TEST = 2000  # fewer test images than this make a noisy figure
SHORT_RUN = 200  # steps: fewer, and a net at chance may just not have started yet


def _family(model) -> str | None:
    if not isinstance(model, str):
        return None
    from .errors import ConfigError
    from .models import model_info

    try:
        return model_info(model).family
    except ConfigError:
        return None


def likely_causes(info: dict, row: dict) -> str | None:
    """One line naming the likely causes when epoch `row` (a metrics.csv row) looks wrong; None when it looks
    fine. `info` is what config.json records (settings, classes, image counts)."""
    config = info["config"]
    chance = 1 / len(info["classes"])
    train, test = row["train_acc"], row["test_acc"]
    at_chance = test < CHANCE_FACTOR * chance
    gap = train - test
    if not at_chance and gap < WIDE_GAP:
        return None
    family = _family(config["model"])
    steps = row["epoch"] * math.ceil(info["train_images"] / config["batch_size"])
    causes = []
    if at_chance and train < CHANCE_FACTOR * chance:  # nothing learned, not even on the training images
        if steps < SHORT_RUN:
            causes.append(f"only {steps:,} steps so far: deep and sigmoid nets often sit at chance for longer "
                          "(more --epochs or a larger --train-limit)")
        if family == "sigmoid":
            causes.append("sigmoid nets start slowly: give it more epochs (--epochs 20) or its book settings "
                          "(--recipe d2l-lenet)")
        causes.append(f"the learning rate (--lr {config['lr']}, {config['optimizer']}) may be too high or too low: "
                      "try 10x either way, or leave --lr out for the model family's default (cnnlab recipes)")
    elif family == "batchnorm" or config.get("recipe") in ("d2l-lenet-bn", "d2l-resnet", "d2l-densenet", "speedrun"):
        causes.append(f"batch-norm statistics have not settled after {steps:,} steps: train longer or on more "
                      "images (--epochs, --train-limit)")
    elif train > 0.95:
        causes.append(f"the model memorises its {info['train_images']:,} training images: use more of them "
                      "(--train-limit) or augmentation (--augment flip)")
    else:
        causes.append(f"the learning rate (--lr {config['lr']}) may be too high for a run of {steps:,} steps")
    if info["test_images"] < SMALL_TEST:
        causes.append(f"only {info['test_images']:,} test images (--test-limit): a noisy figure")
    what = (f"test accuracy {test:.3f} is at chance ({len(info['classes'])} classes)" if at_chance else
            f"train accuracy {train:.3f} and test accuracy {test:.3f} are far apart")
    return f"{what}; likely causes: " + "; ".join(causes)
