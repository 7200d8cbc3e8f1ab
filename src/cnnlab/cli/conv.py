"""`cnnlab conv ...`: the convolution lessons (cnnlab.lessons), output sizes and receptive fields. A thin layer:
parse, call, print; the content lives in cnnlab.lessons and cnnlab.ops."""
import argparse

from ..errors import ConfigError
from ..lessons import LESSONS


def register(commands):
    conv = commands.add_parser(
        "conv", help="convolution from scratch: d2l 6.2-6.5's examples, output sizes, receptive fields, filters",
        description="Convolution from scratch (cnnlab.ops): run the worked examples and exercises of d2l sections "
                    "6.2-6.5, compute output sizes and receptive fields, show hand-designed filters.",
        epilog="Run 'cnnlab conv SUBCOMMAND --help' for details.")
    sub = conv.add_subparsers(dest="experiment", metavar="SUBCOMMAND", required=True)
    for lesson in LESSONS:
        p = sub.add_parser(lesson.name, help=lesson.summary, description=lesson.description,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if lesson.has_picture:
            p.add_argument("--plot", metavar="FILE", help="also save the lesson's images as a PNG")
        if lesson.name == "learn":
            p.add_argument("--steps", type=int, default=10, help="gradient steps (default: 10, as in d2l)")
            p.add_argument("--lr", type=float, default=3e-2, help="learning rate (default: 3e-2, as in d2l)")
            p.add_argument("--seed", type=int, default=0, help="seed of the random initial kernel (default: 0)")
        p.set_defaults(func=run_lesson, lesson=lesson)

    p = sub.add_parser("size", help="output size of a convolution or pooling: floor((n - k + 2p) / s) + 1",
                       description="Output size along one axis for input size N, kernel K, padding P and stride S: "
                                   "floor((N - K + 2P) / S) + 1. Use --padding same for P = (K - 1) / 2 (odd K).")
    p.add_argument("n", type=int, help="input size along the axis (e.g. 28)")
    p.add_argument("k", type=int, help="kernel (window) size along the axis (e.g. 5)")
    p.add_argument("--padding", default="0", help="zero padding on each side, or 'same' (default: 0)")
    p.add_argument("--stride", type=int, default=1, help="stride (default: 1)")
    p.set_defaults(func=run_size)

    p = sub.add_parser("receptive-field", help="receptive field after each conv/pool layer of a model or a stack",
                       description="How large a patch of the input one element sees after each convolution or pooling "
                                   "layer: r += (k - 1) * jump; jump *= stride. Give a registered MODEL (see "
                                   "'cnnlab models') or a stack with --layers.",
                       epilog="examples: cnnlab conv receptive-field lenet; "
                              "cnnlab conv receptive-field --layers 3 3 2:2 3")
    p.add_argument("model", nargs="?", help="registered model name, e.g. lenet")
    p.add_argument("--layers", nargs="+", metavar="K[:S]",
                   help="a stack of layers instead of a model: kernel K (int or HxW) and optional stride S, e.g. 5 2:2")
    p.set_defaults(func=run_receptive_field)


def run_lesson(args):
    options = {"steps": args.steps, "lr": args.lr, "seed": args.seed} if args.lesson.name == "learn" else {}
    shown = args.lesson.run(**options)
    for step in shown.steps:
        if isinstance(step, str):
            print(step)
        else:
            label, tensor = step
            print(f"{label} =")
            print(tensor)
    if getattr(args, "plot", None):
        from ..plots import plot_panels

        print(f"saved {plot_panels(shown.panels, args.plot, shown.title)}")


def run_size(args):
    from .. import ops

    if args.padding == "same":
        p = ops.same_padding(args.k)
    elif args.padding.isdigit():
        p = int(args.padding)
    else:
        raise ConfigError(f"--padding must be a non-negative integer or 'same', not {args.padding!r}")
    out = ops.conv_output_size(args.n, args.k, p, args.stride)
    print(f"output size = floor((n - k + 2p) / s) + 1 = floor(({args.n} - {args.k} + 2*{p}) / {args.stride}) + 1 = "
          f"{out}")


def _parse_layer(token: str):
    def pair(text):
        parts = text.lower().split("x")
        if len(parts) not in (1, 2) or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise ConfigError(f"--layers: bad layer {token!r}: use K or K:S with positive integers (K may be HxW)")
        values = [int(p) for p in parts]
        return (values[0], values[-1])

    kernel, _, stride = token.partition(":")
    return pair(kernel), pair(stride or "1")


def run_receptive_field(args):
    from .. import ops

    if (args.model is None) == (args.layers is None):
        raise ConfigError("give either a MODEL name or --layers K[:S] ..., not both or neither")
    if args.model:
        from ..models import create_model

        source = create_model(args.model)
        what = args.model
    else:
        source = [_parse_layer(t) for t in args.layers]
        what = "the stack"
    rows = ops.receptive_fields(source)
    if not rows:
        raise ConfigError(f"model '{args.model}' has no convolution or pooling layers")
    hw = lambda pair: f"{pair[0]}x{pair[1]}"  # noqa: E731
    print(f"{'layer':<28} {'type':<12} {'kernel':>7} {'stride':>7} {'jump':>7} {'receptive field':>16}")
    for r in rows:
        print(f"{r['name']:<28} {r['kind']:<12} {hw(r['kernel']):>7} {hw(r['stride']):>7} {hw(r['jump']):>7} "
              f"{hw(r['size']):>16}")
    print(f"{what}: one element after the last layer sees a {hw(rows[-1]['size'])} patch of the input")
    if args.model and not ops.is_plain_stack(source):
        print(f"note: {args.model} is not a plain nn.Sequential stack; layers on parallel branches (Inception, "
              f"shortcuts) are counted as if stacked, so the figure is an upper bound")

