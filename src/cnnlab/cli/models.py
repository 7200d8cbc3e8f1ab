"""`cnnlab models` (the registered networks) and `cnnlab summary` (one network layer by layer)."""


def register(commands):
    p = commands.add_parser("models", help="list registered networks with parameter counts and input sizes")
    p.add_argument("pattern", nargs="?", default="*", help="glob pattern, e.g. 'resnet*'")
    p.set_defaults(func=run_models)

    p = commands.add_parser("summary", help="a network's layers: output shapes, parameters, multiply-adds")
    p.add_argument("model", help="a registered name (see 'cnnlab models'), or your own network as an import "
                   "reference, package.module:callable or path/to/file.py:callable")
    p.add_argument("--input-size", nargs=3, type=int, metavar=("C", "H", "W"),
                   help="input channels, height, width (default: 1 channel at the model's input size)")
    p.add_argument("--classes", type=int, default=10, help="number of classes (default: 10)")
    p.add_argument("--depth", type=int, default=None, metavar="N",
                   help="show layers nested at most N deep (default: all)")
    p.add_argument("--graph", metavar="FILE",
                   help="also write the data-flow diagram: FILE.dot, or .svg/.png/.pdf rendered by Graphviz 'dot'")
    p.set_defaults(func=run_summary)


def _meta_model(name, **kwargs):
    """Build the model on PyTorch's 'meta' device: shapes and counts without allocating or computing weights,
    so VGG-11 (129 M parameters) is listed in a blink."""
    import torch

    from ..models import create_model

    with torch.device("meta"):
        return create_model(name, **kwargs)


def run_models(args):
    from ..config import as_flags
    from ..errors import unknown_name
    from ..families import FAMILIES
    from ..inspect import count_params
    from ..models import list_models, model_info

    names = list_models(args.pattern)
    if not names:
        raise unknown_name("model", args.pattern, list_models())
    infos = [model_info(n) for n in names]
    width = max(len(i.description) for i in infos)
    print(f"{'name':<16} {'description':<{width}} {'params':>12} {'input':>7}  {'family':<10} source")
    for info in infos:
        size = str(info.input_size) if info.min_size is None else f"{info.input_size}*"
        print(f"{info.name:<16} {info.description:<{width}} {count_params(_meta_model(info.name)):>12,} {size:>7}  "
              f"{info.family or '-':<10} {info.source}")
    print("params: 1 input channel, 10 classes.  input: the side images are resized to;"
          " * = ends in global pooling, accepts other sizes (see 'cnnlab summary').\n"
          "family: the settings 'cnnlab train MODEL' uses without --recipe:")
    for name, family in FAMILIES.items():
        print(f"  {name:<10} {as_flags(family.settings)}")


def run_summary(args):
    import shutil
    import subprocess
    from pathlib import Path

    from ..errors import ConfigError
    from ..inspect import summary, to_dot
    from ..models import model_info
    from ..network import import_reference, instantiate, is_reference

    if is_reference(args.model):  # the user named it here: import it
        channels, height, width = args.input_size or (1, 28, 28)
        model = instantiate(import_reference(args.model), args.classes, args.model, channels)
        print(f"{args.model}: your own network")
        summary(model, (channels, height, width), depth=args.depth)
    else:
        info = model_info(args.model)
        channels, height, width = args.input_size or (1, info.input_size, info.input_size)
        if height != width:
            raise ConfigError(f"--input-size {channels} {height} {width}: cnnlab's networks take square images")
        info.check_size(height)
        model = _meta_model(args.model, num_classes=args.classes, in_channels=channels)
        print(f"{args.model}: {info.description}  [{info.source}]")
        summary(model, (channels, height, width), depth=args.depth)
        if info.min_size is not None:
            print(f"Accepts inputs from {info.min_size}x{info.min_size} (global pooling); trained at "
                  f"{info.input_size}x{info.input_size}.")
    if args.graph:
        path = Path(args.graph)
        if path.suffix not in (".dot", ".svg", ".png", ".pdf"):
            raise ConfigError(f"--graph {path}: name a .dot, .svg, .png or .pdf file")
        dot_path = path.with_suffix(".dot")
        try:
            dot_path.write_text(to_dot(model, (channels, height, width)))
        except OSError as error:
            raise ConfigError(f"cannot write {dot_path} ({error}); choose another --graph") from None
        if path.suffix == ".dot":
            print(f"wrote {dot_path}")
        elif shutil.which("dot") is None:
            print(f"wrote {dot_path}; Graphviz 'dot' is not installed, so no {path.suffix} (render with: dot "
                  f"-T{path.suffix[1:]} {dot_path} -o {path})")
        else:
            rendered = subprocess.run(["dot", f"-T{path.suffix[1:]}", str(dot_path), "-o", str(path)],
                                      capture_output=True, text=True)
            if rendered.returncode != 0:
                raise ConfigError(f"wrote {dot_path}, but 'dot' failed to render {path}: {rendered.stderr.strip()}")
            print(f"wrote {dot_path} and {path}")
