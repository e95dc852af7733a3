"""Spiking networks: named blocks (`fc1`, …, or `conv1`, `conv2`, `fc1`) of synapses feeding LIF
neurons over T steps, and a non-spiking readout `out` whose logits are its mean input current.

A block's synapse (one conv or linear layer) is applied to all T steps in one product; only the
LIF scan is sequential. `forward` is the true network (BPTT when autograd is on); `local_pass`
gives the DFA family what it needs without keeping any graph across blocks or time steps.
"""

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from trainers.snn.encoders import ENCODERS, STOCHASTIC, Encoded, encode
from trainers.errors import ConfigError, unknown_name
from trainers.nets.base import LocalSignal, NetworkBase, check_option_names, int_list
from trainers.snn.neurons import get_neuron, lif_scan
from trainers.snn.surrogates import parse_surrogate

SPIKING_DEFAULTS = {"time_steps": 25, "encoding": "direct", "neuron": "fast", "surrogate": "fast_sigmoid",
                    "g": "lif_rate", "init_gain": 6.0}


@dataclass
class SpikeRecord:
    """What a forward pass did, per hidden block: spike `counts` [batch, ...] (int16), and if asked,
    `membrane` (v before reset) and `spikes` (bool) over time [T, batch, ...]; plus the `logits`."""
    time_steps: int
    counts: dict
    logits: torch.Tensor
    membrane: dict | None = None
    spikes: dict | None = None

    def rates(self) -> dict:
        """Spikes per step of every neuron [batch, ...], in [0, 1]."""
        return {name: c.float() / self.time_steps for name, c in self.counts.items()}

    def mean_rates(self) -> dict:
        """Each block's firing rate averaged over neurons and examples (spikes per step)."""
        return {name: r.mean().item() for name, r in self.rates().items()}


