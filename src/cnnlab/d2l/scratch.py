"""d2l 3.2's linear regression from scratch: the model, the loss and minibatch SGD as three small functions."""
import torch


def linreg(X: torch.Tensor, w: torch.Tensor, b) -> torch.Tensor:
    """The linear model Xw + b."""
    return torch.matmul(X, w) + b


def squared_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Half the squared error per example, y reshaped to y_hat's shape (no mean: the caller sums)."""
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def sgd(params, lr: float, batch_size: int) -> None:
    """One minibatch SGD step on each parameter (the gradient is of a sum, hence / batch_size); the gradients are
    then zeroed for the next batch."""
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()
