"""Layer features of a trained model on a fixed sample: what RDMs and embeddings are computed from.

CNN/MLP: every block's output (post-activation, after pooling where the block pools), read by
forward hooks; SNN: every hidden block's spike counts over the T steps. The first layer is the
input pixels and the last (`out`) the output probabilities.
"""

from functools import lru_cache
from typing import NamedTuple

import numpy as np
import torch

from trainers import ConfigError, eval_mode, load_dataset, model_device, stratified_sample
from trainers.precision import full_precision


class Sample(NamedTuple):
    """Test images chosen `per_class` per class with `seed`, grouped by class; `index` into the split."""
    images: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor


class Features(NamedTuple):
    """`layers` maps a layer name ("input", block names, "out") to an [n, features] float32 array."""
    layers: dict
    labels: np.ndarray
    measure: str  # what the hidden features are: "activation" or "spike count"


@lru_cache(maxsize=None)
def rarest_class_count(dataset: str, data_dir=None) -> int:
    """How many test images the rarest class of `dataset` has (read once per dataset and folder)."""
    return int(torch.bincount(load_dataset(dataset, "test", data_dir)[1]).min())


def analysis_sample(dataset: str, per_class: int, seed: int = 0, data_dir=None) -> Sample:
    """`per_class` test images of every class (stratified, fixed by `seed`) of `dataset`."""
    images, labels = load_dataset(dataset, "test", data_dir)
    smallest = int(torch.bincount(labels).min())
    if per_class > smallest:
        raise ConfigError(f"--per-class {per_class} is more than the {smallest} test images of the rarest "
                          f"class of {dataset}; pass at most {smallest}")
    index = stratified_sample(labels, per_class, seed)
    return Sample(images[index], labels[index], index)


def _record_batch(model, batch, parts: dict, spiking: bool) -> None:
    """Append one batch's layers to `parts`: spike counts of an SNN's hidden blocks (hooks record a
    CNN's), its input and the output probabilities."""
    parts["input"].append(batch)
    if spiking:
        record = model.record(batch)
        for name, counts in record.counts.items():
            parts[name].append(counts)
        logits = record.logits
    else:
        logits = model(batch)
    parts["out"].append(torch.softmax(logits.float(), dim=1))


@torch.no_grad()
@full_precision()
def record_features(model, images, labels, batch_size: int = 500) -> Features:
    """Every layer's output for `images` in eval mode and full float32, batched, on the model's device."""
    device, spiking = model_device(model), model.spiking
    parts = {name: [] for name in ["input", *model.hidden_names, "out"]}
    hooks = [] if spiking else [
        model.blocks[name].register_forward_hook(lambda _m, _i, output, name=name: parts[name].append(output))
        for name in model.hidden_names]
    try:
        with eval_mode(model):
            for start in range(0, len(images), batch_size):
                _record_batch(model, images[start:start + batch_size].to(device), parts, spiking)
    finally:
        for hook in hooks:
            hook.remove()
    layers = {name: torch.cat([p.flatten(1).float() for p in chunks]).cpu().numpy()
              for name, chunks in parts.items()}
    return Features(layers, np.asarray(torch.as_tensor(labels).cpu()), "spike count" if spiking else "activation")


@torch.no_grad()
@full_precision()
def spike_raster(model, image) -> dict:
    """{hidden block: bool [T, neurons]} spike trains of one image of a spiking network, in eval mode."""
    with eval_mode(model):
        record = model.record(image[None].to(model_device(model)), spikes=True)
    return {name: train[:, 0].flatten(1).cpu().numpy() for name, train in record.spikes.items()}
