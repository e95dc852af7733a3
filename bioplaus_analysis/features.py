"""Layer features of a trained model on a fixed sample: what RDMs and embeddings are computed from.

A bioplaus network: every hidden block's output (post-activation, after pooling where the block pools), or
its spike counts over the T steps when it spikes. Any other module: the submodules named, read by forward
hooks (a spiking library's layers as spike counts). The first layer is the input pixels and the last (`out`)
the output probabilities.
"""

from functools import lru_cache
from typing import NamedTuple

import numpy as np
import torch

from trainers import ConfigError, eval_mode, load_dataset, model_device, stratified_sample
from trainers.precision import full_precision

from .outputs import layer_feature, logits_of, spiking_layer


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
    return sample_of(images, labels, per_class, seed, "--per-class", f"test images of the rarest class of {dataset}")


def sample_of(images, labels, per_class: int, seed: int, flag: str, which: str) -> Sample:
    """`per_class` of `images` per class (stratified, fixed by `seed`); one ConfigError naming `flag` and the
    largest value it may take when the rarest class (`which` images) has fewer."""
    smallest = int(torch.bincount(labels).min())
    if per_class > smallest:
        raise ConfigError(f"{flag} {per_class} is more than the {smallest} {which}; pass at most {smallest}")
    index = stratified_sample(labels, per_class, seed)
    return Sample(images[index], labels[index], index)


def named_layers(model, layers) -> dict:
    """{name: submodule} to record: a bioplaus network's hidden blocks by default (a `foreign.Foreign` module's
    own layers), else the `layers` named as `named_modules()` names them (in a wrapped network, also as its own
    module names them)."""
    layers = getattr(model, "recorded_layers", None) if layers is None else layers
    if layers is None:
        if not hasattr(model, "hidden_names"):
            children = ", ".join(name for name, _ in model.named_children())
            raise ConfigError(f"{type(model).__name__} is not a bioplaus network: name the layers to record, e.g. "
                              f"layers=[...] of its submodules ({children})")
        return {name: model.blocks[name] for name in model.hidden_names}
    if isinstance(layers, str) or not layers:
        raise ConfigError(f"layers must be a list of submodule names, got {layers!r}")
    named = {**dict(getattr(model, "module", model).named_modules()), **dict(model.named_modules()),
             **dict(getattr(model, "blocks", {}))}
    missing = [name for name in layers if name not in named or name in ("", "input", "out")]
    if missing:
        raise ConfigError(f"{type(model).__name__} has no layer {', '.join(map(repr, missing))} to record (names as "
                          f"in named_modules(); 'input' and 'out' are recorded anyway)")
    return {name: named[name] for name in layers}


class _Recorder:
    """Forward hooks that add each call's feature of every named layer (`outputs.layer_feature`: a spiking
    layer's spikes, so a layer stepped through time gives its spike count) into one tensor per batch."""

    def __init__(self, layers: dict):
        self.batch, self.parts = {}, {name: [] for name in layers}
        self.handles = [module.register_forward_hook(self._hook(name)) for name, module in layers.items()]
        self.spiking = any(spiking_layer(module) is not None for module in layers.values())

    def _hook(self, name):
        def hook(module, _inputs, output):
            feature = layer_feature(module, output)
            self.batch[name] = feature if name not in self.batch else self.batch[name] + feature
        return hook

    def end_batch(self) -> None:
        for name, feature in self.batch.items():
            self.parts[name].append(feature)
        self.batch = {}

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


def _builtin_spikes(model, images, batch_size) -> tuple[dict, torch.Tensor]:
    """A bioplaus spiking network's hidden spike counts {block: [chunks]} and logits, without hooks."""
    parts, logits = {name: [] for name in model.hidden_names}, []
    for start in range(0, len(images), batch_size):
        record = model.record(images[start:start + batch_size])
        for name, counts in record.counts.items():
            parts[name].append(counts)
        logits.append(record.logits)
    return parts, torch.cat(logits)


@torch.no_grad()
@full_precision()
def record_features(model, images, labels, batch_size: int = 500, layers=None, output=None) -> Features:
    """The input, every recorded layer's output and the output probabilities for `images`, in eval mode and full
    float32, batched, on the model's device. `layers`: names of any module's submodules (default: a bioplaus
    network's hidden blocks); `output` turns the model's output into logits (`outputs.logits_of`). A spiking
    layer's feature is its spike count over time, wherever its library steps it (`outputs.SPIKING_LAYERS`)."""
    device, classifier = model_device(model), logits_of(model, output)
    images = images.to(device)
    with eval_mode(model):
        if layers is None and hasattr(model, "record"):  # a bioplaus spiking network counts its own spikes
            parts, logits = _builtin_spikes(model, images, batch_size)
            measure = "spike count"
        else:
            recorder = _Recorder(named_layers(model, layers))
            try:
                logits = []
                for start in range(0, len(images), batch_size):
                    logits.append(classifier(images[start:start + batch_size]))
                    recorder.end_batch()
            finally:
                recorder.close()
            parts, logits = recorder.parts, torch.cat(logits)
            measure = "spike count" if recorder.spiking else "activation"
    parts = {"input": [images], **parts, "out": [torch.softmax(logits.float(), dim=1)]}
    layers = {name: torch.cat([p.flatten(1).float() for p in chunks]).cpu().numpy() for name, chunks in parts.items()}
    return Features(layers, np.asarray(torch.as_tensor(labels).cpu()), measure)


@torch.no_grad()
@full_precision()
def spike_raster(model, image) -> dict:
    """{spiking layer: bool [T, neurons]} spike trains of one image of a spiking network, in eval mode: a
    bioplaus network's hidden blocks, or the spiking layers among any module's recorded layers (hooks)."""
    image = image[None].to(model_device(model))
    with eval_mode(model):
        if hasattr(model, "record"):
            record = model.record(image, spikes=True)
            return {name: train[:, 0].flatten(1).cpu().numpy() for name, train in record.spikes.items()}
        return _hooked_trains(model, image)


def _hooked_trains(model, image) -> dict:
    """Each call's spikes of every spiking layer that `model` records, stacked over its calls (the time steps)."""
    layers = {name: m for name, m in named_layers(model, None).items() if spiking_layer(m) is not None}
    calls = {name: [] for name in layers}

    def hook(name):
        def record(module, _inputs, output):
            spikes = spiking_layer(module).spikes(module, output)
            calls[name].extend(spikes.unbind(0) if spiking_layer(module).time_first(module) else [spikes])
        return record
    handles = [module.register_forward_hook(hook(name)) for name, module in layers.items()]
    try:
        model(image)
    finally:
        for handle in handles:
            handle.remove()
    return {name: torch.stack([s[0].flatten() for s in steps]).bool().cpu().numpy() for name, steps in calls.items()}
