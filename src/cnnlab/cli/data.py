"""`cnnlab datasets` and `cnnlab download`: what data is available, from where, and how to get it."""
from .options import add_data_dir


def register(commands):
    p = commands.add_parser("datasets", help="list data sets: available or not, from where, sizes",
                            description="List the named data sets with their sizes and where each is found. Any "
                                        "folder of class sub-folders of images is a data set too: --dataset "
                                        "folder:PATH.")
    add_data_dir(p)
    p.set_defaults(func=run_datasets)

    p = commands.add_parser("download", help="download a data set into the user cache (MD5-checked)")
    p.add_argument("name", help="mnist, fashion-mnist, kmnist, emnist-SPLIT (byclass, bymerge, balanced, letters, "
                                "digits, mnist: one download for all) or cifar10")
    p.add_argument("--dest", help="target directory (default: ~/.cache/cnnlab/NAME)")
    p.set_defaults(func=run_download)


def _stats(spec) -> str:
    if spec.mean is None:
        return "from the data"
    return f"{spec.mean:.4f}/{spec.std:.4f}"


def run_datasets(args):
    from ..data import SPECS, locate

    print(f"{'name':<16} {'train':>7} {'test':>7} {'classes':>7}  {'mean/std':<13} source")
    for name, spec in SPECS.items():
        if spec.kind == "synthetic":
            where = "generated on the fly"
        elif spec.kind == "digits":
            where = "shipped with scikit-learn"
        else:
            directory = locate(name, args.data_dir)
            where = str(directory) if directory else "not available (cnnlab download %s)" % name
        print(f"{name:<16} {spec.sizes[0]:>7,} {spec.sizes[1]:>7,} {len(spec.classes):>7}  {_stats(spec):<13} {where}")
    print(f"{'folder:PATH':<16} {'':>7} {'':>7} {'':>7}  {'from the data':<13} your images: "
          "PATH/CLASS/*.png|jpg|bmp|webp, "
          "or PATH/train/CLASS/ and PATH/test/CLASS/")


def run_download(args):
    from ..data import fetch

    print(f"saved to {fetch(args.name, args.dest)}")
