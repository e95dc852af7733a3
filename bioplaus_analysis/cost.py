"""What each network costs to run and to train: one training step's time, peak memory and matrix-product
operations (each rule's own step, relative to BP's in the same analysis), and the operations of inference per
weight layer (a spike into a layer costs one accumulate per connection it reaches; an analog input, one
multiply-accumulate per connection), the numbers SNN energy estimates start from. Section "cost" of
results.json and cost.csv; drawn as the `cost` figure."""

import copy
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function
from torch.utils.flop_counter import FlopCounterMode

from trainers import training_step
from trainers.nets.base import WEIGHT_LAYERS, NetworkBase

WARMUP, TIMED = 2, 5  # steps before timing (allocator, optimiser state), timed steps per run (their median)


def weight_layers_of(model: nn.Module) -> dict[str, nn.Module]:
    """{name: conv or linear layer}: a bioplaus network's `weight_layers`, else every one inside the module."""
    if isinstance(model, NetworkBase):
        return model.weight_layers()
    inner = getattr(model, "module", model)  # a Foreign: the network it wraps
    return {name: m for name, m in inner.named_modules() if isinstance(m, WEIGHT_LAYERS)}


def _connections(layer: nn.Module, active: torch.Tensor) -> float:
    """Σ over the inputs of `active` (counts in the layer's input shape) × the outputs each one reaches."""
    if isinstance(layer, nn.Linear):
        return float(active.sum()) * layer.out_features
    ones = torch.ones(layer.out_channels, layer.in_channels // layer.groups, *layer.kernel_size,
                      dtype=active.dtype, device=active.device)
    reached = F.conv2d(active, ones, None, layer.stride, layer.padding, layer.dilation, layer.groups)
    return float(reached.sum())


def spike_counts(x: torch.Tensor, time_steps: int | None) -> torch.Tensor | None:
    """The spikes an input stands for: itself when binary (one step's spikes), x·T when it holds firing rates
    over T steps (multiples of 1/T, e.g. a readout of the mean firing); None for any other (analog) input."""
    if x.dtype == torch.bool or bool(((x == 0) | (x == 1)).all()):
        return x.float()
    if time_steps:
        counts = x.float() * time_steps
        if bool((counts >= 0).all()) and bool(((counts - counts.round()).abs() < 1e-3).all()):
            return counts.round()
    return None


@contextmanager
def counting_operations(model: nn.Module):
    """Inside, every call of the model's weight layers adds to the yielded {layer: {"accumulates",
    "multiply_accumulates"}} (totals over the calls): each input spike costs one accumulate per connection it
    reaches (its fan-out, the synaptic operations of SNN papers); an analog input, one multiply-accumulate per
    connection."""
    layers = weight_layers_of(model)
    counts = {name: {"accumulates": 0.0, "multiply_accumulates": 0.0} for name in layers}
    steps = getattr(model, "time_steps", None) if getattr(model, "spiking", False) else None

    def hook(name, layer):
        def count(_module, inputs):
            with torch.no_grad():
                x = inputs[0].detach()
                spikes = spike_counts(x, steps)
                key = "multiply_accumulates" if spikes is None else "accumulates"
                dtype = layer.weight.dtype
                active = torch.ones_like(x, dtype=dtype) if spikes is None else spikes.to(dtype)
                counts[name][key] += _connections(layer, active)
        return count

    handles = [layer.register_forward_pre_hook(hook(name, layer)) for name, layer in layers.items()]
    try:
        yield counts
    finally:
        for handle in handles:
            handle.remove()


def layer_operations(model: nn.Module, images: torch.Tensor, batch_size: int = 500) -> dict[str, dict]:
    """{weight layer: {"accumulates", "multiply_accumulates"} per image} of inference on `images`, every call of
    the layer counted (`counting_operations`)."""
    with counting_operations(model) as counts, torch.no_grad():
        for start in range(0, len(images), batch_size):
            model(images[start:start + batch_size])
    return {name: {key: value / len(images) for key, value in c.items()} for name, c in counts.items()}


