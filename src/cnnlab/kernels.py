"""Hand-designed filters (kernels chosen by hand, not learned: `cnnlab conv filters`; a trained model's learned
kernels are `cnnlab kernels`) from the exercises of d2l 6.2 (image convolution): edges, derivatives, Laplacian,
box and Gaussian.
Each is a float32 (kh, kw) tensor for cross-correlation (`cnnlab.ops.corr2d` / `conv2d`):
Y[i, j] = sum_{a,b} K[a, b] X[i + a, j + b]. `KERNELS` maps each name to its function (default arguments)."""
import math

import torch

from .errors import ConfigError


def _axis(kernel_row: list[float], axis: str) -> torch.Tensor:
    """A 1-D stencil as a row (axis 'x': along width) or a column (axis 'y': along height)."""
    if axis not in ("x", "y"):
        raise ConfigError(f"axis must be 'x' (along the width) or 'y' (along the height), not {axis!r}")
    k = torch.tensor([kernel_row], dtype=torch.float32)
    return k if axis == "x" else k.t()


def vertical_edge() -> torch.Tensor:
    """[[1, -1]]: Y[i, j] = X[i, j] - X[i, j+1]; 1 at white->black, -1 at black->white vertical edges (d2l 6.2)."""
    return torch.tensor([[1.0, -1.0]])


def horizontal_edge() -> torch.Tensor:
    """[[1], [-1]]: Y[i, j] = X[i, j] - X[i+1, j]; the vertical-edge kernel transposed, it sees horizontal edges."""
    return vertical_edge().t()


def diagonal_edge() -> torch.Tensor:
    """[[0, 1], [-1, 0]] (a Roberts cross): Y[i, j] = X[i, j+1] - X[i+1, j], the difference across the main
    diagonal, so it sees edges running top-left to bottom-right; its mirror [[1, 0], [0, -1]] sees the others."""
    return torch.tensor([[0.0, 1.0], [-1.0, 0.0]])


def derivative(order: int = 1, axis: str = "x") -> torch.Tensor:
    """Forward difference of order d, the smallest kernel for a d-th derivative: d + 1 taps with coefficients
    (-1)^(d-k) C(d, k), k = 0..d. d=1: [-1, 1] (f(x+1) - f(x)); d=2: [1, -2, 1]. Why d + 1 is the minimum:
    the kernel must give 0 on the polynomials 1, x, ..., x^(d-1) and d! on x^d, d + 1 independent conditions."""
    if order < 1:
        raise ConfigError(f"derivative order must be at least 1, not {order}")
    return _axis([(-1) ** (order - k) * math.comb(order, k) for k in range(order + 1)], axis)


def first_derivative(axis: str = "x") -> torch.Tensor:
    """Central difference [-1/2, 0, 1/2]: f'(x) ≈ (f(x+1) - f(x-1)) / 2, centred on the middle tap."""
    return _axis([-0.5, 0.0, 0.5], axis)


def second_derivative(axis: str = "x") -> torch.Tensor:
    """[1, -2, 1]: f''(x) ≈ f(x+1) - 2 f(x) + f(x-1), the first difference applied twice (centred)."""
    return derivative(2, axis)


def laplacian() -> torch.Tensor:
    """[[0, 1, 0], [1, -4, 1], [0, 1, 0]]: d²/dx² + d²/dy², the two second-derivative kernels added;
    zero on flat and linear regions, large where intensity bends (edges, spots)."""
    return torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def box(size=3) -> torch.Tensor:
    """Mean (box, 'integral') filter: K[a, b] = 1 / (kh * kw); each output is the average of its window."""
    kh, kw = (size, size) if isinstance(size, int) else size
    if kh < 1 or kw < 1:
        raise ConfigError(f"box size must be positive, not {size}")
    return torch.full((kh, kw), 1.0 / (kh * kw))


def gaussian(size: int = 5, sigma: float = 1.0) -> torch.Tensor:
    """Gaussian smoothing: K[a, b] = exp(-((a - c)² + (b - c)²) / (2 sigma²)) / Z with c = (size - 1) / 2 and
    Z making the weights sum to 1, so flat regions keep their value."""
    if size < 1 or sigma <= 0:
        raise ConfigError(f"gaussian needs size >= 1 and sigma > 0, got size={size}, sigma={sigma}")
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    k = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return (k / k.sum()).float()


KERNELS = {
    "vertical-edge": vertical_edge,
    "horizontal-edge": horizontal_edge,
    "diagonal-edge": diagonal_edge,
    "first-derivative": first_derivative,
    "second-derivative": second_derivative,
    "laplacian": laplacian,
    "box": box,
    "gaussian": gaussian,
}
