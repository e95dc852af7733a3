"""Where tensors live: the device a run asks for, the device a model is on, and eval mode for a while."""

from contextlib import contextmanager

import torch

from .errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """'auto' → CUDA when available, else CPU; 'cuda' without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is available; pass --device cpu")
    return torch.device(name)


def model_device(model) -> torch.device:
    """The device of a model's parameters."""
    return next(model.parameters()).device


@contextmanager
def eval_mode(model):
    """`model` in eval mode (BatchNorm's running statistics, fixed encoder seeds), then its mode as found."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