def _synchronized(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Step:
    """A copy of a run's network with its own optimisers (the run's optimiser, learning rates and rule), taking
    training steps on one fixed batch: the analysed network itself never changes."""

    def __init__(self, model, config: dict, images, labels):
        self.model = copy.deepcopy(model).train()
        self.step = training_step(self.model, config, steps=WARMUP + TIMED + 2)
        pick = torch.arange(config["batch_size"], device=images.device) % len(images)
        self.images, self.labels = images[pick], labels[pick]

    def __call__(self):
        self.step(self.images, self.labels)

    def seconds(self, device) -> float:
        _synchronized(device)
        start = time.perf_counter()
        self()
        _synchronized(device)
        return time.perf_counter() - start


@contextmanager
def _quiet_stderr():
    """The process's stderr (file descriptor 2) sent to /dev/null: the profiler's library prints a line as it
    starts and stops."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _profiled_peak(step: _Step) -> int:
    """CPU: bytes the second of two profiled steps allocates at its peak beyond what was live when it began
    (every block it frees was allocated under the profiler, so the count is exact)."""
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
        with record_function("measured step"):
            step()
    with tempfile.TemporaryDirectory() as folder:
        trace = Path(folder) / "trace.json"
        prof.export_chrome_trace(str(trace))
        events = json.loads(trace.read_text())["traceEvents"]
    span = next(e for e in events if e.get("name") == "measured step" and e.get("ph") == "X")
    end = span["ts"] + span["dur"]
    memory = sorted((e["ts"], e["args"]["Total Allocated"]) for e in events if e.get("name") == "[memory]")
    before = [total for ts, total in memory if ts < span["ts"]]
    inside = [total for ts, total in memory if span["ts"] <= ts <= end]
    start = before[-1] if before else 0
    return max([start, *inside]) - start


def peak_step_bytes(step: _Step, device) -> int:
    """Memory one training step needs at its peak beyond what lives between steps (weights, optimiser state):
    CUDA's `max_memory_allocated`, the CPU's allocations as the profiler records them."""
    if device.type != "cuda":
        return _profiled_peak(step)
    step()
    _synchronized(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    step()
    _synchronized(device)
    return torch.cuda.max_memory_allocated(device) - before


def step_costs(runs, images, labels, device) -> dict[str, dict]:
    """{run: {"ms", "peak_bytes", "macs_per_image", "accumulates_per_image", "batch_size"}} of one training step
    for every run trained by a bioplaus rule with a recorded configuration: the median of TIMED steps after
    WARMUP (runs interleaved, so that the machine's load falls on all of them alike), the peak memory of a step,
    the multiply-accumulates of its matrix products and convolutions (forward, backward and update) per image,
    and the accumulates its spikes drive through the weight layers it calls (a spiking forward's synaptic
    operations; 0 for a network without spikes)."""
    steps = {name: _Step(model, runs.configs[name], images, labels) for name, model in runs.models.items()
             if getattr(model, "rule", None) is not None and "batch_size" in runs.configs[name]}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for step in steps.values():
            for _ in range(WARMUP):
                step()
        samples = {name: [] for name in steps}
        for _ in range(TIMED):
            for name, step in steps.items():
                samples[name].append(step.seconds(device))
        costs = {}
        for name, step in steps.items():
            with FlopCounterMode(display=False) as counter:
                step()
            with counting_operations(step.model) as forward:  # a step of its own: the counting's products apart
                step()
            fresh = _Step(runs.models[name], runs.configs[name], images, labels)  # nothing freed that predates it
            batch = len(step.labels)
            costs[name] = {"ms": statistics.median(samples[name]) * 1e3, "peak_bytes": peak_step_bytes(fresh, device),
                           "macs_per_image": counter.get_total_flops() / 2 / batch,
                           "accumulates_per_image": sum(c["accumulates"] for c in forward.values()) / batch,
                           "batch_size": batch}
    return costs


def cost_section(runs, images, labels, firing: dict, device) -> dict:
    """{"step": step_costs, "layers": {run: layer_operations (with each spiking layer's mean firing rate from
    `firing`)}, "images": how many images the inference counts are averaged over, "device": where the steps ran,
    "warmup" and "timed": the steps before timing and the steps timed}."""
    layers = {}
    for name, model in runs.models.items():
        layers[name] = layer_operations(model.eval(), images)
        rates = firing.get(name, {}).get("layers", {})
        for layer, summary in rates.items():
            layers[name].setdefault(layer, {})["firing_rate"] = summary["mean"]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread{'s' if torch.get_num_threads() > 1 else ''}"
    return {"step": step_costs(runs, images, labels, device), "layers": layers, "images": len(images), "device": where,
            "warmup": WARMUP, "timed": TIMED}
