"""Every name d2l's PyTorch edition uses up to its modern-CNN chapter exists in cnnlab.d2l, every name its code
reaches exists before any training starts, and each framework alias does what the book's config maps it to."""
import ast
import dis
import inspect
import types
from pathlib import Path

import pytest
import torch

from cnnlab import d2l

SEEDS = Path(__file__).parent / "seeds"

# The d2l names of the book's chapters 2-7 (d2l 2.0, PyTorch), written out here from the book's table of
# contents, independently of the module's own list.
CHAPTER_NAMES = {
    "2 preliminaries": ["use_svg_display", "set_figsize", "set_axes", "plot", "plt"],
    "3 linear networks": ["Timer", "synthetic_data", "linreg", "squared_loss", "sgd", "load_array",
                          "get_fashion_mnist_labels", "show_images", "get_dataloader_workers",
                          "load_data_fashion_mnist", "accuracy", "evaluate_accuracy", "Accumulator",
                          "train_epoch_ch3", "Animator", "train_ch3", "predict_ch3"],
    "4 multilayer perceptrons": ["evaluate_loss", "DATA_HUB", "DATA_URL", "download", "download_extract",
                                 "download_all"],
    "5 builders' guide": ["try_gpu", "try_all_gpus"],
    "6 convolutional networks": ["corr2d", "evaluate_accuracy_gpu", "train_ch6"],
    "7 modern convolutional networks": ["Residual", "resnet18"],
    "framework aliases": ["nn_Module", "ones", "zeros", "tensor", "arange", "meshgrid", "sin", "sinh", "cos", "cosh",
                          "tanh", "linspace", "exp", "log", "normal", "rand", "randn", "matmul", "int32", "float32",
                          "concat", "stack", "abs", "eye", "numpy", "size", "reshape", "to", "reduce_sum",
                          "reduce_mean", "argmax", "astype", "transpose"],
}


@pytest.mark.parametrize("chapter", CHAPTER_NAMES)
def test_every_name_of_the_chapter_exists(chapter):
    missing = [name for name in CHAPTER_NAMES[chapter] if not hasattr(d2l, name)]
    assert not missing, f"{chapter}: missing {missing}"


def test_the_module_lists_exactly_the_book_names():
    assert sorted(d2l.__all__) == sorted(name for names in CHAPTER_NAMES.values() for name in names)


def _functions(module_prefix: str):
    """Every function and method defined in the package's modules, with its nested code objects."""
    seen = set()
    for module in [m for name, m in list(vars(d2l).items()) if isinstance(m, types.ModuleType)] + [d2l]:
        if not module.__name__.startswith(module_prefix):
            continue
        for _, obj in inspect.getmembers(module):
            candidates = [obj] + ([v for v in vars(obj).values()] if inspect.isclass(obj) else [])
            for fn in candidates:
                fn = getattr(fn, "__func__", fn)
                if inspect.isfunction(fn) and fn.__module__.startswith(module_prefix) and fn not in seen:
                    seen.add(fn)
                    yield fn


def _code_objects(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _unresolved(fn) -> list[str]:
    """Global names the function's code loads that do not exist, and attributes it loads from a module held in a
    global (d2l.size, torch.cat, ...) that the module lacks: what would fail only when that line first runs."""
    problems = []
    builtins = vars(__builtins__) if isinstance(__builtins__, types.ModuleType) else __builtins__
    for code in _code_objects(fn.__code__):
        instructions = list(dis.get_instructions(code))
        for i, ins in enumerate(instructions):
            if ins.opname != "LOAD_GLOBAL":
                continue
            name = ins.argval
            if name not in fn.__globals__ and name not in builtins:
                problems.append(f"{fn.__qualname__}: global {name}")
                continue
            value = fn.__globals__.get(name)
            attr = instructions[i + 1] if i + 1 < len(instructions) else None
            if (isinstance(value, types.ModuleType) and attr is not None
                    and attr.opname in ("LOAD_ATTR", "LOAD_METHOD") and not hasattr(value, attr.argval)):
                problems.append(f"{fn.__qualname__}: {name}.{attr.argval}")
    return problems


def test_every_name_the_package_code_reaches_exists_before_anything_runs():
    functions = list(_functions("cnnlab.d2l"))
    names = {fn.__qualname__ for fn in functions}
    assert {"train_ch6", "evaluate_accuracy_gpu", "train_ch3", "Animator.add", "download"} <= names
    problems = [p for fn in functions for p in _unresolved(fn)]
    assert not problems


def test_the_name_walk_catches_a_missing_module_attribute():
    def broken(y):
        return d2l.no_such_name(y)

    def fine(y):
        return d2l.size(y)

    assert _unresolved(broken) == [
        "test_the_name_walk_catches_a_missing_module_attribute.<locals>.broken: d2l.no_such_name"]
    assert _unresolved(fine) == []


def test_every_d2l_name_in_the_course_notes_exists():
    used = set()
    for path in SEEDS.glob("seed*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "d2l":
                used.add(node.attr)
    assert {"train_ch6", "load_data_fashion_mnist", "Accumulator", "accuracy"} <= used
    assert sorted(name for name in used if not hasattr(d2l, name)) == []


def test_aliases_do_what_the_books_config_maps_them_to():
    x = torch.arange(6.0, requires_grad=True).reshape(2, 3)
    assert d2l.size(x) == 6 and isinstance(d2l.size(x), int)  # numel, not the shape
    assert d2l.reshape(x, (3, 2)).shape == (3, 2) and d2l.reshape(x, -1).shape == (6,)
    assert d2l.reduce_sum(x).item() == 15 and d2l.reduce_sum(x, axis=1).tolist() == [3, 12]
    assert d2l.reduce_mean(x).item() == 2.5
    assert d2l.argmax(x, axis=1).tolist() == [2, 2]
    assert d2l.astype(x > 2, d2l.float32).dtype == torch.float32 and d2l.astype(x, d2l.int32).dtype == torch.int32
    assert d2l.transpose(x).shape == (3, 2)
    assert d2l.numpy(x).tolist() == [[0, 1, 2], [3, 4, 5]]  # detached: works on a tensor that requires grad
    assert d2l.to(x, torch.float64).dtype == torch.float64
    assert d2l.concat((x, x), 1).shape == (2, 6) and d2l.stack([x, x]).shape == (2, 2, 3)
    assert d2l.tensor([[1.0, 2.0]]).dtype == torch.float32 and d2l.zeros((2, 3)).sum() == 0
    assert d2l.ones(4).sum() == 4 and d2l.eye(3).trace() == 3 and d2l.abs(d2l.tensor([-2.0])).item() == 2
    assert d2l.arange(12, dtype=d2l.float32).shape == (12,) and d2l.linspace(0, 1, 5)[-1] == 1
    assert d2l.normal(0, 1, (3, 4)).shape == (3, 4) and d2l.rand(2).shape == (2,) and d2l.randn(2, 2).shape == (2, 2)
    assert d2l.matmul(d2l.eye(2), d2l.ones((2, 1))).tolist() == [[1.0], [1.0]]
    for name, fn in (("sin", torch.sin), ("cos", torch.cos), ("tanh", torch.tanh), ("sinh", torch.sinh),
                     ("cosh", torch.cosh), ("exp", torch.exp), ("log", torch.log)):
        assert getattr(d2l, name) is fn
    assert d2l.meshgrid is torch.meshgrid and d2l.nn_Module is torch.nn.Module
