"""The user's own networks: import references (`package.module:callable`, `path/to/file.py:callable`), imported
in one function and only when the user names one; building a module from an instance, class or factory; and the
probe that runs one small batch through it before a run starts, to turn off speed switches the module's code
does not survive (channels_last, autocast) and to name the layer that rejects the input.

Security: nothing here is ever called with a name read from a checkpoint, run directory or config file. A run
records its reference for display; rebuilding it needs the user to pass `--model REF` (or `model=`) again."""
import copy
import importlib
import importlib.util
import inspect
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .errors import CheckpointError, ConfigError, first_line


# ---------------------------------------------------------------- references
def is_reference(name: str) -> bool:
    """An import reference has a ':' (registered names never do)."""
    return isinstance(name, str) and ":" in name


def import_reference(reference: str):
    """The object `reference` names: `package.module:attr` (imported like `import package.module`) or
    `path/to/file.py:attr` (the file executed as a module). The one place cnnlab imports user code; any problem
    raises ConfigError naming the reference."""
    where, _, attr = reference.rpartition(":")
    if not where or not attr:
        raise ConfigError(f"--model {reference}: give MODULE:CALLABLE or FILE.py:CALLABLE")
    if where.endswith(".py") or "/" in where or "\\" in where:
        path = Path(where)
        if not path.is_file():
            raise ConfigError(f"--model {reference}: no such file {path}")
        name = f"cnnlab_user_{path.stem}_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look modules up by name while they run
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            sys.modules.pop(name, None)
            raise ConfigError(f"--model {reference}: importing {path} failed: "
                              f"{type(error).__name__}: {error}") from None
    else:
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as error:
            raise ConfigError(f"--model {reference}: no module named '{error.name}' (a file? write "
                              f"path/to/file.py:{attr})") from None
        except Exception as error:
            raise ConfigError(f"--model {reference}: importing {where} failed: "
                              f"{type(error).__name__}: {error}") from None
    try:
        target = module
        for part in attr.split("."):
            target = getattr(target, part)
    except AttributeError:
        names = sorted(n for n, v in vars(module).items() if not n.startswith("_") and callable(v))
        raise ConfigError(f"--model {reference}: {where} has no '{attr}' (it defines: "
                          f"{', '.join(names) or 'nothing callable'})") from None
    return target


def reference_of(obj) -> str | None:
    """`package.module:Name` for a class or function importable by its module's name, else None (defined in a
    script, a notebook or a file imported by path)."""
    module, name = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not name or "<" in name or module == "__main__" or module.startswith("cnnlab_user_"):
        return None
    return f"{module}:{name}"


