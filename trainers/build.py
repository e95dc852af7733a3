"""`build_model`: a network plus its rule's feedback, initialised deterministically from a seed."""

import torch

from .models import Network, make_network
from .rules import get_rule


def build_model(model: str, rule: str, input_shape, num_classes: int, seed: int = 0, **options) -> Network:
    """Build `model` ('cnn' or 'mlp') trained by `rule`, with weights and feedback fixed by `seed`.

    Options: `mean`/`std` (per-channel input normalisation), CNN `channels`/`fc_width`, MLP `hidden`.
    The global torch RNG is left untouched.
    """
    learning_rule = get_rule(rule)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = make_network(model, rule, tuple(input_shape), int(num_classes), **options)
        learning_rule.init_feedback(network)
    return network
