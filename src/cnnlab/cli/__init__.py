"""Command line: `cnnlab COMMAND ...`. Each group of commands lives in its own module of this package,
which defines `register(subparsers)`; heavy imports (torch, matplotlib) happen inside the handlers."""
import argparse
import re
import sys
from importlib import import_module

from ..errors import CnnlabError, closest, unknown_option
from ..version import __version__

# One module per group of commands; each adds its subcommands with set_defaults(func=handler).
COMMAND_MODULES = ["data", "models", "train", "views", "conv", "tools", "explore"]

# Names other commands (or other tools) give the idea a command calls by another flag: how many test images.
SYNONYMS = {"--n": "--limit", "--num": "--limit", "--count": "--limit", "--test-limit": "--limit",
            "--samples": "--limit", "--limit": "--test-limit"}


class Parser(argparse.ArgumentParser):
    """argparse with cnnlab's rule for bad input: one line on stderr and exit status 2, as every cnnlab error. A
    wrong flag is named by the command it was given to, with the closest option of that command (or the one it
    calls the same idea by); the line ends pointing at that command's --help instead of printing its usage."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and not any(isinstance(a, argparse._SubParsersAction) for a in self._actions):
            options = [s for a in self._actions for s in a.option_strings if s.startswith("--")]
            flags = [e for e in extras if e.startswith("-")]
            if flags:
                synonyms = {k: v for k, v in SYNONYMS.items() if v in options}
                self.error(unknown_option(flags[0], options, synonyms))
            self.error(f"unexpected argument(s): {' '.join(extras)}")
        return namespace, extras

    def error(self, message):
        """argparse's 'invalid choice' (a command, --optimizer ...) gets the closest choice too."""
        wrong = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if wrong:
            close = closest(wrong.group(1), re.findall(r"'([^']*)'", wrong.group(2)), n=2, cutoff=0.6)
            if close:
                message = f"{message}: did you mean {' or '.join(close)}?"
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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


def _rank_zero() -> bool:
    from ..distributed import this_process

    return this_process().main


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
        message = error.for_command(args.command) if hasattr(error, "for_command") else error
        # under torchrun, an error all ranks share: rank 0's
        if not getattr(error, "every_rank", False) or _rank_zero():
            print(f"cnnlab: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        sys.stderr.close()
        return 0
