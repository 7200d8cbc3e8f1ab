"""The resume policy: which settings a resumed run keeps and which may change, and when a process that torchrun
restarted continues the run its job began."""
from dataclasses import fields
from pathlib import Path

from . import distributed, rundir
from .config import TrainConfig, check_options
from .device import select_device
from .errors import CheckpointError, ConfigError
from .network import UserNetwork, is_reference

RESUME_OPTIONS = ("epochs", "device", "threads", "save_minutes")  # may change on resume: extend the run, move it


def resume_settings(run_dir, model=None, **overrides) -> tuple[TrainConfig, dict]:
    """The config and checkpoint to continue the run in `run_dir` from its last.pt, with `overrides` applied:
    RESUME_OPTIONS may change; any other option may be given only with the value the run was saved with. A run
    of the user's own network needs `model` (checked to fit later); a registered name must be the run's own."""
    check_options(overrides)
    if isinstance(model, str) and not is_reference(model):  # a registered name: compared like any option
        overrides, model = {**overrides, "model": model}, None
    path, payload = rundir.load_resume_state(run_dir, model)
    settings = dict(payload["config"])
    differing = []
    for name, value in overrides.items():
        if value is None:
            continue
        if name in RESUME_OPTIONS:
            settings[name] = value
        elif not _same_setting(name, value, settings.get(name)):  # the original command's own options may stay
            flag = "model" if name == "model" else f"--{name.replace('_', '-')}"
            differing.append(f"{flag} {value} (the run has {settings.get(name)})")
    if differing:
        raise ConfigError("--resume keeps the run's saved settings, and these differ from them: "
                          f"{'; '.join(differing)}; "
                          f"only --{', --'.join(o.replace('_', '-') for o in RESUME_OPTIONS)} may change")
    rundir.require_training_state(path, payload)
    unknown = sorted(set(settings) - {f.name for f in fields(TrainConfig)})
    if unknown:
        raise CheckpointError(f"{path}: cannot resume from it: settings unknown to this cnnlab ({', '.join(unknown)})")
    return TrainConfig(**settings).validate(), payload


def _same_setting(name: str, given, saved) -> bool:
    if name in ("out", "data_dir") and given is not None and saved is not None:
        return Path(given).resolve() == Path(saved).resolve()
    return given == saved


def restart_state(config: TrainConfig, network: UserNetwork | None = None,
                  session: distributed.Session | None = None) -> tuple[TrainConfig, dict] | None:
    """Under `torchrun --max-restarts`: the (config, checkpoint) to continue, when torchrun restarted a process of
    this job after a failure and --out already holds a run with these very settings (the one this job began);
    None otherwise. The ranks decide together: a machine that rejoins fresh continues the run with the others."""
    env = (session or distributed.Session(config.batch_size, config.device, config.sync_bn)).join().env
    device = select_device(config.device, env.local_rank)
    if not distributed.agree_any(distributed.restarted() and config.out is not None and rundir.holds_run(config.out),
                                 env, device):
        return None
    saved, payload = resume_settings(config.out, network)
    differ = [k for k, v in config.to_dict().items() if k not in ("out", "threads") and getattr(saved, k) != v]
    return None if differ else (saved, payload)

