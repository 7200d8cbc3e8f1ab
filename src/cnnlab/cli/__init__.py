"""Command line: `cnnlab COMMAND ...`. Each group of commands lives in its own module of this package,
which defines `register(subparsers)`; heavy imports (torch, matplotlib) happen inside the handlers."""
import argparse
import os
import sys
from importlib import import_module

from ..version import __version__
from ..errors import CnnlabError

# One module per group of commands; each adds its subcommands with set_defaults(func=handler).
COMMAND_MODULES = ["data", "models", "train", "views", "conv", "explore"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnnlab",
        description="Learn, build, train, inspect and compare convolutional neural networks.",
        epilog="Run 'cnnlab COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"cnnlab {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full Python traceback on errors (any position)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        import_module(f"{__name__}.{name}").register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except CnnlabError as error:
        if debug:
            raise
        if not getattr(error, "every_rank", False) or os.environ.get("RANK", "0") == "0":
            print(f"cnnlab: error: {error}", file=sys.stderr)  # under torchrun, an error all ranks share: rank 0's
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        sys.stderr.close()
        return 0
