"""A trained network ready for use: the one type that `cnnlab eval`, every view, explain, export, the explorer and
the Python API take. It holds the model and everything its inputs need (classes, per-channel normalisation, input
size and channels, how the run evaluated it, the data set) and where it came from (checkpoint, run directory).

    >>> net = cnnlab.load_trained("runs/lenet-fashion-mnist")    # or model="mynet.py:Net" for your own network
    >>> net.mean, net.std, net.input_size, net.in_channels, net.classes[:3]"""
import copy
from dataclasses import dataclass, field
from pathlib import Path

from . import pretrained
from .errors import ConfigError
from .rundir import CHECKPOINTS, FLOAT32_EVALUATION, Evaluation, checkpoint_path, evaluation_of, load_model

VIEWS_ROOT = Path("runs")  # where pictures of a network given without a run go (never the working directory)


def per_channel(value, channels: int) -> tuple:
    """A normalisation constant as one float per input channel: 0.2860 -> (0.2860,), (a, b, c) stays."""
    values = tuple(float(v) for v in value) if isinstance(value, (tuple, list)) else (float(value),) * channels
    if len(values) != channels:
        raise ConfigError(f"normalisation has {len(values)} values for a model with {channels} input channels")
    return values


@dataclass
class TrainedNetwork:
    """A network in eval mode with what using it needs. `trained` is False for a network the explorer shows
    untrained (a registered name or a user's file), whose inputs are pixels in [0, 1] and classes numbers."""

    model: object  # nn.Module, on `device`, in eval mode
    classes: tuple
    mean: tuple  # per input channel, of the training pixels in [0, 1]
    std: tuple
    input_size: int  # images are resized to input_size x input_size
    in_channels: int  # 1 grey, 3 colour
    evaluation: Evaluation  # precision and test-time augmentation the run was evaluated with
    dataset_name: str | None  # the data set it was trained on (None: untrained)
    data_dir: str | None
    config: dict = field(repr=False)  # the training settings
    path: Path | None = None  # the .pt file; None for a module given without a run
    run_dir: Path | None = None  # the run directory the checkpoint belongs to
    epoch: int | None = None  # epochs finished when the checkpoint was written
    trained: bool = True
    payload: dict = field(default_factory=dict, repr=False)
    device: object = "cpu"

    def __repr__(self) -> str:  # one line in a notebook, not the whole model and config
        where = self.path or "a module given without a run"
        return (f"TrainedNetwork({self.name} from {where}: {len(self.classes)} classes, {self.in_channels}x"
                f"{self.input_size}x{self.input_size} input, {self.evaluation.precision}, on {self.device})")

    @property
    def name(self) -> str:
        return self.config["model"]

    @property
    def normalize(self) -> tuple:
        """(mean, std) as Batches takes them: floats for a grey model, tuples per channel for colour."""
        if self.in_channels == 1:
            return self.mean[0], self.std[0]
        return self.mean, self.std

    @property
    def image_size(self) -> int:
        """The side a folder's files were decoded at before the training transform (its --image-size)."""
        return self.config.get("image_size") or self.input_size

    @property
    def out_dir(self) -> Path:
        """Where pictures about it go by default: its run directory; runs/NAME-views/ for a module without one."""
        if self.run_dir is not None and pretrained.is_shipped(self.run_dir):  # not into the installed package
            return pretrained.VIEWS
        if self.run_dir is not None:
            return self.run_dir
        return VIEWS_ROOT / f"{''.join(c if c.isalnum() or c in '-_.' else '_' for c in self.name)}-views"

    def batches(self, split, limit=None, batch_size=None, device=None):
        """Batches of `split` transformed exactly as in training (normalisation and size from the checkpoint)."""
        from .data import Batches

        mean, std = self.normalize
        return Batches(split, batch_size or self.evaluation.batch_size, mean=mean, std=std, size=self.input_size,
                       limit=limit, device=device or self.device, channels_last=self.evaluation.channels_last)

    def test_batches(self, data, limit=None, batch_size=None, device=None):
        """The test images of `data` the run evaluated (its --test-limit, on its own data set) unless `limit`."""
        if limit is None and data.name == self.dataset_name:
            limit = self.config.get("test_limit")
        return self.batches(data.test, limit, batch_size, device)

    def dataset(self, name=None, data_dir=None):
        """The data set it was trained on (or `name`, or a loaded Dataset), refused when its classes do not match."""
        from .data import dataset_options, load_dataset

        if name is None:
            if self.dataset_name is None:
                raise ConfigError(f"{self.name} is untrained: name a data set to show it on")
            name, data_dir = self.dataset_name, data_dir or self.data_dir
        data = name if hasattr(name, "test") else load_dataset(name, data_dir,
                                                               **dataset_options(self.config, self.input_size))
        if len(data.classes) != len(self.classes):
            raise ConfigError(f"data set '{data.name}' has {len(data.classes)} classes but {self.path or self.name} "
                              f"predicts {len(self.classes)}; choose a data set like '{self.dataset_name}'")
        return data

    def logits(self, x):
        """Float32 logits of a batch of model inputs, computed as the run evaluates (cnnlab.evaluate.forward)."""
        from .evaluate import forward

        return forward(self.model, x.to(self.device), self.evaluation)


