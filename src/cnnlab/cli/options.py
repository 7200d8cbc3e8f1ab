"""The options several commands share, each declared once, with help that holds for every kind of data set (the
IDX sets, CIFAR-10, image folders) and every kind of network (a zoo model, your own file.py:Class). --dataset's
and --data-dir's help are TrainConfig's, which `cnnlab train` derives its flags from."""

from ..config import DATA_DIR_HELP

RUN_DATA_DIR = "; for a run: where it was trained from"
INVERT_HELP = ("invert image files: auto inverts when the border is light (a dark drawing on paper), because the "
               "grey training images are light on dark (default: auto)")
MODEL_HELP = ("your own network as an import reference, package.module:callable or path/to/file.py:callable "
              "(a class or function returning an nn.Module, called without arguments)")
RUN_MODEL_HELP = MODEL_HELP + ": needed for a run of your own network, whose reference cnnlab never imports by itself"


def add_data_dir(p, run: bool = False) -> None:
    """--data-dir; `run`: the command reads a trained run, which remembers where its data came from."""
    p.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP + (RUN_DATA_DIR if run else ""))


def add_invert(p) -> None:
    p.add_argument("--invert", choices=["auto", "yes", "no"], default="auto", help=INVERT_HELP)


def add_limit(p, default: int | None, help: str) -> None:
    """--limit N: how many of the first test images a command uses (each command says its default in `help`)."""
    p.add_argument("--limit", type=int, default=default, metavar="N", help=help)


def add_model_ref(p, help: str = RUN_MODEL_HELP, **kwargs) -> None:
    """--model REF, your own network's import reference."""
    p.add_argument("--model", metavar=kwargs.pop("metavar", "REF"), help=help, **kwargs)


def given(args, names) -> dict:
    """The options among `names` that the command line gave (argparse leaves the others None)."""
    return {k: v for k, v in vars(args).items() if k in names and v is not None}
