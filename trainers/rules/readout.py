"""The readout-only control (Lillicrap et al. 2016's "shallow" network): every hidden block stays at its
initialisation and only the output block learns, by its true gradient. What a rule achieves beyond this
control is what its hidden-layer updates contribute. Batch norm's running statistics still follow the data, as
in every run: they are not learned by any gradient, and the readout sees normalised random features."""

from contextlib import contextmanager

import torch.nn.functional as F

from trainers.nets.base import forward_parameters
from trainers.rules.base import Objective, Rule


@contextmanager
def _frozen(parameters):
    """`parameters` without requires_grad inside: the forward records no graph through them."""
    for parameter in parameters:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in parameters:
            parameter.requires_grad_(True)


class Readout(Rule):
    name = "readout"
    label = "readout"
    color = "#6A3D9A"  # dark purple: apart from every rule's colour and the class palette
    trains_hidden = False  # and so no feedback path to attack through (`robustness.has_feedback_path`)

    def objective(self, model, images, labels) -> Objective:
        """The network's own forward with every weight outside the output block frozen: only `out` gets a
        gradient, and no graph (nor, in a spiking network, any surrogate derivative) is kept for the hidden
        blocks."""
        trained = {id(p) for p in model.output_block.parameters()}
        hidden = [p for _, p in forward_parameters(model) if p.requires_grad and id(p) not in trained]
        with _frozen(hidden):
            logits = model(images)
        loss = F.cross_entropy(logits, labels)
        return Objective(loss, loss, logits)
