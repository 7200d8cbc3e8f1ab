"""`cnnlab datasets` and `cnnlab download`: what data is available, from where, and how to get it."""


def register(commands):
    p = commands.add_parser("datasets", help="list data sets: available or not, from where, sizes")
    p.add_argument("--data-dir", help="directory with the IDX files (default: $CNNLAB_DATA, cache, system)")
    p.set_defaults(func=run_datasets)

    p = commands.add_parser("download", help="download a data set into the user cache (MD5-checked)")
    p.add_argument("name", help="mnist or fashion-mnist")
    p.add_argument("--dest", help="target directory (default: ~/.cache/cnnlab/NAME)")
    p.set_defaults(func=run_download)


def run_datasets(args):
    from ..data import SPECS, locate

    print(f"{'name':<15} {'train':>7} {'test':>7} {'classes':>7}  {'mean/std':<13} source")
    for name, spec in SPECS.items():
        if name == "synthetic":
            where = "generated on the fly"
        else:
            directory = locate(name, args.data_dir)
            where = str(directory) if directory else "not available (cnnlab download %s)" % name
        print(f"{name:<15} {spec.sizes[0]:>7,} {spec.sizes[1]:>7,} {len(spec.classes):>7}  "
              f"{spec.mean:.4f}/{spec.std:.4f} {where}")


def run_download(args):
    from ..data import fetch

    print(f"saved to {fetch(args.name, args.dest)}")
