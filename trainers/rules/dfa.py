"""Direct Feedback Alignment (Nøkland 2016): each hidden block receives the output error through B_l.

Every block's input is detached, so no gradient crosses blocks; block l adds (h_l · stopgrad(B_l e))
to the objective, whose gradient is δ_l = (B_l e) ⊙ f′(a_l) exactly.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..models import block_output_shapes
from .base import Objective, Rule, output_error


class DFA(Rule):
    name = "dfa"

    def init_feedback(self, model) -> None:
        shapes = block_output_shapes(model)
        for name in model.hidden_names:
            feedback = torch.empty(math.prod(shapes[name]), model.num_classes)  # B_l: (D_l, K)
            nn.init.kaiming_uniform_(feedback, a=math.sqrt(5))
            model.feedback.add(name, feedback, trainable=self.trainable_feedback)

    def objective(self, model, images, labels) -> Objective:
        h = model.norm(images)
        hidden = []
        for name in model.hidden_names:
            h = model.blocks[name](h.detach())
            hidden.append((name, h.flatten(1)))  # (N, D_l)
        logits = model.blocks[list(model.blocks)[-1]](h.detach())
        loss = F.cross_entropy(logits, labels)
        e = output_error(logits, labels)  # (N, K)
        surrogate = loss + self.feedback_objective(model, hidden, e)
        for name, h in hidden:
            # Gradient with respect to h_l is e B_lᵀ, the projected error; autograd adds ⊙ f'(a_l).
            surrogate = surrogate + (h * (e @ model.feedback[name].detach().T)).sum()
        return Objective(surrogate, loss, logits)

    def feedback_objective(self, model, hidden, e):
        """The part of the objective that trains the feedback matrices: none, they are fixed."""
        return 0.0
