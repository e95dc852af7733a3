"""Sign symmetry (Liao, Leibo & Poggio 2016; Xiao et al. 2018; Moskovitz et al. 2018): FA whose backward weight
of every layer takes the signs of the current forward weight W and a magnitude that is not W's.

- uSF: B = sign(W) · s, s = √(2 / (fan_in + fan_out)) (Glorot's std), one scale per layer;
- frSF: B = sign(W) ∘ |R|, R drawn once (Glorot uniform) and fixed;
- brSF: B = sign(W) ∘ |R|, R redrawn (Glorot uniform) for every batch from torch's RNG, which training seeds
  and checkpoints, so runs repeat and resume exactly.
"""

import math

import torch
from torch import nn

from trainers.rules.fa import FA


def _glorot_std(weight: torch.Tensor) -> float:
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
    return math.sqrt(2.0 / (fan_in + fan_out))


class USF(FA):
    name = "usf"
    label = "uSF"
    color = "#00A0B0"  # a teal, far from the class palette (Okabe & Ito's sky blue is near its #88CCEE)
    feedback_symbol = "sign(W)·s"  # on each arrow of the schematic: the three variants apart
    feedback_through = "sign(W)·s per layer,\ns: Glorot's std"

    def stored_feedback(self, weight):
        """The layer's scale s (a 0-d tensor)."""
        return torch.tensor(_glorot_std(weight), dtype=weight.dtype, device=weight.device)

    def backward_weight(self, stored, weight):
        return torch.sign(weight) * stored


class FRSF(USF):
    name = "frsf"
    label = "frSF"
    color = "#D55E00"  # Okabe & Ito vermillion
    feedback_symbol = "sign(W)∘|R|"
    feedback_through = "sign(W)∘|R| per layer"

    def stored_feedback(self, weight):
        """|R|, R drawn once from Glorot's uniform law."""
        magnitude = torch.empty_like(weight)
        nn.init.xavier_uniform_(magnitude)
        return magnitude.abs()


class BRSF(USF):
    name = "brsf"
    label = "brSF"
    color = "#8C6D00"  # a dark yellow (Okabe & Ito's yellow, darkened to read on white)
    feedback_symbol = "sign(W)∘|R|"  # R: this batch's draw (said under the network)
    feedback_through = "sign(W)∘|R| per layer,\nR redrawn every batch"

    def stored_feedback(self, weight):
        """The bound a of Glorot's uniform law U(−a, a) (a 0-d tensor); |R| is then U(0, a)."""
        return torch.tensor(math.sqrt(3.0) * _glorot_std(weight), dtype=weight.dtype, device=weight.device)

    def backward_weight(self, stored, weight):
        return torch.sign(weight) * torch.rand_like(weight) * stored
