"""Cosine between a rule's update and the true BP gradient, per block, at the same weights and batch."""

import torch
import torch.nn.functional as F

from .rules import bp_gradient, rule_update


def block_cosines(model, images, labels) -> dict[str, float]:
    """{block: cos(rule update, BP gradient)} over all forward parameters of each block."""
    update = rule_update(model, images, labels)
    true = bp_gradient(model, images, labels)
    cosines = {}
    for block in model.blocks:
        keys = [k for k in true if k.startswith(f"blocks.{block}.")]
        a = torch.cat([update[k].flatten() for k in keys])
        b = torch.cat([true[k].flatten() for k in keys])
        cosines[block] = F.cosine_similarity(a, b, dim=0, eps=1e-20).item()
    return cosines
