"""Feedback Alignment (Lillicrap et al. 2016): errors travel backwards through fixed random B, not Wᵀ."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from trainers.nets.base import weight_layer
from trainers.rules.base import Objective, Rule


def feedback_aligned(layer: nn.Module, x: torch.Tensor, feedback: torch.Tensor) -> torch.Tensor:
    """`layer(x)` in value; its weight gets the usual gradient, but x's gradient goes through `feedback`.

    value = layer(stopgrad(x)) + (x ∗ B − stopgrad(x ∗ B)); the bracket is zero but carries dL/dx = δ B.
    """
    out = layer(x.detach())
    if not x.requires_grad:
        return out
    if isinstance(layer, nn.Linear):
        through_b = F.linear(x, feedback)
    else:
        through_b = F.conv2d(x, feedback, None, layer.stride, layer.padding, layer.dilation, layer.groups)
    return out + (through_b - through_b.detach())


class FA(Rule):
    name = "fa"
    label = "FA"
    color = "#E69F00"  # Okabe & Ito orange
    models = ("cnn", "mlp")  # a spiking block's input gradient through B would need BPTT across blocks

    def init_feedback(self, model) -> None:
        # The first block's input is the image, which needs no gradient, so it has no feedback.
        for name in list(model.blocks)[1:]:
            weight = weight_layer(model.blocks[name]).weight
            feedback = torch.empty_like(weight)
            nn.init.kaiming_uniform_(feedback, a=math.sqrt(5))  # the same law as PyTorch's weight init
            model.feedback.add(name, feedback, trainable=False)

    def feedback_targets(self, model, images) -> dict:
        """B_l carries the error from block l's output back to its input in place of W_lᵀ: its target is
        W_l, the forward weight of the same block."""
        return {name: weight_layer(model.blocks[name]).weight.detach() for name in model.blocks
                if name in model.feedback}

    def objective(self, model, images, labels) -> Objective:
        h = model.norm(images)
        for name, block in model.blocks.items():
            if name not in model.feedback:
                h = block(h)
                continue
            wl = weight_layer(block)
            for layer in block:
                h = feedback_aligned(layer, h, model.feedback[name]) if layer is wl else layer(h)
        loss = F.cross_entropy(h, labels)
        return Objective(loss, loss, h)
