"""Look inside a network without changing it: `summary` lists every layer's output shape, parameters and
multiply-adds; `penultimate` returns the features the classifier sees (for t-SNE); `to_dot` draws the data flow."""
from dataclasses import dataclass

import torch
from torch import nn

from .errors import ConfigError


@dataclass
class LayerRow:
    name: str  # qualified module name, e.g. "incep1.branch1x1" or "stages.0.1.conv1"
    kind: str  # the module's class name, e.g. "Conv2d"
    depth: int  # nesting level: 1 for the model's direct children
    output_shape: tuple[int, ...]  # including the batch dimension
    params: int  # parameters the module holds itself (torchsummary's figure: 0 for a block of sublayers)
    total_params: int  # including its submodules
    mult_adds: int  # multiply-adds of this call alone (convolutions and linear layers), whole batch
    total_mult_adds: int  # including every call nested inside this one
    leaf: bool  # a module without submodules


@dataclass
class Summary:
    input_shape: tuple[int, ...]
    rows: list[LayerRow]  # one per module call, in the order the calls start (a block before its layers)
    total_params: int  # each shared parameter counted once
    trainable_params: int
    mult_adds: int  # for one forward pass of `input_shape`; batch 1 gives the figure per image
    activation_bytes: int  # memory of all leaf-layer outputs of that forward pass

    def __repr__(self) -> str:  # one line: the table is what summary() prints (and table() returns)
        return (f"Summary({len(self.rows)} layer calls, {self.total_params:,} parameters, "
                f"{self.mult_adds / 1e6:.2f} M mult-adds for input {list(self.input_shape)})")

    def _repr_html_(self) -> str:  # Jupyter: the same line, not the dataclass's multi-page repr
        import html

        return f"<code>{html.escape(repr(self))}</code>"

    def table(self, depth: int | None = None) -> str:
        """The rows down to `depth` (all by default) as a text table with totals. A block whose layers are
        hidden by `depth` shows their total parameters and multiply-adds; an expanded one only its own."""
        rows = [r for r in self.rows if depth is None or r.depth <= depth]
        labels = ["  " * (r.depth - 1) + f"{r.kind} ({r.name.rsplit('.', 1)[-1]})" for r in rows]
        width = max([len("Layer (type)")] + [len(s) for s in labels]) + 2
        lines = [f"{'Layer (type)':<{width}}{'Output shape':<22}{'Params':>12}{'Mult-adds':>15}", "=" * (width + 49)]
        for label, r in zip(labels, rows):
            collapsed = not r.leaf and depth is not None and r.depth == depth
            params, mult_adds = (r.total_params, r.total_mult_adds) if collapsed else (r.params, r.mult_adds)
            lines.append(f"{label:<{width}}{str(list(r.output_shape)):<22}{params:>12,}{mult_adds:>15,}")
        param_bytes = self.total_params * 4
        lines += [
            "=" * (width + 49),
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}",
            f"Mult-adds for input {list(self.input_shape)}: {self.mult_adds:,} ({self.mult_adds / 1e6:.2f} M)",
            f"Activation memory (leaf outputs, one forward): {self.activation_bytes / 2**20:.2f} MiB",
            f"Parameter memory (float32): {param_bytes / 2**20:.2f} MiB",
        ]
        return "\n".join(lines)


def _mult_adds(module: nn.Module, output: torch.Tensor) -> int:
    """Multiply-adds of one call: each output element of a conv or linear layer costs one per weight it sees.
    Biases, normalisation, activations and pooling are not counted (they are additions or cheap by comparison)."""
    if isinstance(module, nn.modules.conv._ConvNd):
        return output.numel() * module.weight[0].numel()  # weight[0]: (in / groups) * kernel elements
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


class _Inspection:
    """Runs the model once in eval mode without gradients and restores every module's train/eval mode after,
    so BatchNorm statistics and the caller's mode are untouched."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __enter__(self):
        self.modes = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        self.no_grad = torch.no_grad()
        self.no_grad.__enter__()
        return self

    def __exit__(self, *exc):
        self.no_grad.__exit__(*exc)
        for module, training in self.modes:
            module.train(training)


def _example_input(model: nn.Module, input_size) -> torch.Tensor:
    """A zero batch of shape (1, C, H, W) for input_size (C, H, W), or of input_size itself if it has 4 sides,
    on the model's device and in its dtype."""
    shape = tuple(input_size)
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4 or min(shape) < 1:
        raise ConfigError(f"input size {list(input_size)}: give C H W (or N C H W), all positive")
    tensors = list(model.parameters()) + list(model.buffers())
    like = next((t for t in tensors if t.is_floating_point()), torch.empty(0))
    return torch.zeros(shape, device=like.device, dtype=like.dtype)


