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
            hidden.append((name, h))
        logits = model.blocks[list(model.blocks)[-1]](h.detach())
        loss = F.cross_entropy(logits, labels)
        e = output_error(logits, labels)  # (N, K)
        surrogate = loss
        for name, h in hidden:
            # d/dh = e Bᵀ (the DFA signal); d/dB = hᵀ e (Kolen–Pollack, used when B is a parameter).
            surrogate = surrogate + (h.flatten(1) * (e @ model.feedback[name].T)).sum()
        return Objective(surrogate, loss, logits)
