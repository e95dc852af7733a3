"""Per-layer gradient statistics of a learning rule: signal-to-noise ratio of its per-sample updates
and the cosine between its update and the true BP gradient at the same weights.

SNR without one backward per sample: one backward of the rule's surrogate objective on a batch,
stopping at each weight layer's output (δ; a hook keeps the layer's input x). A
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

from trainers import ConfigError, block_cosines, eval_mode, rule_update
from trainers.nets.base import WEIGHT_LAYERS, block_weight_layers, parameter_names
from trainers.precision import full_precision
from trainers.rules import measuring


def _conv_row_grads(module: nn.Conv2d, x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Weight gradient of every row of a conv layer [rows, out, in, kh, kw]: one batched product per
    kernel offset over strided views of x (about 3x faster on CPU than unfolding x into patches)."""
    if module.groups != 1 or isinstance(module.padding, str):
        raise ConfigError("gradient SNR supports ungrouped Conv2d layers with numeric padding")
    (ph, pw), (sh, sw), (dh, dw) = module.padding, module.stride, module.dilation
    kh, kw = module.kernel_size
    x = F.pad(x, (pw, pw, ph, ph)) if ph or pw else x
    rows, channels = x.shape[:2]
    hout, wout = delta.shape[2:]
    d = delta.reshape(rows, delta.shape[1], hout * wout)
    out = x.new_empty(rows, delta.shape[1], channels, kh, kw)
    for i in range(kh):
        for j in range(kw):
            window = x[:, :, i * dh:i * dh + sh * (hout - 1) + 1:sh, j * dw:j * dw + sw * (wout - 1) + 1:sw]
            out[..., i, j] = torch.bmm(d, window.reshape(rows, channels, -1).transpose(1, 2))
    return out


