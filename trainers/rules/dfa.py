"""Direct Feedback Alignment (Nøkland 2016): each hidden block receives the output error through B_l.

Every block's input is detached, so no gradient crosses blocks; block l adds drive_l(stopgrad(e B_lᵀ))
to the objective: (h_l · e B_lᵀ).sum() in a CNN or MLP, whose gradient is δ_l = (B_l e) ⊙ f′(a_l)
exactly, and in a spiking network Σ_t (I_l,t · stopgrad(f′_t ⊙ e B_lᵀ)).sum(), the projected error
reaching the block at every time step (see `SpikingNetwork.local_pass`).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from trainers.rules.jacobians import mean_jacobians
from trainers.nets.base import block_output_shapes
from trainers.rules.base import Objective, Rule, output_error


class DFA(Rule):
    name = "dfa"
    label = "DFA"
    color = "#0072B2"  # Okabe & Ito blue

    def init_feedback(self, model) -> None:
        shapes, like = block_output_shapes(model), next(model.parameters())
        for name in model.hidden_names:  # B_l: (D_l, K), in the network's dtype and on its device
            feedback = torch.empty(math.prod(shapes[name]), model.num_classes, dtype=like.dtype, device=like.device)
            nn.init.kaiming_uniform_(feedback, a=math.sqrt(5))
            model.feedback.add(name, feedback, trainable=self.trainable_feedback)

    def feedback_targets(self, model, images) -> dict:
        """B_l [D_l, K] carries the output error straight to block l, in place of BP's path from the logits
        back to the block: its target is the transpose of that mean Jacobian (`trainers.rules.jacobians`)."""
        return {name: jacobian.T for name, jacobian in mean_jacobians(model, images).items()}

    def objective(self, model, images, labels) -> Objective:
        logits, hidden = model.local_pass(images, use_g=self.uses_g)
        loss = F.cross_entropy(logits, labels)
        e = output_error(logits, labels)  # (N, K)
        surrogate = loss + self.feedback_objective(model, hidden, e)
        for signal in hidden:  # the projected error e B_lᵀ (N, D_l) drives block l
            surrogate = surrogate + signal.drive(e @ model.feedback[signal.name].detach().T)
        return Objective(surrogate, loss, logits)

    def feedback_objective(self, model, hidden, e):
        """The part of the objective that trains the feedback matrices: none, they are fixed."""
        return 0.0
