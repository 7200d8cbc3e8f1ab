"""`cnnlab explore` (a local web page showing what a CNN sees) and `cnnlab explain` (Grad-CAM and saliency PNG)."""
import argparse

from .options import add_data_dir, add_invert
from .views import add_checkpoint


def intermixed(parser):
    """Runs and options in any order on this command (`cnnlab explore RUN --model REF RUN2`): argparse's intermixed
    parsing, with the command line's rule for a wrong option kept for whatever is left over."""
    base = type(parser)

    class Intermixed(base):
        _inner = False

        def parse_known_args(self, args=None, namespace=None):
            if self._inner:  # the two passes of parse_known_intermixed_args: leftovers are expected there
                return argparse.ArgumentParser.parse_known_args(self, args, namespace)
            self._inner = True
            try:
                namespace, extras = self.parse_known_intermixed_args(args, namespace)
            finally:
                self._inner = False
            if extras:
                base.parse_known_args(self, extras)  # names the unknown option, with a suggestion
            return namespace, extras

    parser.__class__ = Intermixed
    return parser


def register(commands):
    p = commands.add_parser("explore", help="a local web page: every layer's maps, kernel math, Grad-CAM, live runs",
                            description="Serve a page on this machine showing what a network sees: draw, pick a "
                                        "test image or upload one; every layer's activation maps; the multiply-add "
                                        "of any conv unit; Grad-CAM and saliency; two networks side by side; a run "
                                        "in progress epoch by epoch; a padding/stride playground. Nothing is "
                                        "fetched from the internet. Ctrl-C stops it.")
    p.add_argument("refs", nargs="*", metavar="RUN_DIR|CHECKPOINT|MODEL",
                   help="run directories (their best.pt and last.pt), .pt checkpoints, registered model names "
                        "(untrained) or FILE.py:NAME (NAME() returns your nn.Module); default: every run under "
                        "--runs")
    intermixed(p)
    p.add_argument("--model", action="append", default=[], metavar="REF",
                   help="your own network, FILE.py:NAME or package.module:NAME (repeatable): the runs trained with "
                        "it (same reference, or same NAME, or the only --model given) are shown trained with it; "
                        "one no run was trained with is shown untrained")
    p.add_argument("--runs", default="runs", metavar="DIR", help="where to look for runs without REF (default: runs)")
    p.add_argument("--input-size", type=int, default=28, metavar="S",
                   help="input side for FILE.py:NAME models (default: 28)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only; ::1 the same over IPv6; "
                        "0.0.0.0 every network interface, and then every request needs the token)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    p.add_argument("--token", metavar="TOKEN",
                   help="the token every request must carry, as ?token=TOKEN in the address, then a cookie "
                        "(default: a random one when --host reaches beyond this machine, none on loopback)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="CPU threads for the page's computations (default: 1; one image at a time gains little "
                        "from more, and on a busy machine they slow it down many times: see docs/explore.md)")
    p.set_defaults(func=run_explore)

    p = commands.add_parser("explain", help="Grad-CAM and saliency maps of one image, as a PNG",
                            description="Why did the network choose its class? Draw the input, Grad-CAM (where "
                                        "the evidence for the class lies, at the last layer with a spatial map by "
                                        "default) and gradient saliency (which pixels move the class score most), "
                                        "alone and over the input.")
    add_checkpoint(p)
    p.add_argument("image", nargs="?", help="an image file (PNG, JPEG, ...); default: a test image (--index)")
    p.add_argument("--index", type=int, default=0, help="without IMAGE: which test image (default: 0)")
    p.add_argument("--target", help="class to explain, by name or number (default: the predicted one)")
    p.add_argument("--layer", help="module for Grad-CAM, e.g. 'net.3' (default: the last layer with a spatial map)")
    add_invert(p)
    add_data_dir(p, run=True)
    p.add_argument("--out", metavar="FILE", help="PNG to write (default: beside the checkpoint, explain.png)")
    p.set_defaults(func=run_explain)


def run_explore(args):
    from ..errors import ConfigError
    from ..explore import find_sources, serve

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be in 0-65535, got {args.port}")
    if args.input_size < 1:
        raise ConfigError(f"--input-size must be positive, got {args.input_size}")
    if args.threads < 1:
        raise ConfigError(f"--threads must be positive, got {args.threads}")
    if args.token is not None:
        from ..explore.access import check_token

        check_token(args.token)  # before any network is loaded
    import torch

    torch.set_num_threads(args.threads)  # this process is the server: its threads are ours to set
    sources = find_sources(args.refs, args.runs, args.input_size, models=args.model)
    for source in sources:
        print(f"  [{source.id}] {source.label}" + (f" (with --model {source.model})"
                                                   if source.kind == "checkpoint" and source.model else ""))
    serve(sources, args.host, args.port, args.token)


def run_explain(args):
    from ..explain import explain

    figure = explain(args.checkpoint, args.image, args.index, args.target, args.layer, args.out, args.invert,
                     args.data_dir, which="last" if args.last else "best", model=args.model)
    cam = figure.cam
    print(f"input: {figure.source}")
    print(f"class '{figure.classes[cam.target]}' ({cam.probability:.1%}); Grad-CAM at layer '{cam.layer}'")
    print(f"wrote {figure}")