def _row_grads(module: nn.Module, x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """[rows, *weight.shape]: the weight gradient contributed by each row of a layer's input."""
    if isinstance(module, nn.Linear):
        d = delta.reshape(len(delta), -1, delta.shape[-1]).transpose(1, 2)
        return torch.bmm(d, x.reshape(len(x), -1, x.shape[-1]))
    if isinstance(module, nn.Conv2d):
        return _conv_row_grads(module, x, delta)
    raise ConfigError(f"gradient SNR supports Linear and Conv2d layers, not {type(module).__name__}")


class _LayerTaps:
    """Forward hooks on every weight layer of every block that keep (layer, input, output) of each call made
    with autograd on, by (block, layer path); a layer called on [k·N, …] rows (spiking, over k steps) too.
    A spiking network calls its Linear layers while tapped (`fused_linear_drive` off), so the hooks see them."""

    def __init__(self, model):
        self.calls = defaultdict(list)
        self.handles = [layer.register_forward_hook(self._hook((name, path)))
                        for name, block in model.blocks.items() for path, layer in block_weight_layers(block).items()]
        self.model, self.fused = model, getattr(model, "fused_linear_drive", None)
        if self.fused is not None:
            model.fused_linear_drive = False

    def _hook(self, name):
        def hook(module, inputs, output):
            if output.requires_grad:
                self.calls[name].append((module, inputs[0].detach(), output))
        return hook

    def close(self):
        for handle in self.handles:
            handle.remove()
        if self.fused is not None:
            self.model.fused_linear_drive = self.fused


def _output_gradients(model, images, labels) -> dict:
    """{(block, layer path): [(layer, input, ∂surrogate/∂output)]} of the model's rule on one batch: one backward
    that stops at the weight layers' outputs (the weight gradients themselves are never formed)."""
    taps = _LayerTaps(model)
    try:
        with measuring(model, images):
            surrogate = model.rule.objective(model, images, labels).surrogate
            calls = [(name, call) for name, block_calls in taps.calls.items() for call in block_calls]
            grads = torch.autograd.grad(surrogate, [output for _, (_, _, output) in calls], allow_unused=True)
    finally:
        taps.close()
    pairs = defaultdict(list)
    for (name, (module, x, output)), grad in zip(calls, grads):
        pairs[name].append((module, x, torch.zeros_like(output) if grad is None else grad))
    missing = [name for name in model.blocks if not any(block == name for block, _ in pairs)]
    if missing and model.rule.trains_hidden:  # the readout control leaves its hidden blocks alone
        raise ConfigError(f"blocks {missing} receive no update from rule {model.rule.name!r}")
    return pairs


def _sample_grads(pairs, n: int, start: int, stop: int) -> torch.Tensor:
    """g_i = n · Σ δ_i x_i for samples start..stop, summed over a layer's calls and over the k rows
    per sample of a spiking layer (rows ordered (step, sample), as x.flatten(0, 1) of [T, N, …])."""
    total = 0.0
    for module, x, delta in pairs:
        if len(x) % n:
            raise ConfigError(f"a layer saw {len(x)} rows for {n} samples; cannot split them per sample")
        k = len(x) // n
        rows_x = x.unflatten(0, (k, n))[:, start:stop].flatten(0, 1)
        rows_delta = delta.unflatten(0, (k, n))[:, start:stop].flatten(0, 1)
        total = total + _row_grads(module, rows_x, rows_delta).unflatten(0, (k, stop - start)).sum(0)
    return total * n


def _moments(pairs, n: int, chunk: int = 64):
    """(Σ_i g_i, Σ_i g_i²) in float64 of the per-sample weight updates g_i (the n in g_i undoes the
    batch mean of the loss, so g_i is the update for sample i's own loss)."""
    module, x, delta = pairs[0]
    shape = module.weight.shape
    if len(pairs) == 1 and isinstance(module, nn.Linear) and x.dim() == 2 and len(x) == n:
        d64, x64 = delta.double() * n, x.double()  # one outer product per sample
        return d64.T @ x64, (d64 * d64).T @ (x64 * x64)
    total = torch.zeros(shape, dtype=torch.float64, device=x.device)
    squares = torch.zeros_like(total)
    for start in range(0, n, chunk):
        g = _sample_grads(pairs, n, start, min(start + chunk, n)).double()
        total += g.sum(0)
        squares += (g * g).sum(0)
    return total, squares


@full_precision()
def per_sample_moments(model, images, labels, batch_size: int = 250) -> dict:
    """{block: (mean, variance) of the rule's per-sample weight updates} over `images`, float64: the weight's
    shape where the block has one weight layer, else every layer's weights flattened and joined.

    The model is put in eval mode (BatchNorm's running statistics), so that each sample's update
    depends on that sample only; a sample's update is the gradient of its own loss. Full float32 (no TF32)."""
    sums, n_total = {}, 0
    with eval_mode(model):
        for start in range(0, len(images), batch_size):
            x, y = images[start:start + batch_size], labels[start:start + batch_size]
            for key, pairs in _output_gradients(model, x, y).items():
                total, squares = _moments(pairs, len(x))
                previous = sums.get(key, (0.0, 0.0))
                sums[key] = (previous[0] + total, previous[1] + squares)
            n_total += len(x)
    moments = defaultdict(list)
    for (block, _), (total, squares) in sums.items():
        moments[block].append((total / n_total, (squares / n_total - (total / n_total) ** 2).clamp_min(0.0)))
    return {block: layers[0] if len(layers) == 1 else tuple(torch.cat([m[i].flatten() for m in layers]) for i in (0, 1))
            for block, layers in moments.items()}


def snr_from_moments(mean: torch.Tensor, variance: torch.Tensor, eps: float = 1e-8) -> float:
    """mean over weights of |E[g]| / (std[g] + eps); a weight that never moves (0/0) counts as 0."""
    ratio = mean.abs() / (variance.sqrt() + eps)
    return float(torch.where(mean == 0, torch.zeros_like(ratio), ratio).mean())


def _check_batch(images, labels):
    if len(images) != len(labels):
        raise ConfigError(f"{len(images)} images but {len(labels)} labels")
    if len(images) < 2:
        raise ConfigError("gradient SNR needs at least 2 samples")


def weight_groups(model, weights_only: bool = True) -> dict[str, list[str]]:
    """{block: parameter names} of a bioplaus network's blocks, else {layer: parameter names} of each conv and
    linear layer of any module by its `named_modules()` name; only the conv and linear weights (the SNR's
    definition) or every parameter (the cosine's, as `block_cosines`)."""
    if hasattr(model, "blocks"):
        groups = {name: block for name, block in model.blocks.items()}
    else:
        groups = {path: m for path, m in model.named_modules() if isinstance(m, WEIGHT_LAYERS)}
    if not weights_only:
        return {name: parameter_names(model, module) for name, module in groups.items()}
    return {name: [key for layer in block_weight_layers(module).values() for key in parameter_names(model, layer)
                   if key.endswith("weight")] for name, module in groups.items()}


def gradient_snr(model, images, labels, eps: float = 1e-8, batch_size: int = 250, update=None) -> dict[str, float]:
    """{block: mean over its weights of |mean_i g_i| / (std_i g_i + eps)}, g_i the rule's update
    for sample i (population std over samples; the weight matrix or kernel, biases excluded). `update(model,
    images, labels)` → {parameter name: update}: a rule of your own, on any module, by one pass per sample."""
    _check_batch(images, labels)
    if not eps >= 0:
        raise ConfigError(f"eps must be non-negative, got {eps}")
    if update is not None:
        return gradient_snr_loop(model, images, labels, eps, update)
    moments = per_sample_moments(model, images, labels, batch_size)
    snr = {name: snr_from_moments(mean, variance, eps) for name, (mean, variance) in moments.items()}
    return {name: snr.get(name, 0.0) for name in model.blocks}  # a block the rule leaves alone: no update, SNR 0


def _joined(update: dict, keys, params: dict) -> torch.Tensor:
    """The updates of `keys` flattened into one float64 vector (zeros, shaped as in `params`, where `update`
    has none)."""
    return torch.cat([(update[key] if key in update else torch.zeros_like(params[key])).double().flatten()
                      for key in keys])


@full_precision()
def gradient_snr_loop(model, images, labels, eps: float = 1e-8, update=None) -> dict[str, float]:
    """The same SNR by its definition, one update per sample (full float32): the reference for tests and
    benchmarks, and the route for any `update(model, images, labels)` (default: the model's rule's)."""
    _check_batch(images, labels)
    update, keys, params = update or rule_update, weight_groups(model), dict(model.named_parameters())
    per_sample = defaultdict(list)
    with eval_mode(model):
        for i in range(len(images)):
            step = update(model, images[i:i + 1], labels[i:i + 1])
            for name, group in keys.items():
                per_sample[name].append(_joined(step, group, params))
    result = {}
    for name, grads in per_sample.items():
        g = torch.stack(grads)
        result[name] = snr_from_moments(g.mean(0), g.var(0, unbiased=False), eps)
    return result


def bp_cosines(model, images, labels, batch_size: int = 100, update=None) -> dict[str, dict]:
    """{block: {"mean", "sem", "n_batches"}} of cos(rule update, BP gradient) over batches, at the
    model's weights in eval mode (the same network, weights and batch for both). Batch k takes every n-th image
    from the k-th, so that on a class-grouped sample (the analysis's) every batch holds every class alike, as
    the batch measured while training does. `update(model, images, labels)` → {parameter name: update}: a rule
    of your own on any module, compared per weight group."""
    batch_size = min(batch_size, len(images))
    batches = len(images) // batch_size
    per_block, groups = defaultdict(list), weight_groups(model, weights_only=False)
    with eval_mode(model):
        for k in range(batches):
            index = torch.arange(k, len(images), batches, device=images.device)[:batch_size]
            batch = block_cosines(model, images[index], labels[index], update, groups)
            for name, value in batch.items():
                per_block[name].append(value)
    out = {}
    for name, values in per_block.items():
        values = np.asarray(values)
        sem = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")
        out[name] = {"mean": float(values.mean()), "sem": sem, "n_batches": len(values)}
    return out
