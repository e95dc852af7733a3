"""How a rule's learning relates to BP's, per block: the cosine of its update to the true BP gradient
(same weights, same batch), and the angle between its feedback matrix and the forward path it stands in for."""

import math

import torch
import torch.nn.functional as F

from trainers.devices import eval_mode
from trainers.nets.base import parameter_names
from trainers.rules import bp_gradient, measuring, rule_update


def block_cosines(model, images, labels, update=None, groups=None) -> dict[str, float]:
    """{block: cos(rule update, BP gradient)} over all forward parameters of each block. `update(model, images,
    labels)` → {parameter name: update} replaces the model's rule (a name it lacks counts as 0), and `groups`
    {name: parameter names} the blocks (any module's layers, say)."""
    update = (update or rule_update)(model, images, labels)
    true = bp_gradient(model, images, labels)
    if groups is None:
        groups = {block: parameter_names(model, module) for block, module in model.blocks.items()}
    cosines = {}
    for name, keys in groups.items():
        keys = [k for k in keys if k in true]
        a = torch.cat([(update[k] if k in update else torch.zeros_like(true[k])).flatten() for k in keys])
        b = torch.cat([true[k].flatten() for k in keys])
        cosines[name] = F.cosine_similarity(a, b, dim=0, eps=1e-20).item()
    return cosines


def angle_degrees(a: torch.Tensor, b: torch.Tensor) -> float:
    """The angle between two tensors seen as vectors, in degrees: 0 parallel, 90 unrelated, 180 opposite."""
    cosine = F.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0, eps=1e-30).item()
    return math.degrees(math.acos(max(-1.0, min(1.0, cosine))))


def weight_alignment(model, images) -> dict[str, float]:
    """{block: angle (degrees) between the block's feedback matrix B_l and what it replaces on BP's path}:
    FA: W_l, whose transpose carries BP's error from block l back to block l − 1; DFA, aDFA, DKP: the
    transpose of the network's Jacobian from block l's output to the logits, averaged over `images` (eval
    mode, full float32). 0° is BP's signal, 90° a signal unrelated to it. Empty for BP."""
    rule = model.rule
    with measuring(model, images), eval_mode(model):
        targets = rule.feedback_targets(model, images)
        matrices = rule.feedback_matrices(model, list(targets))
        return {name: angle_degrees(matrices[name].detach(), target) for name, target in targets.items()}
