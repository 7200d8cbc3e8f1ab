"""What to say when a run is not learning: one line of likely causes after an epoch whose test accuracy sits at
chance, or whose train and test accuracy are far apart. Plain data in, a sentence out (the reporter prints it)."""
import math

NOISE_SE = 2  # accuracy within 2 standard errors of chance (binomial, on the test images) may be chance alone
CHANCE_FLOOR = 0.05  # and within 5 points of it counts as chance on any test set (0.15 for 10 classes)
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


def chance_margin(chance: float, test_images: int) -> float:
    """How far above `chance` a test accuracy on `test_images` images may lie by luck alone: NOISE_SE binomial
    standard errors, at least CHANCE_FLOOR."""
    return max(NOISE_SE * math.sqrt(chance * (1 - chance) / max(test_images, 1)), CHANCE_FLOOR)


def _why_few(config: dict) -> str:
    """What made the test set small: the user's --test-limit, the held-out split of a folder, or the data set."""
    if config.get("test_limit"):
        return f" (--test-limit {config['test_limit']:,})"
    if str(config.get("dataset", "")).startswith("folder:"):
        from .data import DEFAULT_TEST_SPLIT

        split = config.get("test_split") or DEFAULT_TEST_SPLIT
        return (f" (the {split:.0%} of each class held out of a small folder: more images per class, or a larger "
                "--test-split)")
    return ""


def likely_causes(info: dict, row: dict) -> str | None:
    """One line naming the likely causes when epoch `row` (a metrics.csv row) looks wrong; None when it looks
    fine (and for an epoch without a test pass). `info` is what config.json records (settings, classes, image
    counts)."""
    if row["test_acc"] is None:
        return None
    config = info["config"]
    chance = 1 / len(info["classes"])
    train, test = row["train_acc"], row["test_acc"]
    margin = chance_margin(chance, info["test_images"])
    at_chance = test < chance + margin
    gap = train - test
    if not at_chance and gap < WIDE_GAP:
        return None
    family = _family(config["model"])
    steps = row["epoch"] * math.ceil(info["train_images"] / config["batch_size"])
    causes = []
    if at_chance and train < chance + CHANCE_FLOOR:  # nothing learned, not even on the training images
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
        causes.append(f"only {info['test_images']:,} test images{_why_few(config)}: a noisy figure "
                      f"(±{margin:.3f} around chance)")
    where = "at chance" if test <= chance + CHANCE_FLOOR else "not clearly above chance"
    what = (f"test accuracy {test:.3f} is {where} ({chance:.3f} for {len(info['classes'])} classes, "
            f"±{margin:.3f} on {info['test_images']:,} test images)" if at_chance else
            f"train accuracy {train:.3f} and test accuracy {test:.3f} are far apart")
    return f"{what}; likely causes: " + "; ".join(causes)
