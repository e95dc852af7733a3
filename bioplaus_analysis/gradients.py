"""Per-layer gradient statistics of a learning rule: signal-to-noise ratio of its per-sample updates
and the cosine between its update and the true BP gradient at the same weights.

SNR without one backward per sample: one backward of the rule's surrogate objective on a batch,
with hooks that keep each weight layer's input x and the gradient δ reaching its output. A
sample's update of a linear layer is then the outer product δ_iᵀ x_i, so its first and second
moments are δᵀx/N and (δ∘δ)ᵀ(x∘x)/N; conv layers (x unfolded into patches) and spiking layers
(several time steps per sample) take one batched product per sample block instead.
"""

import math
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trainers.alignment import block_cosines
from trainers.errors import ConfigError
from trainers.models import weight_layer
from trainers.rules import rule_update


def _per_row(module: nn.Module, x: torch.Tensor, delta: torch.Tensor):
    """(δ [rows, positions, out], x [rows, positions, in]): the weight gradient is Σ_positions δᵀx."""
    if isinstance(module, nn.Linear):
        return delta.reshape(len(delta), -1, delta.shape[-1]), x.reshape(len(x), -1, x.shape[-1])
    if isinstance(module, nn.Conv2d) and module.groups == 1 and isinstance(module.padding, tuple):
        patches = F.unfold(x, module.kernel_size, module.dilation, module.padding, module.stride)
        return delta.flatten(2).transpose(1, 2), patches.transpose(1, 2)
    raise ConfigError(f"gradient SNR supports Linear and ungrouped Conv2d layers, not {type(module).__name__}")


class _LayerTaps:
    """Forward hooks on every block's weight layer that keep (input, output gradient) of each call
    made with autograd on; a block called on [k·N, …] rows (a spiking layer over k steps) is kept too."""

    def __init__(self, model):
        self.pairs = defaultdict(list)
        self.handles = [weight_layer(block).register_forward_hook(self._hook(name))
                        for name, block in model.blocks.items()]

    def _hook(self, name):
        def hook(module, inputs, output):
            if output.requires_grad:
                x = inputs[0].detach()
                output.register_hook(lambda grad: self.pairs[name].append((module, x, grad.detach())))
        return hook

    def close(self):
        for handle in self.handles:
            handle.remove()


def _moments(pairs, n: int, chunk: int = 64):
    """(Σ_i g_i, Σ_i g_i²) in float64 of the per-sample weight updates g_i = n · Σ δ_iᵀ x_i."""
    deltas, inputs = [], []
    for module, x, delta in pairs:
        d, u = _per_row(module, x, delta)
        if len(d) % n:
            raise ConfigError(f"a layer saw {len(d)} rows for {n} samples; cannot split them per sample")
        # rows are (step, sample) in that order, as in x.flatten(0, 1) of a [T, N, …] tensor
        deltas.append(d.unflatten(0, (-1, n)).transpose(0, 1).flatten(1, 2))
        inputs.append(u.unflatten(0, (-1, n)).transpose(0, 1).flatten(1, 2))
    d, u = torch.cat(deltas, 1) * n, torch.cat(inputs, 1)  # [n, positions, out], [n, positions, in]
    shape = pairs[0][0].weight.shape
    if d.shape[1] == 1:  # one outer product per sample
        d64, u64 = d[:, 0].double(), u[:, 0].double()
        return (d64.T @ u64).reshape(shape), ((d64 * d64).T @ (u64 * u64)).reshape(shape)
    total = torch.zeros(shape, dtype=torch.float64, device=d.device)
    squares = torch.zeros_like(total)
    for start in range(0, n, chunk):
        g = torch.bmm(d[start:start + chunk].transpose(1, 2), u[start:start + chunk]).double()
        total += g.sum(0).reshape(shape)
        squares += (g * g).sum(0).reshape(shape)
    return total, squares


