"""`cnnlab export RUN`: a trained model as one file that runs without cnnlab, checked before it is kept.

- onnx: one self-contained .onnx file (weights inside) with a dynamic batch dimension, written by PyTorch's
  TorchScript-based exporter, then run in onnxruntime on real test images and compared with PyTorch
  (needs the optional extra cnnlab[onnx]);
- torchscript: torch.jit.trace, loadable with torch.jit.load;
- pt2: torch.export with a dynamic batch dimension, loadable with torch.export.load.

Each file is written under a temporary name beside the target, loaded back, run on the test images at two
batch sizes and compared with the PyTorch model; only when the largest difference is within TOLERANCE is it
renamed into place. Any failure leaves nothing behind and raises ExportError naming the file.

Every file carries how to prepare its input (`preprocessing`): input shape and channels, value range, per-channel
mean and std, the class names in order and the run it came from. ONNX: metadata_props, each value JSON; TorchScript
and pt2: the extra file cnnlab.json holding the same keys. docs/views.md shows a six-line onnxruntime client."""
import contextlib
import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .errors import ConfigError, ExportError, first_line

FORMATS = {"onnx": ".onnx", "torchscript": ".ts.pt", "pt2": ".pt2"}
TOLERANCE = 1e-4  # largest absolute difference of the logits allowed between the export and PyTorch
CHECK_IMAGES = 64
OPSET = 17
INSTALL = "--format onnx needs the onnx and onnxruntime packages: pip install 'cnnlab[onnx]'"


@dataclass
class Exported:
    path: Path
    format: str
    max_diff: float  # largest absolute difference of the logits from PyTorch's
    images: int  # test images it was checked on
    same_predictions: int  # of them, how many get the same class
    metadata: dict | None = None  # the preprocessing written into the file (see preprocessing)


METADATA_FILE = "cnnlab.json"  # the extra file of a TorchScript or pt2 export holding the metadata
VALUE_RANGE = "pixel / 255, in [0, 1], then (x - mean) / std per channel"


def preprocessing(net) -> dict:
    """What a user of the exported file must do to a picture, from a TrainedNetwork: NCHW float32 of shape
    input_shape, pixels scaled to [0, 1] then normalised per channel; classes in the order of the logits."""
    from .pictures import stored_as

    folder, _, _ = stored_as(net)
    return {"input_shape": [net.in_channels, net.input_size, net.input_size], "channels": net.in_channels,
            "colour": "rgb" if net.in_channels == 3 else "grey",
            "picture": ("shorter side scaled, centre square cut (as the image folder was read)" if folder else
                        "light on dark, padded square, resized (as MNIST-like sets are stored)"),
            "value_range": VALUE_RANGE, "mean": list(net.mean), "std": list(net.std), "classes": list(net.classes),
            "model": net.name, "dataset": net.dataset_name,
            "run": str(net.run_dir.resolve()) if net.run_dir is not None else None}


def describe(metadata: dict) -> list[str]:
    """The preprocessing in words, as `cnnlab export` prints it."""
    c, h, w = metadata["input_shape"]
    numbers = ", ".join(f"{v:.4f}" for v in metadata["mean"]), ", ".join(f"{v:.4f}" for v in metadata["std"])
    return [f"input: float32 (N, {c}, {h}, {w}), {metadata['colour']}; {metadata['picture']}",
            f"values: {metadata['value_range']}: mean ({numbers[0]}), std ({numbers[1]})",
            f"classes ({len(metadata['classes'])}, in logit order): {', '.join(map(str, metadata['classes']))}",
            f"from: {metadata['run'] or metadata['model']}"]


def read_metadata(path) -> dict:
    """The preprocessing an exported file carries (ONNX metadata_props, or cnnlab.json of TorchScript/pt2)."""
    path = Path(path)
    if path.suffix == ".onnx":
        onnx, _ = _onnx_modules()
        return {p.key: json.loads(p.value) for p in onnx.load(str(path), load_external_data=False).metadata_props}
    extra = {METADATA_FILE: ""}
    with _quiet():
        if path.name.endswith(FORMATS["torchscript"]):
            torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        else:
            torch.export.load(str(path), extra_files=extra)
    text = extra[METADATA_FILE]
    return json.loads(text.decode() if isinstance(text, bytes) else text) if text else {}


def _onnx_modules():
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise ConfigError(INSTALL) from None
    return onnx, onnxruntime


