"""Backpropagation: the surrogate objective is the loss itself."""

import torch.nn.functional as F

from trainers.rules.base import Objective, Rule


class BP(Rule):
    name = "bp"
    label = "BP"
    color = "#000000"  # Okabe & Ito (2008) black
    true_gradient = True

    def objective(self, model, images, labels) -> Objective:
        logits = model(images)
        loss = F.cross_entropy(logits, labels)
        return Objective(loss, loss, logits)
