"""The readout-only control (Lillicrap et al. 2016's "shallow" network): every hidden block stays at its
initialisation and only the output block learns, by its true gradient. What a rule achieves beyond this
control is what its hidden-layer updates contribute."""

import torch.nn.functional as F

from trainers.rules.base import Objective, Rule


class Readout(Rule):
    name = "readout"
    label = "readout"
    color = "#6A3D9A"  # dark purple: apart from every rule's colour and the class palette
    trains_hidden = False  # and so no feedback path to attack through (`robustness.has_feedback_path`)

    def objective(self, model, images, labels) -> Objective:
        logits, _ = model.local_pass(images)  # every block's input detached: only `out` gets a gradient
        loss = F.cross_entropy(logits, labels)
        return Objective(loss, loss, logits)