# ---------------------------------------------------------------- building
def instantiate(factory, num_classes: int, what: str, in_channels: int = 1) -> nn.Module:
    """Call a class or factory with no arguments (or num_classes= and in_channels=, the data's, where it takes
    them)."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        parameters = {}
    kwargs = {k: v for k, v in (("num_classes", num_classes), ("in_channels", in_channels)) if k in parameters}
    try:
        module = factory(**kwargs)
    except TypeError as error:
        raise ConfigError(f"{what}: cannot call it without arguments ({error}); give a class or function that "
                          "takes none (or only num_classes / in_channels)") from None
    if not isinstance(module, nn.Module):
        raise ConfigError(f"{what}: returned a {type(module).__name__}, not a torch.nn.Module")
    return module


@dataclass
class UserNetwork:
    """The user's network for the trainer: an nn.Module instance (trained in place), or a class or zero-argument
    factory called once per build. `label` names it in config.json, titles and legends; `reference`, when
    known, is what `--model` rebuilds it from."""

    source: object
    label: str
    reference: str | None = None

    @classmethod
    def of(cls, model, reference: str | None = None) -> "UserNetwork":
        if isinstance(model, UserNetwork):
            return model
        if isinstance(model, nn.Module):  # labelled by its class, as a user would call it
            return cls(model, reference or type(model).__name__, reference or reference_of(type(model)))
        if callable(model):
            return cls(model, reference or getattr(model, "__name__", type(model).__name__),
                       reference or reference_of(model))
        raise ConfigError(f"model must be a registered name, an import reference, an nn.Module or a function "
                          f"returning one, not a {type(model).__name__}")

    def build(self, num_classes: int, in_channels: int = 1) -> nn.Module:
        if isinstance(self.source, nn.Module):
            return self.source
        return instantiate(self.source, num_classes, self.label, in_channels)

    def record(self) -> dict:
        """What a run stores about it (payload and config.json "network"): never imported from."""
        return {"kind": "reference" if self.reference else "module", "label": self.label,
                "reference": self.reference}


def stored_network(payload_or_info: dict) -> dict:
    """The "network" record of a checkpoint payload or config.json; registered when absent (older runs)."""
    record = payload_or_info.get("network")
    known = isinstance(record, dict) and record.get("kind") in ("reference", "module")
    return record if known else {"kind": "registered"}


class NeedsModelError(CheckpointError):
    """A run of the user's own network read without the network: says what to pass. The command line words it
    for the command that was run (`for_command`)."""

    def __init__(self, path, record: dict, command: str = "eval"):
        self.path, self.record = path, record
        super().__init__(self.for_command(command))

    def for_command(self, command: str) -> str:
        reference, label = self.record.get("reference"), self.record.get("label", "?")
        run = f"train --resume {self.path}" if command == "train" else f"{command} {self.path}"
        if reference:
            return (f"{self.path} was trained with your network {reference}; cnnlab never imports code a run names: "
                    f"pass it yourself, cnnlab {run} --model {reference} (from Python: "
                    f"model={reference.rsplit(':', 1)[-1]})")
        return (f"{self.path} was trained with your own network '{label}' (defined in a script or notebook); pass "
                f"it: model={label} from Python, or cnnlab {run} --model FILE.py:{label.rsplit('.', 1)[-1]}")


def resolve_model(model, num_classes: int, in_channels: int = 1) -> nn.Module:
    """A fresh module for loading a checkpoint into: from an instance (copied, so the caller's stays as it is),
    a class or factory, or an import reference the user gave."""
    if isinstance(model, str):
        if not is_reference(model):
            raise ConfigError(f"model '{model}': give an import reference MODULE:CALLABLE or FILE.py:CALLABLE")
        model = import_reference(model)
    if isinstance(model, nn.Module):
        return copy.deepcopy(model)
    return UserNetwork.of(model).build(num_classes, in_channels)


# ---------------------------------------------------------------- the probe
def first_tensor(output):
    """The logits of a forward's result: itself, or the first tensor of a tuple/list (Morvan's tutorial returns
    (logits, features))."""
    if isinstance(output, (tuple, list)):
        return next((t for t in output if isinstance(t, torch.Tensor)), None)
    return output


def _shapes(args) -> str:
    shapes = [list(a.shape) for a in args if isinstance(a, torch.Tensor)]
    return ", ".join(map(str, shapes)) or "no tensor"


def locate_failure(net: nn.Module, x: torch.Tensor, label: str) -> ConfigError | None:
    """Run `net` on `x` (no gradients) with hooks on every module; if it fails, a ConfigError naming the
    innermost layer that raised and the shapes it got (or, for a failure between layers, the last layer that
    finished and its output shape); None if it runs."""
    names = {m: name for name, m in net.named_modules() if name}
    stack, done = [], []

    def before(module, args):
        stack.append((module, args))

    def after(module, args, output):
        stack.pop()
        out = first_tensor(output)
        done.append((module, list(out.shape) if isinstance(out, torch.Tensor) else None))

    hooks = [h for m in names for h in (m.register_forward_pre_hook(before), m.register_forward_hook(after))]
    modes = [(m, m.training) for m in net.modules()]
    try:
        net.eval()
        with torch.no_grad():
            net(x)
        return None
    except Exception as error:  # the user's forward may raise anything; we only describe it
        reason = first_line(error)
        given = f"{label} rejects input {list(x.shape)}"
        if stack:
            module, args = stack[-1]
            return ConfigError(f"{given}: layer '{names[module]}' ({module}) got {_shapes(args)}: {reason}")
        if done:
            module, shape = done[-1]
            return ConfigError(f"{given}: in its forward after layer '{names[module]}' (output {shape}): {reason}")
        return ConfigError(f"{given}: {reason}")
    finally:
        for h in hooks:
            h.remove()
        for module, training in modes:
            module.train(training)


def _step(net, x, dtype, channels_last: bool) -> Exception | None:
    """One forward and backward of `x` as training would run it; the exception, or None."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    try:
        net.to(memory_format=fmt)
        with torch.autocast(x.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = first_tensor(net(x.contiguous(memory_format=fmt)))
            if not isinstance(out, torch.Tensor):
                raise ConfigError("its forward returned no tensor")
            loss = out.float().sum()
        loss.backward()
        return None
    except Exception as error:
        return error


@contextmanager
def left_as_it_was(net: nn.Module, x: torch.Tensor):
    """Inside, `net` may take trial steps in training mode on the batch `x`: afterwards its weights, batch-norm
    statistics, mode, memory format and gradients, and the random streams, are as they were."""
    state = copy.deepcopy(net.state_dict())  # a training-mode forward moves BatchNorm statistics
    devices = [x.device.index or 0] if x.device.type == "cuda" else []  # the CPU generator is always forked
    was_training = net.training
    try:
        with torch.random.fork_rng(devices=devices):
            net.train()
            yield
    finally:
        net.train(was_training)
        net.load_state_dict(state)
        for p in net.parameters():
            p.grad = None
        net.to(memory_format=torch.contiguous_format)


def trains_channels_last(net: nn.Module, x: torch.Tensor) -> bool:
    """Whether a training step of `net` runs with the network and the batch `x` in the channels-last memory format
    (a forward that calls .view() on a conv's output does not); `net` is left as it was."""
    with left_as_it_was(net, x):
        return _step(net, x, None, True) is None


@dataclass
class ProbeResult:
    channels_last: bool
    dtype: object  # the autocast dtype to train with (None: float32)
    notices: list


def probe(net: nn.Module, x: torch.Tensor, num_classes: int, label: str, dtype, channels_last: bool) -> ProbeResult:
    """Try one training step of the batch `x` (N, C, H, W) with the run's speed switches, turning off those the
    module does not survive, each with a one-line notice. The module, the RNG and every gradient are left as
    they were. ConfigError when the module cannot train on this input at all (naming the layer), or when its
    output does not have one score per class."""
    devices = [x.device.index or 0] if x.device.type == "cuda" else []  # the CPU generator is always forked
    tries = [(channels_last, dtype)]
    if channels_last:
        tries.append((False, dtype))
    if dtype is not None:
        tries += [(channels_last, None)] + ([(False, None)] if channels_last else [])
    failures = {}
    chosen = None
    with left_as_it_was(net, x):
        for cl, dt in tries:
            error = _step(net, x, dt, cl)
            if error is None:
                chosen = (cl, dt)
                break
            failures[(cl, dt)] = error
    if chosen is None:
        raise locate_failure(net, x, label) or ConfigError(
            f"{label} cannot train on input {list(x.shape)}: "
            f"{first_line(failures[(False, None)] if (False, None) in failures else next(iter(failures.values())))}")
    cl, dt = chosen
    notices = []
    if channels_last and not cl:
        notices.append(f"channels_last turned off for {label}: its forward fails on channels-last tensors "
                       f"({first_line(failures[(True, dtype)])}); training in the standard memory format")
    if dtype is not None and dt is None:
        first = failures.get((cl, dtype))
        notices.append(f"{str(dtype).replace('torch.', '')} autocast turned off for {label}: its forward fails "
                       f"under it ({first_line(first) if first else 'see above'}); training in float32")
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        was_training = net.training
        net.eval()
        out = first_tensor(net(x))
        net.train(was_training)
    if out.dim() != 2 or out.shape != (len(x), num_classes):
        raise ConfigError(f"{label} returns {list(out.shape)} for a batch of {len(x)} images; it must return one score "
                          f"per class, ({len(x)}, {num_classes}), for this data set's {num_classes} classes")
    return ProbeResult(cl, dt, notices)


def check_weights_fit(model: nn.Module, weights: dict, path, label: str) -> None:
    """CheckpointError naming the first tensor of `weights` that does not fit `model`."""
    from .checkpoint import weights_mismatch

    problem = weights_mismatch(model, weights)
    if problem:
        raise CheckpointError(f"{path}: its weights do not fit {label}: {problem} (the run was trained with "
                              "another architecture)")


__all__ = ["UserNetwork", "import_reference", "is_reference", "locate_failure", "probe", "resolve_model"]
