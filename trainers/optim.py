"""Optimisers by name, for the forward weights and (DKP) the feedback matrices."""

import torch

from .errors import unknown_name

OPTIMIZERS = ("sgd", "nesterov", "adam", "adamw")


def make_optimizer(name: str, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
    """An optimiser over `params`: 'sgd' (with `momentum`), 'nesterov', 'adam' or 'adamw'."""
    params = list(params)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise unknown_name("optimizer", name, OPTIMIZERS)
