"""Learning-rule registry and the gradients analyses ask for: the rule's update and the true BP gradient.

Adding a rule is one file with a `Rule` subclass and one line in `RULES`.
"""

from contextlib import contextmanager

import torch

from trainers.errors import ConfigError, unknown_name
from trainers.nets.base import forward_parameters
from trainers.precision import full_precision
from trainers.rules.adfa import ADFA
from trainers.rules.base import Objective, Rule, output_error
from trainers.rules.bp import BP
from trainers.rules.dfa import DFA
from trainers.rules.dkp import DKP
from trainers.rules.fa import FA
from trainers.rules.kp import KP
from trainers.rules.readout import Readout
from trainers.rules.sign_symmetry import BRSF, FRSF, USF

RULES = {rule.name: rule for rule in (BP(), FA(), DFA(), DKP(), ADFA(), USF(), FRSF(), BRSF(), KP(), Readout())}
# What a comparison trains unless asked otherwise: the classic set and the readout-only control that every one of
# them is read against (the others with --rules)
DEFAULT_RULES = ("bp", "fa", "dfa", "dkp", "adfa", "readout")


def get_rule(name: str, model: str | None = None, spiking: bool = False) -> Rule:
    """The rule registered under `name` (that trains `model`, spiking or not, if given), or a ConfigError listing
    the valid names."""
    if name not in RULES:
        raise unknown_name("rule", name, RULES)
    rule = RULES[name]
    if model is not None and not rule.trains(spiking):
        valid = [n for n, r in RULES.items() if r.trains(spiking)]
        raise ConfigError(f"rule {name!r} does not train model {model!r}; choose one of: {', '.join(sorted(valid))}")
    return rule


@contextmanager
def buffers_restored(model):
    """Leave the model's buffers (BatchNorm running statistics) as they were on entry."""
    saved = [b.detach().clone() for b in model.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(model.buffers(), saved):
                buffer.copy_(value)


@contextmanager
def measuring(model, images):
    """Where analyses evaluate a rule's objective: full float32 (no TF32), buffers restored on exit, and
    torch's RNG forked and seeded with 0, so stochastic encoders (Poisson) draw the same spikes for the
    rule and for BP."""
    devices = [images.device.index or 0] if images.device.type == "cuda" else []
    with full_precision(), buffers_restored(model), torch.random.fork_rng(devices=devices):
        torch.manual_seed(0)
        yield


def _gradients(model, rule, images, labels, include_feedback):
    params = model.named_parameters() if include_feedback else forward_parameters(model)
    params = [(n, p) for n, p in params if p.requires_grad]
    with measuring(model, images):
        objective = rule.objective(model, images, labels)
        grads = torch.autograd.grad(objective.surrogate, [p for _, p in params], allow_unused=True)
    return {n: torch.zeros_like(p) if g is None else g.detach() for (n, p), g in zip(params, grads)}


def rule_update(model, images, labels) -> dict[str, torch.Tensor]:
    """The model's rule's update direction (as a gradient) for every trainable parameter, feedback included.

    Runs in the model's current mode (train: batch statistics) and leaves buffers and weights unchanged.
    """
    return _gradients(model, model.rule, images, labels, include_feedback=True)


def bp_gradient(model, images, labels) -> dict[str, torch.Tensor]:
    """The true gradient of the loss for every forward parameter, at the same weights and batch."""
    return _gradients(model, RULES["bp"], images, labels, include_feedback=False)


__all__ = ["DEFAULT_RULES", "RULES", "Objective", "Rule", "bp_gradient", "buffers_restored", "get_rule", "measuring",
           "output_error", "rule_update"]
