"""Where tensors live: the device a run asks for (and whether it can record a CUDA graph), the device a model is
on, and eval mode for a while."""

from contextlib import contextmanager

import torch

from trainers.errors import ConfigError, unknown_name

DEVICES = ("auto", "cpu", "cuda")  # what --device accepts
DEFAULT_DEVICE = "auto"


def resolve_device(name: str) -> torch.device:
    """'auto' → CUDA when available, else CPU; 'cuda' without a GPU, or a name not in DEVICES, is an error."""
    if name not in DEVICES:
        raise unknown_name("device", name, DEVICES)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is available; pass --device cpu")
    return torch.device(name)


def require_cuda_graph_device(device: torch.device) -> None:
    """`--cuda-graph` records a CUDA graph: a one-line ConfigError for any other device (train and compare)."""
    if device.type != "cuda":
        raise ConfigError(f"--cuda-graph records the training step as a CUDA graph, but this run is on {device}; "
                          "leave --cuda-graph out or pass --device cuda on a GPU")


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