def per_sample_moments(model, images, labels, batch_size: int = 250) -> dict:
    """{block: (mean, variance) of the rule's per-sample weight updates} over `images`, float64.

    The model is put in eval mode (BatchNorm's running statistics), so that each sample's update
    depends on that sample only; a sample's update is the gradient of its own loss."""
    was_training = model.training
    model.eval()
    sums, n_total = {}, 0
    try:
        for start in range(0, len(images), batch_size):
            x, y = images[start:start + batch_size], labels[start:start + batch_size]
            taps = _LayerTaps(model)
            try:
                rule_update(model, x, y)
            finally:
                taps.close()
            for name in model.blocks:
                if not taps.pairs[name]:
                    raise ConfigError(f"block {name!r} received no update from rule {model.rule!r}")
                total, squares = _moments(taps.pairs[name], len(x))
                previous = sums.get(name, (0.0, 0.0))
                sums[name] = (previous[0] + total, previous[1] + squares)
            n_total += len(x)
    finally:
        model.train(was_training)
    return {name: (total / n_total, (squares / n_total - (total / n_total) ** 2).clamp_min(0.0))
            for name, (total, squares) in sums.items()}


def snr_from_moments(mean: torch.Tensor, variance: torch.Tensor, eps: float = 1e-8) -> float:
    """mean over weights of |E[g]| / (std[g] + eps); a weight that never moves (0/0) counts as 0."""
    ratio = mean.abs() / (variance.sqrt() + eps)
    return float(torch.where(mean == 0, torch.zeros_like(ratio), ratio).mean())


def _check_batch(images, labels):
    if len(images) != len(labels):
        raise ConfigError(f"{len(images)} images but {len(labels)} labels")
    if len(images) < 2:
        raise ConfigError("gradient SNR needs at least 2 samples")


def gradient_snr(model, images, labels, eps: float = 1e-8, batch_size: int = 250) -> dict[str, float]:
    """{block: mean over its weights of |mean_i g_i| / (std_i g_i + eps)}, g_i the rule's update
    for sample i (population std over samples; the weight matrix or kernel, biases excluded)."""
    _check_batch(images, labels)
    if not eps >= 0:
        raise ConfigError(f"eps must be non-negative, got {eps}")
    moments = per_sample_moments(model, images, labels, batch_size)
    return {name: snr_from_moments(mean, variance, eps) for name, (mean, variance) in moments.items()}


def gradient_snr_loop(model, images, labels, eps: float = 1e-8) -> dict[str, float]:
    """The same SNR by its definition, one backward per sample: the reference for tests and benchmarks."""
    _check_batch(images, labels)
    was_training = model.training
    model.eval()
    try:
        keys = {name: f"blocks.{name}.{n}.weight" for name, block in model.blocks.items()
                for n, m in block.named_children() if m is weight_layer(block)}
        per_sample = defaultdict(list)
        for i in range(len(images)):
            update = rule_update(model, images[i:i + 1], labels[i:i + 1])
            for name, key in keys.items():
                per_sample[name].append(update[key].double())
    finally:
        model.train(was_training)
    result = {}
    for name, grads in per_sample.items():
        g = torch.stack(grads)
        result[name] = snr_from_moments(g.mean(0), g.var(0, unbiased=False), eps)
    return result


def bp_cosines(model, images, labels, batch_size: int = 100) -> dict[str, dict]:
    """{block: {"mean", "sem", "n_batches"}} of cos(rule update, BP gradient) over batches, at the
    model's weights in eval mode (the same network, weights and batch for both)."""
    if len(images) < batch_size:
        batch_size = len(images)
    was_training = model.training
    model.eval()
    per_block = defaultdict(list)
    try:
        for start in range(0, len(images) - batch_size + 1, batch_size):
            batch = block_cosines(model, images[start:start + batch_size], labels[start:start + batch_size])
            for name, value in batch.items():
                per_block[name].append(value)
    finally:
        model.train(was_training)
    out = {}
    for name, values in per_block.items():
        values = np.asarray(values)
        sem = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")
        out[name] = {"mean": float(values.mean()), "sem": sem, "n_batches": len(values)}
    return out
