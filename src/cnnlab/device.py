"""Where and in what arithmetic a run computes: the device for --device and the autocast dtype for --precision.
torch is imported inside the functions, so the command line can import this module for free."""
from .errors import ConfigError


def select_device(name: str, local_rank: int = 0):
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is available here; use --device cpu or auto")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", local_rank)


def select_precision(name: str, device):
    """The autocast dtype for --precision NAME on `device`, or None for plain float32."""
    import torch

    if device.type == "cpu":
        bf16_ok = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    else:
        bf16_ok = torch.cuda.is_bf16_supported()
    if name == "auto":
        # bf16 keeps float32's range (no loss scaling) and runs ~4x faster in matmuls on AVX512-BF16 CPUs
        name = "bf16" if bf16_ok else ("fp16" if device.type == "cuda" else "fp32")
    if name == "bf16" and not bf16_ok:
        raise ConfigError(f"--precision bf16: not supported on this {device.type}; use fp32")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]