@contextlib.contextmanager
def _quiet():
    """PyTorch's exporters warn about their own deprecations and tracing details; the check says what matters."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _write_onnx(model: nn.Module, example: torch.Tensor, path: Path, metadata: dict) -> None:
    onnx, _ = _onnx_modules()
    with _quiet():
        torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=OPSET, input_names=["images"],
                          output_names=["logits"], dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}})
    if metadata:
        proto = onnx.load(str(path))
        for key, value in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, json.dumps(value)
        onnx.save(proto, str(path))
    onnx.checker.check_model(str(path))  # structure and opset; one file: no external data to look for


def _run_onnx(path: Path):
    _, ort = _onnx_modules()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: onnxruntime's warnings go to stderr otherwise
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: torch.from_numpy(session.run(None, {name: x.numpy()})[0])


def _extra(metadata: dict) -> dict:
    return {METADATA_FILE: json.dumps(metadata)} if metadata else {}


def _write_torchscript(model, example, path: Path, metadata: dict) -> None:
    with _quiet():
        traced = torch.jit.trace(model, example, check_trace=False)
        torch.jit.save(traced, str(path), _extra_files=_extra(metadata))


def _run_torchscript(path: Path):
    with _quiet():
        loaded = torch.jit.load(str(path), map_location="cpu")
    return lambda x: loaded(x)


def _write_pt2(model, example, path: Path, metadata: dict) -> None:
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    with _quiet():
        program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
        torch.export.save(program, str(path), extra_files=_extra(metadata))


def _run_pt2(path: Path):
    with _quiet():
        module = torch.export.load(str(path)).module()
    return lambda x: module(x)


WRITERS = {"onnx": (_write_onnx, _run_onnx), "torchscript": (_write_torchscript, _run_torchscript),
           "pt2": (_write_pt2, _run_pt2)}


def export_model(model: nn.Module, inputs: torch.Tensor, path, format: str = "onnx",
                 tolerance: float = TOLERANCE, metadata: dict | None = None) -> Exported:
    """Export `model` (eval mode, CPU) to `path` in `format` and check it on `inputs` (N, C, S, S), the whole
    batch and then a single image, against PyTorch's logits. The file appears only if the check passes.
    `metadata` (JSON-able values by key) goes into the file (see preprocessing)."""
    if format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got '{format}'")
    if format == "onnx":
        _onnx_modules()  # say how to install it before any work
    write, run = WRITERS[format]
    path = Path(path)
    model = model.cpu().eval()
    inputs = inputs.cpu().float().contiguous()
    with torch.no_grad():
        expected = model(inputs).float()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part" + path.suffix)
        os.close(fd)
    except OSError as error:
        raise ExportError(f"{path}: cannot write ({error.strerror or error}); choose another --out") from None
    partial = Path(partial)
    try:
        example = inputs[:2] if len(inputs) > 1 else inputs
        try:
            write(model, example, partial, metadata or {})
        except ConfigError:
            raise
        except Exception as error:  # each exporter raises its own kinds; all mean this model cannot be exported
            raise ExportError(f"{path}: PyTorch cannot export this model to {format} ({first_line(error)})") from None
        try:
            forward = run(partial)
            with torch.no_grad():
                got = forward(inputs).float()
                single = forward(inputs[:1]).float()  # another batch size than the example: the batch is dynamic
        except Exception as error:
            runner = "onnxruntime" if format == "onnx" else "PyTorch"
            raise ExportError(f"{path}: {runner} cannot run the exported model ({first_line(error)}); nothing "
                              "written") from None
        if got.shape != expected.shape or single.shape != expected[:1].shape:
            raise ExportError(f"{path}: the exported model gives logits of shape {tuple(got.shape)} for "
                              f"{len(inputs)} images, PyTorch {tuple(expected.shape)}; nothing written")
        diff = max((got - expected).abs().max().item(), (single - expected[:1]).abs().max().item())
        if not diff <= tolerance:
            raise ExportError(f"{path}: the exported model's logits differ from PyTorch's by up to {diff:.3g} on "
                              f"{len(inputs)} test images (allowed: {tolerance:g}); nothing written")
        same = int((got.argmax(1) == expected.argmax(1)).sum())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return Exported(path, format, diff, len(inputs), same, metadata)


def export_run(checkpoint, format: str = "onnx", out=None, data_dir=None, images: int = CHECK_IMAGES, which="best",
               model=None, dataset=None) -> Exported:
    """Export a trained network (a run directory: its best.pt, else last.pt; a .pt file; of your own network with
    `model`; anything views.load takes), checked on its first `images` test images, with its preprocessing written
    into the file. Default file: in the run directory, model.onnx / model.ts.pt / model.pt2."""
    from .views.figure import load

    if format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got '{format}'")
    if images < 1:
        raise ConfigError(f"--images must be at least 1, got {images}")
    if format == "onnx":
        _onnx_modules()
    net = load(checkpoint, which, model, dataset, data_dir, command="export")
    data = net.dataset(dataset, data_dir)
    x, _ = next(iter(net.batches(data.test, limit=images, batch_size=images)))
    path = Path(out) if out is not None else net.out_dir / ("model" + FORMATS[format])
    return export_model(net.model, x, path, format, metadata=preprocessing(net))
