"""`evaluate`: a model's mean cross-entropy and accuracy on a split, the number every epoch reports."""

import torch
import torch.nn.functional as F

from trainers.devices import eval_mode


EVAL_BATCH = 1000  # images per forward pass when evaluating


@torch.no_grad()
def evaluate(model, images, labels, batch_size: int = EVAL_BATCH) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of `model` in eval mode."""
    loss, correct = torch.zeros((), device=images.device), torch.zeros((), device=images.device)
    with eval_mode(model):
        for start in range(0, len(images), batch_size):
            logits = model(images[start:start + batch_size])
            target = labels[start:start + batch_size]
            loss += F.cross_entropy(logits, target, reduction="sum")
            correct += (logits.argmax(1) == target).sum()
    return loss.item() / len(images), correct.item() / len(images)
