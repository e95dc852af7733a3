"""What every network is: named blocks in order (`conv1`, …, `out`), applied after an input stage, the last
returning logits; the feedback matrices of its rule, and the rule itself, resolved once when the network is
built. Rules, the training loop and the analyses address networks through this base class alone.
"""

from contextlib import contextmanager
from typing import Callable, NamedTuple

import torch
from torch import nn

from trainers.devices import eval_mode
from trainers.errors import ConfigError


class Feedback(nn.Module):
    """A rule's feedback matrices by block or layer name ("layer1.0.conv1" is kept as "layer1-0-conv1", as
    torch names may not hold dots): buffers (FA, DFA) or parameters (DKP)."""

    @staticmethod
    def key(name: str) -> str:
        return name.replace(".", "-")

    def add(self, name: str, tensor: torch.Tensor, trainable: bool) -> None:
        if trainable:
            self.register_parameter(self.key(name), nn.Parameter(tensor))
        else:
            self.register_buffer(self.key(name), tensor)

    def __getitem__(self, name: str) -> torch.Tensor:
        return getattr(self, self.key(name))

    def __contains__(self, name: str) -> bool:
        return self.key(name) in self._parameters or self.key(name) in self._buffers


class LocalSignal(NamedTuple):
    """What a DFA-family rule needs of one hidden block: its output `activity` [batch, D] (for DKP's
    ∇B = activityᵀ e) and `drive(P)`, a scalar whose gradient is the block's update when the
    projected error P = e Bᵀ [batch, D] reaches it."""
    name: str
    activity: torch.Tensor
    drive: Callable[[torch.Tensor], torch.Tensor]


class NetworkBase(nn.Module):
    """Named `blocks` applied in order after `norm`; the last gives the logits. `rule` is the `Rule` object
    that trains the network (its checkpoint keeps `rule.name`), `feedback` holds the rule's matrices,
    `spiking` says whether blocks emit spikes over time. Subclasses define `block_outputs` and `local_pass`
    (`check_network` refuses a network without them). `blocks` is registered here (`owned`), or is a plain
    dict of submodules that a subclass registers elsewhere (a wrapped module)."""

    spiking = False

    def __init__(self, kind: str, rule, norm: nn.Module, blocks, input_shape, num_classes: int, options: dict,
                 owned: bool = True):
        super().__init__()
        self.kind, self.rule = kind, rule
        self.input_shape, self.num_classes, self.options = tuple(input_shape), num_classes, options
        self.norm = norm
        self.blocks = nn.ModuleDict(blocks) if owned else dict(blocks)
        self.feedback = Feedback()

    @property
    def hidden_names(self) -> list[str]:
        return list(self.blocks)[:-1]

    @property
    def output_block(self) -> nn.Module:
        return self.blocks[list(self.blocks)[-1]]

    def forward(self, images):
        return self.block_outputs(images)[0]

    def weight_layers(self) -> dict[str, nn.Module]:
        """{name: conv or linear layer} of every weight layer in the blocks, in order; named by its block
        where the block holds one, else "block.path" (FA's feedback and the per-layer analyses use these)."""
        layers = {}
        for name, block in self.blocks.items():
            inside = block_weight_layers(block)
            for path, layer in inside.items():
                layers[name if len(inside) == 1 else f"{name}.{path}"] = layer
        return layers


INTERFACE = {  # what every network provides, and who needs it
    "blocks": "named blocks in order, the last giving the logits (rules, recording, analyses)",
    "weight_layers": "every conv and linear layer of the blocks by name (FA's feedback, gradient SNR)",
    "block_outputs": "(logits, {hidden block: output}) of the true network (BP, features, Jacobians)",
    "local_pass": "(logits, a LocalSignal per hidden block) without a graph across blocks (DFA, DKP, aDFA)",
    "feedback": "the rule's matrices by weight layer (FA) or hidden block (DFA, DKP, aDFA)",
    "num_classes": "the number of logits", "input_shape": "(channels, height, width) of one image",
    "spiking": "whether blocks emit spikes over time (features are spike counts then)",
    "rule": "the Rule object that trains it",
}


RESERVED = ("input", "out")  # the feature layers that are not blocks: the pixels, the output probabilities


def check_network(model) -> None:
    """One ConfigError naming everything of `INTERFACE` that `model` lacks, no blocks, a hidden block named like
    a feature layer (`RESERVED`) or a rule that is not a Rule; checked when a network is built, wrapped or
    loaded, so a missing piece is not found mid-training."""
    missing = [name for name in INTERFACE if not hasattr(model, name)]
    if missing:
        raise ConfigError(f"{type(model).__name__} is not a bioplaus network: it lacks "
                          + "; ".join(f"{name} ({INTERFACE[name]})" for name in missing))
    if not model.blocks or not hasattr(model.rule, "objective"):
        raise ConfigError(f"{type(model).__name__}: it needs at least one block and a Rule object; got blocks "
                          f"{list(model.blocks)} and rule {model.rule!r}")
    clash = [name for name in model.hidden_names if name in RESERVED]
    if clash:
        raise ConfigError(f"hidden blocks may not be named {' or '.join(RESERVED)} (feature layers of that name "
                          f"are the pixels and the output probabilities); rename {clash}")


def check_option_names(kind: str, options, allowed) -> None:
    """ConfigError naming the options model `kind` takes when `options` has others (every network's one message)."""
    extra = set(options) - set(allowed)
    if extra:
        raise ConfigError(f"model {kind!r} takes options {sorted(allowed)}, not {sorted(extra)}")


def forward_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """(name, parameter) of the forward network: everything but the rule's feedback matrices."""
    return [(n, p) for n, p in model.named_parameters() if not n.startswith("feedback.")]


WEIGHT_LAYERS = (nn.Conv2d, nn.Linear)


def block_weight_layers(block: nn.Module) -> dict[str, nn.Module]:
    """{path inside `block`: layer} of its conv and linear layers ("" when the block is one)."""
    return {path: m for path, m in block.named_modules() if isinstance(m, WEIGHT_LAYERS)}


def parameter_names(model, module: nn.Module) -> list[str]:
    """The names in `model.named_parameters()` of `module`'s parameters (module a submodule of model)."""
    prefix = next(name for name, m in model.named_modules() if m is module)
    return [f"{prefix}.{name}" if prefix else name for name, _ in module.named_parameters()]


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


def zero_images(model, n: int = 1) -> torch.Tensor:
    """`n` images of zeros in the model's input shape, on its device and in its parameters' dtype (for the
    passes that find shapes and check a network)."""
    parameter = next(model.parameters())
    return torch.zeros(n, *model.input_shape, device=parameter.device, dtype=parameter.dtype)


@contextmanager
def _one_time_step(model):
    """The model's `time_steps` set to 1 inside the block (restored afterwards); nothing for other models."""
    steps = getattr(model, "time_steps", None)
    if not model.spiking or steps is None:
        yield
        return
    model.time_steps = 1
    try:
        yield
    finally:
        model.time_steps = steps


def block_output_shapes(model) -> dict[str, tuple]:
    """Shape of each block's output for one example (a spiking block's: of its spikes at one step), found by
    passing zeros through the network in eval mode; a spiking network runs one time step, as its shapes
    per step do not depend on T."""
    with torch.no_grad(), eval_mode(model), _one_time_step(model):
        logits, outputs = model.block_outputs(zero_images(model))
    first = 2 if model.spiking else 1  # spikes are [T, batch, ...]
    shapes = {name: tuple(h.shape[first:]) for name, h in outputs.items()}
    return dict(shapes, **{list(model.blocks)[-1]: tuple(logits.shape[1:])})
