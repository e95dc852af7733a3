"""What every network is: named blocks in order (`conv1`, …, `out`), applied after an input stage, the last
returning logits; the feedback matrices of its rule, and the rule itself, resolved once when the network is
built. Rules, the training loop and the analyses address networks through this base class alone.
"""

from typing import Callable, NamedTuple

import torch
from torch import nn

from trainers.devices import eval_mode, model_device
from trainers.errors import ConfigError


class Feedback(nn.Module):
    """A rule's feedback matrices, one per block: buffers (FA, DFA) or parameters (DKP)."""

    def add(self, name: str, tensor: torch.Tensor, trainable: bool) -> None:
        if trainable:
            self.register_parameter(name, nn.Parameter(tensor))
        else:
            self.register_buffer(name, tensor)

    def __getitem__(self, name: str) -> torch.Tensor:
        return getattr(self, name)

    def __contains__(self, name: str) -> bool:
        return name in self._parameters or name in self._buffers


class LocalSignal(NamedTuple):
    """What a DFA-family rule needs of one hidden block: its output `activity` [batch, D] (for DKP's
    ∇B = activityᵀ e) and `drive(P)`, a scalar whose gradient is the block's update when the
    projected error P = e Bᵀ [batch, D] reaches it."""
    name: str
    activity: torch.Tensor
    drive: Callable[[torch.Tensor], torch.Tensor]


class NetworkBase(nn.Module):
    """Named `blocks` applied in order after `norm`; the last (`out`) gives the logits. `rule` is the `Rule`
    object that trains the network (its checkpoint keeps `rule.name`), `feedback` holds the rule's matrices,
    `spiking` says whether blocks emit spikes over time. Subclasses define `block_outputs` and `local_pass`
    (`check_network` refuses a network without them)."""

    spiking = False

    def __init__(self, kind: str, rule, norm: nn.Module, blocks, input_shape, num_classes: int, options: dict):
        super().__init__()
        self.kind, self.rule = kind, rule
        self.input_shape, self.num_classes, self.options = tuple(input_shape), num_classes, options
        self.norm = norm
        self.blocks = nn.ModuleDict(blocks)
        self.feedback = Feedback()

    @property
    def hidden_names(self) -> list[str]:
        return list(self.blocks)[:-1]

    @property
    def output_block(self) -> nn.Module:
        return self.blocks[list(self.blocks)[-1]]

    def forward(self, images):
        return self.block_outputs(images)[0]


INTERFACE = {  # what every network provides, and who needs it
    "blocks": "named blocks in order, the last giving the logits (rules, recording, analyses)",
    "block_outputs": "(logits, {hidden block: output}) of the true network (BP, features, Jacobians)",
    "local_pass": "(logits, a LocalSignal per hidden block) without a graph across blocks (DFA, DKP, aDFA)",
    "feedback": "the rule's matrices by block name (FA, DFA, DKP, aDFA)",
    "num_classes": "the number of logits", "input_shape": "(channels, height, width) of one image",
    "spiking": "whether blocks emit spikes over time (features are spike counts then)",
    "rule": "the Rule object that trains it",
}


def check_network(model) -> None:
    """One ConfigError naming everything of `INTERFACE` that `model` lacks, or a last block that is not `out`;
    checked when a network is built or loaded, so a missing piece is not found mid-training."""
    missing = [name for name in INTERFACE if not hasattr(model, name)]
    if missing:
        raise ConfigError(f"{type(model).__name__} is not a bioplaus network: it lacks "
                          + "; ".join(f"{name} ({INTERFACE[name]})" for name in missing))
    if not model.blocks or list(model.blocks)[-1] != "out" or not hasattr(model.rule, "objective"):
        raise ConfigError(f"{type(model).__name__}: its blocks must end with 'out' (the logits) and its rule must "
                          f"be a Rule object; got blocks {list(model.blocks)} and rule {model.rule!r}")


def check_option_names(kind: str, options, allowed) -> None:
    """ConfigError naming the options model `kind` takes when `options` has others (every network's one message)."""
    extra = set(options) - set(allowed)
    if extra:
        raise ConfigError(f"model {kind!r} takes options {sorted(allowed)}, not {sorted(extra)}")


def forward_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """(name, parameter) of the forward network: everything but the rule's feedback matrices."""
    return [(n, p) for n, p in model.named_parameters() if not n.startswith("feedback.")]


def weight_layer(block: nn.Sequential) -> nn.Module:
    """The one conv or linear layer of a block."""
    return next(m for m in block if isinstance(m, (nn.Conv2d, nn.Linear)))


def int_list(value, name):
    """A width option ("1000,250", [32, 32] or 128) as positive integers; one ConfigError otherwise."""
    try:
        values = [int(v) for v in (str(value).split(",") if isinstance(value, (str, int)) else value)]
    except (TypeError, ValueError):
        values = []
    if not values or min(values) < 1:
        flag = "--" + name.replace("_", "-")
        raise ConfigError(f"{flag} must be comma-separated positive integers, e.g. 1000,250; got {value!r}")
    return values


def block_output_shapes(model) -> dict[str, tuple]:
    """Shape of each block's output for one example, found by passing zeros through the blocks.

    (For a spiking network this is the shape of the block's current, which is that of its spikes.)"""
    shapes, h = {}, torch.zeros(1, *model.input_shape, device=model_device(model))
    with torch.no_grad(), eval_mode(model):
        h = model.norm(h)
        for name, block in model.blocks.items():
            h = block(h)
            shapes[name] = tuple(h.shape[1:])
    return shapes
