"""Feedback Alignment (Lillicrap et al. 2016): errors travel backwards through fixed random B, not Wᵀ, at every
weight layer (conv or linear, residual shortcut projections included) whose input carries an error."""

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from trainers.devices import eval_mode
from trainers.nets.base import zero_images
from trainers.rules.base import Objective, Rule


def _written_out(layer: nn.Module) -> bool:
    """Whether a layer's products can be written out here: a Linear, or a Conv2d zero-padded by numbers."""
    return isinstance(layer, nn.Linear) or (layer.padding_mode == "zeros" and not isinstance(layer.padding, str))


def _forward_with(layer: nn.Module, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """`layer(x)` computed with `weight` in place of the layer's own (a layer `_written_out`)."""
    if isinstance(layer, nn.Linear):
        return F.linear(x, weight, layer.bias)
    return F.conv2d(x, weight, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups)


class _ErrorThroughB(torch.autograd.Function):
    """x ∗ B − stopgrad(x ∗ B) without computing x ∗ B: a zero of the layer output's shape whose backward sends
    the output's error δ to x through B, by the same input-gradient product autograd would run for x ∗ B."""

    @staticmethod
    def forward(ctx, x, feedback, out, layer):
        ctx.save_for_backward(x, feedback)
        ctx.layer = layer
        return out.new_zeros(()).expand_as(out)

    @staticmethod
    def backward(ctx, delta):
        x, feedback = ctx.saved_tensors
        layer = ctx.layer
        if isinstance(layer, nn.Linear):
            return delta.matmul(feedback), None, None, None
        grad_x = torch.ops.aten.convolution_backward(
            delta, x, feedback, None, layer.stride, layer.padding, layer.dilation, False, [0, 0], layer.groups,
            [True, False, False])[0]
        return grad_x, None, None, None


def feedback_aligned(layer: nn.Module, x: torch.Tensor, feedback: torch.Tensor) -> torch.Tensor:
    """`layer(x)` in value; its weight gets the usual gradient, but x's gradient goes through `feedback`.

    value = layer(stopgrad(x)) + (x ∗ B − stopgrad(x ∗ B)); the bracket is zero but carries dL/dx = δ B
    (`_ErrorThroughB`: its value is never computed). A learned B (KP) gets δᵀx, exactly W's gradient, from W's
    product, with W + (B − stopgrad(B)) in place of W (the same value), so the weight gradient is computed once.
    """
    if not x.requires_grad:  # no error reaches x (a layer fed by the image, or no autograd): the layer itself
        return type(layer).forward(layer, x)
    if not _written_out(layer):  # padding by name or mode: the bracket as written, its gradients by autograd
        out = type(layer).forward(layer, x.detach())
        through_b = F.conv2d(x, feedback, None, layer.stride, layer.padding, layer.dilation, layer.groups)
        return out + (through_b - through_b.detach())
    weight = layer.weight
    if feedback.requires_grad:  # a learned B (KP): W's product gives it W's gradient
        weight, feedback = weight + (feedback - feedback.detach()), feedback.detach()
    out = _forward_with(layer, x.detach(), weight)
    return out + _ErrorThroughB.apply(x, feedback, out, layer)


@contextmanager
def feedback_paths(pairs: dict):
    """Inside, each layer of `pairs` {layer: B} computes `feedback_aligned(layer, x, B)` wherever the network
    calls it (its hooks still run), so the network's own forward builds FA's objective."""
    for layer, feedback in pairs.items():
        layer.forward = lambda x, layer=layer, feedback=feedback: feedback_aligned(layer, x, feedback)
    try:
        yield
    finally:
        for layer in pairs:
            del layer.forward


def layers_receiving_errors(model) -> list[str]:
    """Names of the weight layers whose input carries a gradient when the image does not: every layer but
    those that read the image (they need no feedback)."""
    layers, receives = model.weight_layers(), {}

    def note(name):
        def hook(_module, inputs, _output):
            receives.setdefault(name, inputs[0].requires_grad)
        return hook
    hooks = [layer.register_forward_hook(note(name)) for name, layer in layers.items()]
    try:
        with torch.enable_grad(), eval_mode(model):
            model(zero_images(model))
    finally:
        for hook in hooks:
            hook.remove()
    return [name for name in layers if receives.get(name)]


class FA(Rule):
    name = "fa"
    label = "FA"
    color = "#E69F00"  # Okabe & Ito orange
    spiking = False  # a spiking block's input gradient through B would need BPTT across blocks
    layer_wise = True

    def init_feedback(self, model) -> None:
        layers = model.weight_layers()
        for name in layers_receiving_errors(model):
            model.feedback.add(name, self.stored_feedback(layers[name].weight), trainable=self.trainable_feedback)

    def stored_feedback(self, weight: torch.Tensor) -> torch.Tensor:
        """What `model.feedback` keeps for a layer of `weight`: FA's fixed random B, drawn by PyTorch's
        weight-init law."""
        feedback = torch.empty_like(weight)
        nn.init.kaiming_uniform_(feedback, a=math.sqrt(5))
        return feedback

    def backward_weight(self, stored: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The matrix the error travels back through, in place of Wᵀ: FA's B itself."""
        return stored

    def feedback_matrices(self, model, names=None, layers=None) -> dict:
        """{layer: the backward weight B it uses now} of the layers `names` (default: every layer with feedback);
        `layers`: `model.weight_layers()`, when the caller has it."""
        layers = layers or model.weight_layers()
        names = [name for name in layers if name in model.feedback] if names is None else names
        return {name: self.backward_weight(model.feedback[name], layers[name].weight.detach()) for name in names}

    def feedback_targets(self, model, images) -> dict:
        """B_l carries the error from layer l's output back to its input in place of W_lᵀ: its target is W_l,
        the forward weight of the same layer."""
        return {name: layer.weight.detach() for name, layer in model.weight_layers().items()
                if name in model.feedback}

    def objective(self, model, images, labels) -> Objective:
        layers = model.weight_layers()
        backward = self.feedback_matrices(model, layers=layers)
        with feedback_paths({layers[name]: matrix for name, matrix in backward.items()}):
            logits = model(images)
        loss = F.cross_entropy(logits, labels)
        return Objective(loss, loss, logits)