class SpikingNetwork(NetworkBase):
    """LIF blocks then a readout. `options` holds time_steps, encoding, neuron, surrogate, g."""

    spiking = True
    # A Linear block's local-pass drive is one product ⟨W, DᵀX⟩ instead of a call of the layer; code that must
    # see every layer call (the per-sample SNR's forward hooks) turns it off while it listens.
    fused_linear_drive = True

    def __init__(self, kind, rule, blocks, input_shape, num_classes, options):
        # encoders take pixel intensities in [0, 1]: no normalisation
        super().__init__(kind, rule, nn.Identity(), blocks, input_shape, num_classes, options)
        self.time_steps = options["time_steps"]
        self.encoding = options["encoding"]
        self.neuron = get_neuron(options["neuron"])
        self.surrogate = parse_surrogate(options["surrogate"])
        self.g = parse_surrogate(options["g"], "g")

    def surrogate_derivative(self, x):
        """f′(v − θ): the spike's derivative used by BPTT and DFA."""
        return self.surrogate.derivative(x, self.neuron)

    def encode(self, images) -> Encoded:
        """Encode images; stochastic encoders use torch's RNG in training and a fixed seed in eval."""
        generator = None
        if self.encoding in STOCHASTIC and not self.training:
            generator = torch.Generator(device=images.device).manual_seed(0)
        return encode(self.encoding, images, self.time_steps, generator)

    def current(self, name, inputs: Encoded) -> torch.Tensor:
        """Block `name`'s input current: [batch, ...] for constant input, else [T, batch, ...]."""
        block = self.blocks[name]
        if inputs.constant:
            return block(inputs.values)
        x = inputs.values.to(block[-1].weight.dtype)
        return block(x.flatten(0, 1)).unflatten(0, x.shape[:2])

    def _scan(self, name, inputs, **kwargs):
        current = self.current(name, inputs)
        steps = self.time_steps if inputs.constant else None
        return current, lif_scan(current, self.neuron, steps, self.surrogate_derivative, **kwargs)

    def readout(self, spikes) -> torch.Tensor:
        """Logits: the output layer's input current averaged over time = out(mean firing)."""
        out = self.output_block
        return out(spikes.to(out[-1].weight.dtype).mean(0))

    def block_outputs(self, images):
        """(logits, {hidden block: spikes [T, batch, ...]}) of the true network; with autograd on, the
        spikes carry the surrogate gradient (BPTT)."""
        h, outputs = self.encode(images), {}
        for name in self.hidden_names:
            _, scan = self._scan(name, h)
            outputs[name] = scan.spikes
            h = Encoded(scan.spikes, False)
        return self.readout(h.values), outputs

    def local_pass(self, images, use_g: bool = False):
        """(logits, [LocalSignal per hidden block]) for DFA-family rules.

        Each block's local derivative ∂s_t/∂I_t is (dt/τ)·f′(v_t − θ) on non-refractory steps (taken
        inside the scan, step by step), or aDFA's g(I_t − θ) when `use_g`. The forward runs without
        autograd; a signal's `drive(P)` involves only that block's weights and its stored input (a linear
        block fed by spikes as ⟨W, DᵀX⟩ + ⟨b, ΣD⟩, else by recomputing its current), so no graph spans
        blocks or T.
        """
        with torch.no_grad():
            h = self.encode(images)
            hidden = []
            for name in self.hidden_names:
                current, scan = self._scan(name, h, local=not use_g)
                if use_g:
                    local = self.g.derivative(current - self.neuron.threshold, self.neuron)
                else:
                    local = scan.local
                if h.constant:  # constant current: Σ_t (I · d_t P) = (I · (Σ_t d_t) P)
                    local = local.sum(0) if local.dim() > current.dim() else local * self.time_steps
                rate = scan.spikes.mean(0)
                hidden.append(LocalSignal(name, rate.flatten(1), self._drive(name, h, local)))
                h = Encoded(scan.spikes.bool(), False)  # stored compactly for the next block's drive
                del current, scan  # the float spikes and unsummed derivatives go before the next block's pass
        return self.readout(h.values), hidden

    def _drive(self, name, inputs, local):
        block = self.blocks[name]
        linear = self.fused_linear_drive and all(isinstance(m, (nn.Flatten, nn.Linear)) for m in block)

        def drive(projected):
            # constant input: local is already summed over T, [batch, ...]; else [T, batch, ...]
            target = projected.reshape(local.shape if inputs.constant else local.shape[1:])
            if linear:  # Σ_t I_t·D_t = ⟨W, DᵀX⟩ + ⟨b, ΣD⟩: no second pass through the layer
                return _linear_drive(block[-1], inputs.values, (local * target).detach())
            current = self.current(name, inputs)  # with autograd: only this block's weights
            return (current * (local * target).detach()).sum()
        return drive

    @torch.no_grad()
    def record(self, images, membrane: bool = False, spikes: bool = False) -> SpikeRecord:
        """Spike counts of every hidden block (the features for RDMs and embeddings), optionally
        membrane traces and bool spike trains, in the model's current mode, without hooks."""
        h = self.encode(images)
        counts, traces, trains = {}, {} if membrane else None, {} if spikes else None
        for name in self.hidden_names:
            _, scan = self._scan(name, h, membrane=membrane)
            counts[name] = scan.spikes.sum(0).to(torch.int16)
            if membrane:
                traces[name] = scan.membrane
            if spikes:
                trains[name] = scan.spikes.bool()
            h = Encoded(scan.spikes, False)
        return SpikeRecord(self.time_steps, counts, self.readout(h.values), traces, trains)