def _memory_format(evaluation: Evaluation):
    import torch

    return torch.channels_last if evaluation.channels_last else torch.contiguous_format


def load_trained(path, which: str = "best", device="cpu", evaluation: Evaluation | None = None,
                 model=None, command: str = "eval") -> TrainedNetwork:
    """Load a trained run for inference: `path` is a .pt file or a run directory (see rundir.checkpoint_path and
    `which`). The model comes back on `device`, in eval mode; `evaluation` overrides the recorded one. A run of
    your own network needs it as `model` (an nn.Module, copied; a class or factory; or an import reference);
    `command` words the message that asks for it."""
    from .network import NeedsModelError

    path = checkpoint_path(path, which)
    try:
        network, payload = load_model(path, model=model)
    except NeedsModelError as error:
        raise NeedsModelError(error.path, error.record, command) from None
    evaluation = evaluation or evaluation_of(payload)
    network = network.to(device, memory_format=_memory_format(evaluation)).eval()
    channels = payload.get("in_channels", 1)
    mean, std = payload["normalize"]
    config = payload["config"]
    history = payload.get("history")
    run_dir = path.parent if path.name in CHECKPOINTS.values() else None
    return TrainedNetwork(network, tuple(payload["classes"]), per_channel(mean, channels), per_channel(std, channels),
                          int(payload["input_size"]), channels, evaluation, config.get("dataset"),
                          config.get("data_dir"), config, path, run_dir,
                          len(history) if isinstance(history, list) else None, True, payload, device)


def from_module(model, dataset, data_dir=None, normalize=None, input_size=None, device=None) -> TrainedNetwork:
    """A module given without a run, ready for the views: the classes of `dataset` (a name or a loaded Dataset),
    its normalisation unless `normalize` = (mean, std), its own image size unless `input_size`, float32 evaluation.
    A copy of the module is used, in eval mode (the caller's keeps its mode), on its own device unless `device`."""
    from .data import load_dataset

    if dataset is None:
        raise ConfigError("a model given without a run directory needs a data set: dataset='fashion-mnist', ...")
    data = dataset if hasattr(dataset, "test") else load_dataset(dataset, data_dir)
    if device is None:
        device = next((t.device for t in model.parameters()), "cpu")
    name = type(model).__name__
    model = copy.deepcopy(model).to(device).eval()
    config = {"model": name, "dataset": data.name, "data_dir": data_dir}
    mean, std = normalize if normalize is not None else (data.mean, data.std)
    channels = data.channels
    return TrainedNetwork(model, tuple(data.classes), per_channel(mean, channels), per_channel(std, channels),
                          input_size or data.test.images.shape[-1], channels, FLOAT32_EVALUATION, data.name, data_dir,
                          config, payload={"config": config}, device=device)


UNTRAINED_CLASSES = tuple(str(k) for k in range(10))  # an untrained network: classes are only numbers


def untrained(model, name: str, input_size: int, in_channels: int = 1) -> TrainedNetwork:
    """A network with its initial weights (the explorer shows how a layer transforms before training): pixels in
    [0, 1] as d2l feeds them, ten classes named by number, float32."""
    config = {"model": name, "dataset": None}
    return TrainedNetwork(model.eval(), UNTRAINED_CLASSES, (0.0,) * in_channels, (1.0,) * in_channels, input_size,
                          in_channels, FLOAT32_EVALUATION, None, None, config, trained=False)


__all__ = ["TrainedNetwork", "from_module", "load_trained", "per_channel", "untrained"]


def __getattr__(name):
    """TrainedModel, the type's name before it became the one trained-network type, still works for a release."""
    if name == "TrainedModel":
        import warnings

        warnings.warn("TrainedModel is now cnnlab.trained.TrainedNetwork", DeprecationWarning, stacklevel=2)
        return TrainedNetwork
    raise AttributeError(f"module 'cnnlab.trained' has no attribute '{name}'")
