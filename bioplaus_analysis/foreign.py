"""A network trained elsewhere, as `analyze_models` analyses it: a plain module with the layers to record and
its output as logits. It has no bioplaus rule, so its analysis has no gradient SNR, cosine to BP or
feedback-mode attack; a spiking library's layers among its layers give spike counts, rates and rasters."""

from torch import nn

from trainers.nets.base import NetworkBase

from .features import named_layers
from .outputs import output_function, spiking_layer


class Foreign(nn.Module):
    """`module` (its own weights; nothing copied) whose forward returns logits (`output`, as `logits_of`), with
    the submodules `layers` to record. `rule` names the rule it was trained with, for legends and colours
    (any string; a bioplaus rule name takes that rule's colour)."""

    def __init__(self, module: nn.Module, layers, output=None, rule: str = "", trust_autograd: bool = False):
        super().__init__()
        recorded = named_layers(module, layers)
        self.module, self.pick, self.trust_autograd = module, output_function(output), trust_autograd
        self.recorded_layers = list(recorded)
        self.spiking = any(spiking_layer(m) is not None for m in recorded.values())
        self.kind, self.rule_name, self.rule = type(module).__name__, rule, None

    def forward(self, images):
        return self.pick(self.module(images))


def as_analysed(models: dict, layers=None, output=None, rules=None, trust_autograd=False) -> dict:
    """{label: network}: bioplaus networks as given, any other module as a `Foreign` with its `layers`,
    `output` and `trust_autograd` (each one for all, or a dict by label) and its rule from `rules` (default:
    its label)."""
    def of(value, label):
        return value.get(label) if isinstance(value, dict) else value
    return {label: model if isinstance(model, (NetworkBase, Foreign)) else
            Foreign(model, of(layers, label), of(output, label), (rules or {}).get(label, label),
                    bool(of(trust_autograd, label)))
            for label, model in models.items()}