def _linear_drive(layer: nn.Linear, spikes: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Σ over steps and images of (x W ᵀ + b)·D for inputs `spikes` [T, batch, ...] and D [T, batch, out] (or
    a constant input [batch, ...] and D [batch, out]), as ⟨W, DᵀX⟩ + ⟨b, ΣD⟩: the same gradient as autograd
    through the layer (Dᵀ X and Σ D), from one product."""
    x = spikes.reshape(-1, layer.in_features).to(layer.weight.dtype)
    d = d.reshape(-1, layer.out_features)
    value = (layer.weight * d.t().mm(x)).sum()
    return value if layer.bias is None else value + (layer.bias * d.sum(0)).sum()


def _snn_blocks(input_shape, num_classes, hidden=(1000,)):
    """784-1000-10 by default: flatten, then Linear → LIF per hidden width, then a linear readout."""
    widths = [int(torch.tensor(input_shape).prod())] + int_list(hidden, "hidden")
    blocks = OrderedDict()
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        blocks[f"fc{i}"] = nn.Sequential(*([nn.Flatten()] if i == 1 else []), nn.Linear(fan_in, fan_out))
    blocks["out"] = nn.Sequential(nn.Linear(widths[-1], num_classes))
    return blocks


def _csnn_blocks(input_shape, num_classes, channels=(16, 32), fc_width=128):
    """conv3x3 → LIF, conv3x3 → LIF, max-pool 2 → fc → LIF, linear readout."""
    widths = int_list(channels, "channels")
    if len(widths) != 2:
        raise ConfigError(f"--channels of csnn takes two conv widths, e.g. 16,32; got {len(widths)}")
    c1, c2 = widths
    (fc_width,) = int_list([fc_width], "fc_width")
    cin, height, width = input_shape
    h, w = (height - 4) // 2, (width - 4) // 2
    if h < 1 or w < 1:
        raise ConfigError(f"input {tuple(input_shape)} is too small for the csnn; it needs at least 6x6 pixels")
    return OrderedDict(
        conv1=nn.Sequential(nn.Conv2d(cin, c1, 3)),
        conv2=nn.Sequential(nn.Conv2d(c1, c2, 3)),
        fc1=nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(c2 * h * w, fc_width)),
        out=nn.Sequential(nn.Linear(fc_width, num_classes)),
    )


SPIKING_ARCHITECTURES = {"snn": _snn_blocks, "csnn": _csnn_blocks}
SPIKING_MODEL_OPTIONS = {"snn": {"hidden"}, "csnn": {"channels", "fc_width"}}


def spiking_options(kind, options: dict) -> tuple[dict, dict]:
    """Split options into (architecture options, validated spiking options with defaults)."""
    options = {k: v for k, v in options.items() if k not in ("mean", "std")}  # no input normalisation
    arch = {k: v for k, v in options.items() if k in SPIKING_MODEL_OPTIONS[kind]}
    spiking = dict(SPIKING_DEFAULTS, **{k: v for k, v in options.items() if k in SPIKING_DEFAULTS})
    check_option_names(kind, options, SPIKING_MODEL_OPTIONS[kind] | set(SPIKING_DEFAULTS))
    steps = spiking["time_steps"]
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ConfigError(f"--time-steps must be a positive integer, got {steps!r}")
    if spiking["encoding"] not in ENCODERS:
        raise unknown_name("encoding", spiking["encoding"], ENCODERS)
    get_neuron(spiking["neuron"])
    parse_surrogate(spiking["surrogate"])
    parse_surrogate(spiking["g"], "g")
    if not spiking["init_gain"] > 0:
        raise ConfigError(f"init_gain must be positive, got {spiking['init_gain']}")
    return arch, spiking


def make_spiking_network(kind, rule, input_shape, num_classes, **options) -> SpikingNetwork:
    """Build an SNN with the current torch RNG. Hidden weights are PyTorch's default init scaled by
    `init_gain`, so that neurons fire from the first step (a silent layer passes no error)."""
    arch, spiking = spiking_options(kind, options)
    if len(input_shape) != 3:
        raise ConfigError(f"input_shape must be (channels, height, width), got {tuple(input_shape)}")
    blocks = SPIKING_ARCHITECTURES[kind](input_shape, num_classes, **arch)
    with torch.no_grad():
        for name in list(blocks)[:-1]:
            blocks[name][-1].weight.mul_(spiking["init_gain"])
    return SpikingNetwork(kind, rule, blocks, input_shape, num_classes, dict(arch, **spiking))
