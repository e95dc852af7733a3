"""What every learning rule provides: feedback state and a surrogate objective.

A rule's update is the gradient of its surrogate objective, built with stop-gradients, so one
ordinary `backward()` yields it (docs/design.md, "Learning rules: one mechanism").
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F


class Objective(NamedTuple):
    """`surrogate` is what to differentiate; `loss` and `logits` are what to report."""
    surrogate: torch.Tensor
    loss: torch.Tensor
    logits: torch.Tensor


def output_error(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """e = dL/dlogits for the batch-mean cross-entropy: (softmax − one-hot) / N, detached."""
    probs = torch.softmax(logits.detach(), dim=1)  # (N, K), a new tensor: safe to modify in place
    return probs.sub_(F.one_hot(labels, logits.shape[1])).div_(logits.shape[0])


class Rule:
    """Base learning rule: no feedback, optimiser defaults used when the user gives none.

    `label` names the rule in figures and tables, `color` draws it (one colour per rule everywhere);
    `true_gradient` says that the update is the loss's true gradient (BP), so the rule's "feedback"
    attack is the white-box attack and its cosine to BP is 1 by construction."""

    name = ""
    label = ""
    color = "#999999"
    true_gradient = False
    spiking = None  # which networks the rule trains: True spiking only, False non-spiking only, None both
    trainable_feedback = False
    layer_wise = False  # feedback per weight layer (the FA family), else per hidden block or none
    steps_with_forward = False  # KP: the feedback takes the forward optimiser and weight decay (else its own)
    weight_decay = 0.0  # a rule's weight decay when the run asks for none (KP needs some)
    uses_g = False  # aDFA: a spiking block's local derivative is g(I − θ), not the surrogate's
    # False: the hidden blocks stay at their initialisation (the readout control); no error reaches them, so the
    # rule's objective has no feedback path to attack through either
    trains_hidden = True
    # what the error travels back through, as the schematic figure names it: on each arrow, and per layer (FA family)
    feedback_symbol = "B"
    feedback_through = "a B per layer"
    defaults = {"optimizer": "adam", "lr": 1e-3}
    # Spiking networks: surrogate and local derivatives are small and T-averaged, so every rule
    # takes larger Adam steps (BP-SNN 94.7 % vs 91.9 % with 1e-3 on mnist-5k in 5 epochs).
    spiking_defaults = {"optimizer": "adam", "lr": 1e-2}

    def trains(self, spiking: bool) -> bool:
        """Whether the rule trains a spiking (True) or non-spiking (False) network."""
        return self.spiking is None or self.spiking == spiking

    def init_feedback(self, model) -> None:
        """Create the rule's feedback matrices in `model.feedback` (uses the current torch RNG)."""

    def feedback_matrices(self, model, names) -> dict[str, torch.Tensor]:
        """{name: the feedback matrix of block or layer `name` as the rule uses it now}: `model.feedback`'s own
        (sign symmetry derives them from the forward weights)."""
        return {name: model.feedback[name] for name in names}

    def feedback_targets(self, model, images) -> dict[str, torch.Tensor]:
        """{block: what its feedback matrix stands in for on BP's path}, each the feedback's shape, measured
        on `images` (`trainers.rules.alignment.weight_alignment`); none for a rule without feedback."""
        return {}

    def objective(self, model, images, labels) -> Objective:
        raise TypeError(f"{type(self).__name__} must define objective()")
