"""The feed-forward networks, CNN and MLP: named blocks (`conv1`, `conv2`, `fc1`, …, `out`) on `NetworkBase`.

Every network is `Normalize` → hidden blocks → `out` (logits). Each block holds exactly one weight
layer (conv or linear), so a block is the unit of feedback (FA, DFA, DKP) and of recording.
"""

from collections import OrderedDict
import torch
from torch import nn

from trainers.errors import ConfigError, unknown_name
from trainers.nets.base import LocalSignal, NetworkBase, check_option_names, int_list


class Normalize(nn.Module):
    """Per-channel (x − mean) / std, so inputs stay in pixel space [0, 1] outside the model."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


class Network(NetworkBase):
    """Normalize, then named blocks applied in order; the last block (`out`) returns logits. Plain `forward()`
    is always the true network function, whatever the rule."""

    def block_outputs(self, images):
        """(logits, {hidden block: its output}) of the true network, every tensor in the autograd graph."""
        h, outputs = self.norm(images), {}
        for name in self.hidden_names:
            h = outputs[name] = self.blocks[name](h)
        return self.output_block(h), outputs

    def local_pass(self, images, use_g: bool = False):
        """(logits, [LocalSignal per hidden block]) with every block's input detached but the first's.

        drive(P) = (h_l · P).sum(), whose gradient is δ_l = P ⊙ f′(a_l) by autograd; images that require
        grad receive the rule's own input gradient (δ_1 through block 1: the feedback-path attack).
        `use_g` (aDFA) applies to spiking networks only.
        """
        if use_g:
            raise ConfigError(f"aDFA's g replaces a spiking neuron's derivative; model {self.kind!r} has none")
        h, hidden = self.norm(images), []
        for i, name in enumerate(self.hidden_names):
            h = self.blocks[name](h if i == 0 else h.detach())
            flat = h.flatten(1)
            hidden.append(LocalSignal(name, flat, lambda projected, flat=flat: (flat * projected).sum()))
        return self.output_block(h.detach()), hidden


WIDTH_OPTIONS = ("hidden", "channels", "fc_width")


NORMS = {"batch": nn.BatchNorm2d, "none": None}  # the CNN's normalisation after each conv


def check_widths(options: dict) -> None:
    """ConfigError for a width option that is not positive integers, or an unknown --norm (before anything is
    written)."""
    for name in WIDTH_OPTIONS:
        if name in options:
            int_list(options[name], name)
    if "norm" in options and options["norm"] not in NORMS:
        raise unknown_name("norm", options["norm"], NORMS)


def _cnn_blocks(input_shape, num_classes, channels=(32, 32), fc_width=128, norm="batch"):
    """CNN: one block per entry of `channels`, each conv3x3 (unpadded) → BN (`norm` "batch"; "none": left out)
    → ReLU, with 2x2 max-pooling after every second conv; then fc → ReLU, fc. The reference CNN is channels
    (32, 32) with batch norm."""
    widths = int_list(channels, "channels")
    (fc_width,) = int_list([fc_width], "fc_width")
    cin, h, w = input_shape
    blocks = OrderedDict()
    for i, cout in enumerate(widths, start=1):
        h, w = h - 2, w - 2
        pool = [nn.MaxPool2d(2)] if i % 2 == 0 else []
        h, w = (h // 2, w // 2) if pool else (h, w)
        if h < 1 or w < 1:
            raise ConfigError(f"input {tuple(input_shape)} is too small for {len(widths)} conv layers (unpadded 3x3, "
                              "2x2 pooling after every second); pass fewer --channels")
        normalise = [NORMS[norm](cout)] if NORMS[norm] else []
        blocks[f"conv{i}"] = nn.Sequential(nn.Conv2d(cin, cout, 3), *normalise, nn.ReLU(), *pool)
        cin = cout
    blocks["fc1"] = nn.Sequential(nn.Flatten(), nn.Linear(cin * h * w, fc_width), nn.ReLU())
    blocks["out"] = nn.Sequential(nn.Linear(fc_width, num_classes))
    return blocks


def _mlp_blocks(input_shape, num_classes, hidden=(1000,)):
    """MLP for the classic FA/DFA comparisons: flatten, then Linear → ReLU per hidden width."""
    widths = [int(torch.tensor(input_shape).prod())] + int_list(hidden, "hidden")
    blocks = OrderedDict()
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        flatten = [nn.Flatten()] if i == 1 else []
        blocks[f"fc{i}"] = nn.Sequential(*flatten, nn.Linear(fan_in, fan_out), nn.ReLU())
    blocks["out"] = nn.Sequential(nn.Linear(widths[-1], num_classes))
    return blocks


ARCHITECTURES = {"cnn": _cnn_blocks, "mlp": _mlp_blocks}
MODEL_OPTIONS = {"cnn": {"channels", "fc_width", "norm"}, "mlp": {"hidden"}}


def make_network(kind, rule, input_shape, num_classes, mean=None, std=None, **options) -> Network:
    """Build the forward network (no feedback yet) with the current torch RNG."""
    if kind not in ARCHITECTURES:
        raise unknown_name("model", kind, ARCHITECTURES)
    check_option_names(kind, options, MODEL_OPTIONS[kind])
    if len(input_shape) != 3:
        raise ConfigError(f"input_shape must be (channels, height, width), got {tuple(input_shape)}")
    channels = input_shape[0]
    mean = [0.0] * channels if mean is None else list(mean)
    std = [1.0] * channels if std is None else list(std)
    if len(mean) != channels or len(std) != channels:
        raise ConfigError(f"mean and std need one value per input channel ({channels})")
    blocks = ARCHITECTURES[kind](input_shape, num_classes, **options)
    all_options = dict(options, mean=mean, std=std)
    return Network(kind, rule, Normalize(mean, std), blocks, input_shape, num_classes, all_options)


