"""The framework aliases of d2l's PyTorch edition: the book's markdown is written once for several frameworks and
says `d2l.tensor`, `d2l.reduce_sum`, ...; its config maps each name to PyTorch as below (d2l 2.0's torch.py,
"Alias defined in config.ini"). Plain torch functions and dtypes are torch's own objects; the rest are the
one-line tensor-method calls the config names."""
import torch
from torch import nn

nn_Module = nn.Module

# torch functions and dtypes, under the book's names
ones = torch.ones
zeros = torch.zeros
tensor = torch.tensor
arange = torch.arange
meshgrid = torch.meshgrid
sin = torch.sin
sinh = torch.sinh
cos = torch.cos
cosh = torch.cosh
tanh = torch.tanh
linspace = torch.linspace
exp = torch.exp
log = torch.log
normal = torch.normal
rand = torch.rand
randn = torch.randn
matmul = torch.matmul
int32 = torch.int32
float32 = torch.float32
concat = torch.cat  # the book's name for torch.cat
stack = torch.stack
abs = torch.abs  # shadows the builtin here, as in the book's module
eye = torch.eye


# tensor methods, called as functions of the tensor
def numpy(x, *args, **kwargs):
    """x as a NumPy array (detached from the autograd graph)."""
    return x.detach().numpy(*args, **kwargs)


def size(x, *args, **kwargs) -> int:
    """The number of elements of x (not its shape: the book's `size` is NumPy's)."""
    return x.numel(*args, **kwargs)


def reshape(x, *args, **kwargs):
    return x.reshape(*args, **kwargs)


def to(x, *args, **kwargs):
    return x.to(*args, **kwargs)


def reduce_sum(x, *args, **kwargs):
    return x.sum(*args, **kwargs)


def reduce_mean(x, *args, **kwargs):
    return x.mean(*args, **kwargs)


def argmax(x, *args, **kwargs):
    """x.argmax; the book passes `axis=`, which torch accepts as an alias of `dim=`."""
    return x.argmax(*args, **kwargs)


def astype(x, *args, **kwargs):
    """x.type(dtype): x converted to dtype."""
    return x.type(*args, **kwargs)


def transpose(x, *args, **kwargs):
    """x.t(): the transpose of a matrix (at most 2 dimensions)."""
    return x.t(*args, **kwargs)

