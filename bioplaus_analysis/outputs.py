"""Any model as a classifier, and any layer's output as a feature: `logits_of` turns what a model returns into
logits (`output=`: a function or a name of `OUTPUTS`), and `SPIKING_LAYERS` says how a spiking library's
layer output holds its spikes, so that features are spike counts whoever built the network.
"""

from typing import Callable, NamedTuple

import torch
from torch import nn

from trainers import ConfigError, unknown_name


def _first(out):
    return out[0] if isinstance(out, (tuple, list)) else out


OUTPUTS = {
    "first": _first,  # the first element of a tuple, e.g. snnTorch's (spikes, membrane)
    "spike_counts": lambda out: _first(out).sum(0),  # spikes [T, batch, classes] summed over time
    "mean_over_time": lambda out: _first(out).mean(0),  # e.g. membrane potentials [T, batch, classes]
}


class Logits(nn.Module):
    """`module`, its output turned into logits by `pick` (the module's own weights; nothing copied);
    `trust_autograd`: its custom autograd Functions give the true input gradient (attacks then use it)."""

    def __init__(self, module: nn.Module, pick: Callable, trust_autograd: bool = False):
        super().__init__()
        self.module, self.pick, self.trust_autograd = module, pick, trust_autograd

    def forward(self, images):
        return self.pick(self.module(images))


def logits_of(model: nn.Module, output=None, trust_autograd: bool = False) -> nn.Module:
    """`model` itself when `output` is None (and nothing is confirmed), else `model` whose output `output` (a
    function, or a name of `OUTPUTS`) turns into logits [batch, classes]. `trust_autograd` confirms that the
    custom autograd Functions in its forward give its true input gradient (`robustness.input_gradient`)."""
    if output is None and not trust_autograd:
        return model
    return Logits(model, output_function(output), trust_autograd)


def output_function(output) -> Callable:
    """The function `output` names (a function, or a name of `OUTPUTS`) that turns a model's output into
    logits; None: the output is the logits."""
    if output is None:
        return lambda out: out
    if isinstance(output, str):
        if output not in OUTPUTS:
            raise unknown_name("output", output, OUTPUTS)
        output = OUTPUTS[output]
    if not callable(output):
        raise ConfigError(f"output= must be a function or one of {', '.join(OUTPUTS)}, got {output!r}")
    return output


def custom_functions(tensor: torch.Tensor) -> list[str]:
    """The names of the custom `torch.autograd.Function`s in `tensor`'s autograd graph."""
    found, seen, stack = set(), set(), [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if isinstance(node, torch.autograd.function.BackwardCFunction):
            found.add(type(node).__name__.removesuffix("Backward"))
        stack.extend(child for child, _ in node.next_functions)
    return sorted(found)


def refuse_untrusted_gradient(model: nn.Module, logits: torch.Tensor) -> None:
    """ConfigError when `logits` were computed through custom autograd Functions that nothing vouches for:
    autograd's input gradient is then whatever their backward says (an FA layer's is its feedback path). A
    bioplaus spiking network's Functions are its surrogate spike derivatives, the convention of the field."""
    if getattr(model, "trust_autograd", False) or (getattr(model, "rule", None) is not None
                                                   and getattr(model, "spiking", False)):
        return
    names = custom_functions(logits)
    if names:
        raise ConfigError(f"{type(model).__name__}'s forward runs custom autograd.Function {', '.join(names)}: the "
                          "input gradient through it is whatever its backward says (an FA layer's is its feedback "
                          "path), so a 'true' attack may not use the true gradient; attack a twin with plain layers "
                          "and the same weights, or confirm with logits_of(model, trust_autograd=True) (e.g. a "
                          "spiking network's surrogate derivatives)")


class SpikingLayer(NamedTuple):
    """How to read spikes from a library's layer: `matches(module)`, and `spikes(module, output)` → spikes of
    one call, [batch, ...] (a single step) or [T, batch, ...] (`time_first(module)`: all steps at once)."""
    matches: Callable
    spikes: Callable
    time_first: Callable


def _library(module, name: str) -> bool:
    return type(module).__module__.split(".")[0] == name


def _subclass_of(module, class_name: str) -> bool:
    """Whether `module`'s class derives from one named `class_name` (a library's neuron base class, matched by
    name so that the library need not be imported)."""
    return any(cls.__name__ == class_name for cls in type(module).__mro__)


SPIKING_LAYERS = {  # name → how its layers hold spikes; `register_spiking_layer` adds one
    "snntorch": SpikingLayer(lambda m: _library(m, "snntorch") and _subclass_of(m, "SpikingNeuron"),
                             lambda m, out: _first(out), lambda m: False),
    "spikingjelly": SpikingLayer(lambda m: _library(m, "spikingjelly") and _subclass_of(m, "BaseNode"),
                                 lambda m, out: out, lambda m: getattr(m, "step_mode", "s") == "m"),
}


def register_spiking_layer(name: str, matches: Callable, spikes: Callable, time_first: Callable = lambda m: False):
    """Teach the feature recorder another library's spiking layers (see `SpikingLayer`)."""
    SPIKING_LAYERS[name] = SpikingLayer(matches, spikes, time_first)


def spiking_layer(module: nn.Module) -> SpikingLayer | None:
    """The registered description of `module`'s spikes, None for a layer that does not spike."""
    return next((layer for layer in SPIKING_LAYERS.values() if layer.matches(module)), None)


def layer_feature(module: nn.Module, output) -> torch.Tensor:
    """One call's contribution to a layer's feature [batch, ...]: a spiking layer's spikes (summed over time
    when it runs all steps at once), else the output (the first tensor of a tuple)."""
    spiking = spiking_layer(module)
    if spiking is None:
        return _first(output)
    spikes = spiking.spikes(module, output)
    return spikes.sum(0) if spiking.time_first(module) else spikes