def summarize(model: nn.Module, input_size) -> Summary:
    """Layer-by-layer summary for an input of `input_size` = (C, H, W) (batch 1) or (N, C, H, W); prints nothing."""
    x = _example_input(model, input_size)
    rows, stack = [], []
    activation_bytes = 0

    def before(module, args):
        name = names[module]
        row = LayerRow(name, type(module).__name__, len(stack) + 1, (),
                       sum(p.numel() for p in module.parameters(recurse=False)),
                       sum(p.numel() for p in module.parameters()), 0, 0, not any(True for _ in module.children()))
        rows.append(row)
        stack.append(row)

    def after(module, args, output):
        nonlocal activation_bytes
        row = stack.pop()
        if isinstance(output, (tuple, list)):  # e.g. Morvan's CNN's (logits, features): describe the first tensor
            output = next((t for t in output if isinstance(t, torch.Tensor)), None)
        if isinstance(output, torch.Tensor):
            row.output_shape = tuple(output.shape)
            row.mult_adds = _mult_adds(module, output)
            if row.leaf:
                activation_bytes += output.numel() * output.element_size()
        row.total_mult_adds += row.mult_adds
        if stack:
            stack[-1].total_mult_adds += row.total_mult_adds

    names = {m: name for name, m in model.named_modules() if name}
    hooks = [h for m in names for h in (m.register_forward_pre_hook(before), m.register_forward_hook(after))]
    try:
        with _Inspection(model):
            model(x)
    except Exception:
        failed = True
    else:
        failed = False
    finally:
        for h in hooks:
            h.remove()
    if failed:  # the network rejects this input: name the layer and the shapes instead of torch's traceback
        from .network import locate_failure

        raise locate_failure(model, x, type(model).__name__) or ConfigError(
            f"{type(model).__name__} rejects input {list(x.shape)}")
    parameters = list(model.parameters())
    return Summary(
        input_shape=tuple(x.shape),
        rows=rows,
        total_params=sum(p.numel() for p in parameters),
        trainable_params=sum(p.numel() for p in parameters if p.requires_grad),
        mult_adds=sum(r.total_mult_adds for r in rows if r.depth == 1),
        activation_bytes=activation_bytes,
    )


def summary(model: nn.Module, input_size=(1, 28, 28), depth: int | None = None) -> Summary:
    """Print the layer table of `model` for `input_size` = (C, H, W) (default: one 28x28 channel, the data
    sets' own) down to `depth`, and return it as data (shown as one line in a notebook)."""
    result = summarize(model, input_size)
    print(result.table(depth))
    return result


def classifier_input_layer(model: nn.Module) -> tuple[nn.Module, str]:
    """The layer whose input (or output) holds the last hidden features: the last nn.Linear (its input),
    or for a net without one, like NiN, the last adaptive (global) pooling layer (its output). "Last" in the
    order the modules were defined; penultimate() goes by the order forward calls them."""
    modules = list(model.modules())
    for module in reversed(modules):
        if isinstance(module, nn.Linear):
            return module, "input"
    for module in reversed(modules):
        if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            return module, "output"
    raise ConfigError(f"{type(model).__name__} has neither a linear layer nor global pooling: no penultimate features "
                      "to take")


GLOBAL_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def forward_with_hooks(model: nn.Module, x: torch.Tensor, modules, hook) -> None:
    """One forward of `x` without gradients, with the forward hook `hook(module, args, output)` on each of
    `modules` (removed afterwards, also after an error): how every view looks inside a network."""
    hooks = [m.register_forward_hook(hook) for m in modules]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()


def penultimate(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The (N, D) features feeding the model's classifier for the batch `x` (no gradients): the input of the
    last nn.Linear the forward calls, or for a net without one, like NiN, the output of the last global pooling
    it calls. Any module: Sequential, a custom forward, branches, a forward returning (logits, features).
    Runs the model in its current mode: call model.eval() first for inference features."""
    classifier_input_layer(model)  # a net with neither: one clear error before running it
    linear, pooled = [], []

    def grab(module, args, output):
        if isinstance(module, nn.Linear):
            linear.append(args[0])
        else:
            pooled.append(output)

    forward_with_hooks(model, x, [m for m in model.modules() if isinstance(m, (nn.Linear, *GLOBAL_POOLS))], grab)
    captured = linear or pooled
    if not captured:
        raise ConfigError(f"{type(model).__name__}'s forward calls neither a linear layer nor global pooling: "
                          "no penultimate features to take")
    return captured[-1].flatten(1)


def to_dot(model: nn.Module, input_size) -> str:
    """A Graphviz DOT diagram of the model's data flow (traced with torch.fx): one box per layer call with its
    output shape, one ellipse per function (cat, add, relu, ...), so branches and skip connections show."""
    from torch.fx import GraphModule, Tracer
    from torch.fx.passes.shape_prop import ShapeProp

    class LayerTracer(Tracer):
        """torch.nn's layers are boxes, and so is a subclass of one (speedrun-net's MaxPool2x2, a user's own
        conv): its forward may branch on its input, which a trace inside it cannot follow."""

        def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
            return super().is_leaf_module(m, qualname) or any(
                base.__module__.startswith("torch.nn.modules") and base.__module__ != "torch.nn.modules.container"
                and base is not nn.Module for base in type(m).__mro__[1:])

    x = _example_input(model, input_size)
    graph_module = GraphModule(model, LayerTracer().trace(model))
    with _Inspection(model):
        ShapeProp(graph_module).propagate(x)
    lines = [
        "digraph model {",
        '  rankdir=TB; node [shape=box, style=rounded, fontname="Helvetica", fontsize=10]; edge [arrowsize=0.6];',
    ]
    for node in graph_module.graph.nodes:
        meta = node.meta.get("tensor_meta")
        shape = f"\\n{list(meta.shape)}" if meta is not None and hasattr(meta, "shape") else ""
        if node.op == "placeholder":
            label, style = f"input{shape}", "shape=oval"
        elif node.op == "output":
            label, style = "output", "shape=oval"
        elif node.op == "call_module":
            module = graph_module.get_submodule(node.target)
            label, style = f"{node.target}\\n{type(module).__name__}{shape}", ""
        else:  # call_function, call_method, get_attr
            label, style = f"{getattr(node.target, '__name__', node.target)}{shape}", "shape=ellipse"
        lines.append(f'  "{node.name}" [label="{label}"{", " + style if style else ""}];')
        for source in node.all_input_nodes:
            lines.append(f'  "{source.name}" -> "{node.name}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def count_params(model: nn.Module) -> int:
    """Number of parameters, each shared one counted once."""
    return sum(p.numel() for p in model.parameters())


__all__ = ["LayerRow", "Summary", "classifier_input_layer", "count_params", "penultimate", "summarize", "summary",
           "to_dot"]
