"""Optimisers by name, for the forward weights and (DKP) the feedback matrices."""

from dataclasses import dataclass

import torch

from trainers.errors import unknown_name
from trainers.nets.base import forward_parameters

OPTIMIZERS = ("sgd", "nesterov", "adam", "adamw")


def make_optimizer(name: str, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
    """An optimiser over `params`: 'sgd' (with `momentum`), 'nesterov', 'adam' or 'adamw'.

    On CUDA the fused implementation (one kernel for all parameters, deterministic) replaces the
    per-parameter loop, which costs a launch per tensor and operation; the CPU keeps the default."""
    params = list(params)
    fused = {"fused": True} if params and all(p.is_cuda for p in params) else {}
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, **fused)
    if name == "nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay, **fused)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, **fused)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, **fused)
    raise unknown_name("optimizer", name, OPTIMIZERS)


@dataclass
class Optimizers:
    """The forward optimiser, DKP's feedback optimiser and the learning-rate schedule, stepped together."""
    forward: torch.optim.Optimizer
    feedback: torch.optim.Optimizer | None = None
    schedule: torch.optim.lr_scheduler.LRScheduler | None = None

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop the gradients (or, `set_to_none=False`, zero them in place: a CUDA graph writes into them)."""
        for optimizer in (self.forward, self.feedback):
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for stepper in (self.forward, self.feedback, self.schedule):
            if stepper is not None:
                stepper.step()

    def _parts(self):
        return (("optimizer", self.forward), ("feedback_optimizer", self.feedback), ("scheduler", self.schedule))

    def state_dict(self) -> dict:
        return {name: None if part is None else part.state_dict() for name, part in self._parts()}

    def load_state_dict(self, state: dict) -> None:
        for name, part in self._parts():
            if part is not None:
                part.load_state_dict(state[name])


def make_optimizers(config, model, steps_per_epoch: int) -> Optimizers:
    """The optimisers a TrainConfig asks for: forward weights, feedback (if it has parameters), schedule."""
    forward = [p for _, p in forward_parameters(model)]
    feedback_params = list(model.feedback.parameters())  # DKP's and KP's B; FA and DFA hold theirs as buffers
    if model.rule.steps_with_forward:  # KP: B takes W's update, so one optimiser for both
        forward, feedback_params = forward + feedback_params, []
    optimizer = make_optimizer(config.optimizer, forward, config.lr, config.momentum, config.weight_decay)
    feedback = (make_optimizer(config.feedback_optimizer, feedback_params, config.feedback_lr,
                               config.momentum, config.feedback_weight_decay) if feedback_params else None)
    schedule = (torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, pct_start=0.15,
                                                    total_steps=config.epochs * steps_per_epoch)
                if config.schedule == "onecycle" else None)
    return Optimizers(optimizer, feedback, schedule)
