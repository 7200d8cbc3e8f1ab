"""`cnnlab models`: the registered networks."""


def register(commands):
    p = commands.add_parser("models", help="list registered networks with parameter counts and input sizes")
    p.add_argument("pattern", nargs="?", default="*", help="glob pattern, e.g. 'resnet*'")
    p.set_defaults(func=run_models)


def run_models(args):
    from ..models import create_model, list_models, model_info

    names = list_models(args.pattern)
    print(f"{'name':<16} {'params':>12} {'input':>6}  {'source':<10} description")
    for name in names:
        info = model_info(name)
        params = sum(p.numel() for p in create_model(name).parameters())
        print(f"{name:<16} {params:>12,} {info.input_size:>6}  {info.source:<10} {info.description}")
