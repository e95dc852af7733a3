"""Adversarial robustness in pixel space [0, 1]: FGSM and L∞ PGD, batched, in three labelled modes.

- `true` (default, white box): the model's real input gradient, autograd through its forward pass.
- `feedback`: the rule's own pseudo-gradient, the input gradient of its surrogate objective (for
  DFA/DKP the projected error reaching block 1). A gradient-masking probe, not a robustness measure.
- `transfer`: crafted with the true gradient of another model (`source`), evaluated on this one.

Images are normalised inside the model, so ε means the same pixel budget for every dataset.
"""

import warnings

import numpy as np
import torch
import torch.nn.functional as F

from trainers import BioplausWarning, ConfigError, eval_mode, evaluate, get_rule, model_device, unknown_name
from trainers.precision import full_precision

from .choices import ATTACKS, CIFAR10_EPS, MNIST_LIKE_EPS, MODES
from .outputs import logits_of, refuse_untrusted_gradient
from .registry import Registry

# name → function (model, images, labels, eps, mode, source, pgd_steps, seed) -> adversarial images
ATTACK_METHODS = Registry("attack", ATTACKS)

def default_eps(dataset: str) -> list[float]:
    """The ε grid of a dataset family, dense where accuracy falls: for MNIST-like data steps of 0.01 up to 0.05
    (a Fashion-MNIST CNN's PGD accuracy falls from 93 % to 6 % over them), then 0.075, 0.1, 0.15 (MNIST's fall)
    and a coarse 0.2, 0.3; for CIFAR-10 0–8/255."""
    return list(CIFAR10_EPS if dataset == "cifar10" else MNIST_LIKE_EPS)


def check_eps(eps) -> float:
    try:
        eps = float(eps)
    except (TypeError, ValueError):
        raise ConfigError(f"eps must be a number in [0, 1] (pixel units), got {eps!r}") from None
    if not 0.0 <= eps <= 1.0:
        raise ConfigError(f"eps must lie in [0, 1] (pixel units), got {eps}")
    return eps


def sorted_eps(values) -> tuple[float, ...]:
    """An ε grid checked, sorted and without repeats (curves are drawn in grid order); a BioplausWarning
    says so when the values given were not already that."""
    checked = [check_eps(e) for e in values]
    if not checked:
        raise ConfigError("the ε grid is empty; pass e.g. --eps 0,0.1,0.2")
    grid = tuple(sorted(set(checked)))
    if list(grid) != checked:
        warnings.warn(f"ε grid {','.join(f'{e:g}' for e in checked)} sorted and de-duplicated to "
                      f"{','.join(f'{e:g}' for e in grid)}", BioplausWarning, stacklevel=2)
    return grid


def check_batch(model, images, labels, batch_size: int = 1) -> None:
    """ConfigError unless `images` [N, *input shape] and `labels` [N] (classes of `model`, when it names its
    input shape and class count) form a non-empty batch, and `batch_size` is a positive integer."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise ConfigError("images and labels must be tensors")
    if len(images) == 0 or images.shape[:1] != labels.shape or labels.dim() != 1:
        raise ConfigError(f"images {tuple(images.shape)} and labels {tuple(labels.shape)} must be one non-empty "
                          "batch: [N, C, H, W] and [N]")
    shape, classes = getattr(model, "input_shape", None), getattr(model, "num_classes", None)
    if shape is not None and tuple(images.shape[1:]) != tuple(shape):
        raise ConfigError(f"images of shape {tuple(images.shape[1:])}, but the model takes {tuple(shape)}")
    if labels.dtype.is_floating_point or (classes is not None and (labels.min() < 0 or labels.max() >= classes)):
        raise ConfigError(f"labels must be integer classes 0..{classes - 1 if classes else 'C-1'}, got "
                          f"{labels.min().item()}..{labels.max().item()} ({labels.dtype})")


def _attacker(model, mode, source):
    """(the model whose gradient crafts the attack, which gradient of it)."""
    if mode not in MODES:
        raise unknown_name("attack mode", mode, MODES)
    if mode == "transfer":
        if source is None:
            raise ConfigError("mode 'transfer' needs source=, the model the attack is crafted on")
        return source, "true"
    if source is not None:
        raise ConfigError(f"source= is used by mode 'transfer' only, not {mode!r}")
    return model, mode


@full_precision()
def input_gradient(model, images, labels, mode: str = "true") -> torch.Tensor:
    """∂loss/∂pixels in eval mode and full float32: `true` through the network, `feedback` through the
    rule's surrogate."""
    if mode not in ("true", "feedback"):
        raise unknown_name("gradient mode", mode, ("true", "feedback"))
    x = images.detach().clone().requires_grad_(True)
    with torch.enable_grad(), eval_mode(model):
        if mode == "true":
            logits = model(x)
            refuse_untrusted_gradient(model, logits)
            objective = F.cross_entropy(logits, labels)
        else:
            if model_rule(model) is None:
                raise ConfigError(f"{type(model).__name__} has no bioplaus rule, so no feedback path to attack "
                                  "through; mode 'feedback' needs a bioplaus network (e.g. trainers.wrap)")
            objective = model.rule.objective(model, x, labels).surrogate
        (grad,) = torch.autograd.grad(objective, x, allow_unused=True)
    if grad is None:
        encoding = getattr(model, "encoding", None)
        raise ConfigError(f"model {getattr(model, 'kind', type(model).__name__)!r} (encoding {encoding!r}) has no input gradient; "
                          "attacks need a differentiable input, e.g. --encoding direct")
    return grad


def model_rule(model):
    """The network's bioplaus rule, None for a module trained elsewhere (no feedback path)."""
    return getattr(model, "rule", None)


def has_feedback_path(rule) -> bool:
    """Whether a network of `rule` can be attacked through the rule's own objective: not without a rule (trained
    elsewhere), nor for the readout control (no error reaches its hidden blocks)."""
    return rule is not None and rule.trains_hidden


def rule_name(model) -> str | None:
    return None if model_rule(model) is None else model.rule.name


def _batches(model, images, labels, batch_size):
    device = model_device(model)
    for start in range(0, len(images), batch_size):
        yield images[start:start + batch_size].to(device), labels[start:start + batch_size].to(device)


def fgsm_direction(model, images, labels, mode: str = "true", source=None, batch_size: int = 500, output=None):
    """sign(∇x loss) at the clean images: FGSM's step, the same for every ε, so a whole curve over ε takes
    one gradient pass (`robustness_curves` computes it once per model and mode)."""
    model = logits_of(model, output)
    check_batch(model, images, labels, batch_size)
    attacker, gradient = _attacker(model, mode, source)
    return torch.cat([input_gradient(attacker, x, y, gradient).sign()
                      for x, y in _batches(attacker, images, labels, batch_size)])


def fgsm(model, images, labels, eps: float, mode: str = "true", source=None, batch_size: int = 500,
         direction=None, output=None):
    """Adversarial images x + ε·sign(∇x loss), clamped to [0, 1] (Goodfellow et al. 2015); `direction`:
    the sign from `fgsm_direction`, when it is already known; `output` turns the model's output into logits
    (`outputs.logits_of`)."""
    eps = check_eps(eps)
    if direction is None:
        direction = fgsm_direction(model, images, labels, mode, source, batch_size, output)
    return (images.to(direction.device) + eps * direction).clamp(0.0, 1.0)


def pgd(model, images, labels, eps: float, mode: str = "true", source=None, steps: int = 10,
        step_size: float | None = None, random_start: bool = True, seed: int = 0, batch_size: int = 500, output=None):
    """L∞ projected gradient descent (Madry et al. 2018): `steps` signed steps of `step_size`
    (default 2.5·ε/steps) from a seeded uniform start in the ε-ball, projected onto it and [0, 1]."""
    eps, model = check_eps(eps), logits_of(model, output)
    check_batch(model, images, labels, batch_size)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"PGD needs at least 1 step, got {steps!r}")
    attacker, gradient = _attacker(model, mode, source)
    alpha = 2.5 * eps / steps if step_size is None else float(step_size)
    generator = torch.Generator(device=model_device(attacker)).manual_seed(seed)
    out = []
    for x, y in _batches(attacker, images, labels, batch_size):
        adv = x.clone()
        if random_start and eps > 0:
            noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            adv = (x + (2 * noise - 1) * eps).clamp(0.0, 1.0)
        for _ in range(steps):
            adv = adv + alpha * input_gradient(attacker, adv, y, gradient).sign()
            adv = torch.minimum(torch.maximum(adv, x - eps), x + eps).clamp(0.0, 1.0)
        out.append(adv.detach())
    return torch.cat(out)


@ATTACK_METHODS.register("fgsm")
def _fgsm_attack(model, images, labels, eps, mode, source, pgd_steps, seed):
    return fgsm(model, images, labels, eps, mode, source)


@ATTACK_METHODS.register("pgd")
def _pgd_attack(model, images, labels, eps, mode, source, pgd_steps, seed):
    return pgd(model, images, labels, eps, mode, source, steps=pgd_steps, seed=seed)


def attack(name: str, model, images, labels, eps, mode="true", source=None, pgd_steps=10, seed=0):
    """Adversarial images by attack `name` (one of `ATTACK_METHODS`); ε = 0 returns the images unchanged."""
    method = ATTACK_METHODS.lookup(name)
    if check_eps(eps) == 0.0:
        return images.clone()
    return method(model, images, labels, eps, mode, source, pgd_steps, seed)


def accuracy(model, images, labels, output=None) -> float:
    """Top-1 accuracy in eval mode (`output`: see `outputs.logits_of`)."""
    model, device = logits_of(model, output), model_device(model)
    return evaluate(model, images.to(device), labels.to(device))[1]


def _first_step(eps: float, eps_grid) -> bool:
    """Whether `eps` is the grid's smallest positive ε: where FGSM computes its one gradient pass."""
    return eps > 0 and eps == min(e for e in eps_grid if e > 0)


def attack_passes(name: str, eps: float, pgd_steps: int, models: int, rule: str | None, modes, eps_grid=None):
    """(gradient passes, forward passes) over the images that one (attack, run, ε) of `robustness_curves`
    makes for a run of `rule`: the true-gradient attack, the feedback one (in `modes`, unless the rule's
    update is the true gradient or there is no rule: a network trained elsewhere), and the evaluations (one per model with `transfer`). FGSM's gradient is
    computed once per curve, at the first positive ε of `eps_grid`; at ε = 0 a run's clean accuracy is computed
    once and reused by every attack, mode and transfer cell."""
    if eps == 0:
        return 0, 1
    own_rule = None if rule is None else get_rule(rule)
    feedback = "feedback" in modes and has_feedback_path(own_rule) and not own_rule.true_gradient
    transfer = "transfer" in modes
    fgsm_pass = _first_step(eps, eps_grid if eps_grid is not None else [eps])
    per_attack = 0 if eps == 0 else (int(fgsm_pass) if name == "fgsm" else pgd_steps)
    gradients = per_attack * (1 + feedback)
    forwards = 1 + (models - 1 if transfer else 0) + feedback
    return gradients, forwards


class _Crafter:
    """Adversarial images and their scores for one set of models and images, with what is shared cached: each
    model's FGSM direction (one model at a time) and each model's clean accuracy (the score at ε = 0)."""

    def __init__(self, models: dict, images, labels, pgd_steps: int, seed: int):
        self.models, self.images, self.labels = models, images, labels
        self.pgd_steps, self.seed = pgd_steps, seed
        self.directions, self.clean = {}, {}

    def craft(self, name: str, model, eps: float, mode: str):
        if name != "fgsm" or eps == 0:
            return attack(name, model, self.images, self.labels, eps, mode, pgd_steps=self.pgd_steps, seed=self.seed)
        if (model, mode) not in self.directions:
            if any(held is not model for held, _ in self.directions):
                self.directions.clear()  # one model's directions at a time
            self.directions[model, mode] = fgsm_direction(model, self.images, self.labels, mode)
        return fgsm(model, self.images, self.labels, eps, mode, direction=self.directions[model, mode])

    def score(self, run: str, adversarial, eps: float) -> float:
        """Accuracy of `run` on `adversarial`; at ε = 0 those are the clean images, scored once per run."""
        if eps > 0:
            return accuracy(self.models[run], adversarial, self.labels)
        if run not in self.clean:
            self.clean[run] = accuracy(self.models[run], self.images, self.labels)
        return self.clean[run]


def transfer_passes(name: str, pgd_steps: int, models: int) -> tuple[int, int]:
    """(gradient passes, forward passes) over the images of one (attack, source, ε) of `transfer_matrices`:
    the source's attack crafted again, then scored on every model."""
    return (1 if name == "fgsm" else pgd_steps), models


def transfer_eps_of(curves: dict, eps_grid, attack: str) -> float:
    """The grid's ε (> 0) where `attack`'s mean white-box accuracy over every run of `curves` is nearest half the
    clean accuracy: attacks there hurt without saturating, so transfer cells can differ."""
    grid = list(eps_grid)
    mean = np.mean([run[attack]["true"] for run in curves.values()], axis=0)
    clean = mean[grid.index(0.0)] if 0.0 in grid else mean.max()
    attacked = [i for i, eps in enumerate(grid) if eps > 0] or [0]
    return grid[min(attacked, key=lambda i: abs(mean[i] - clean / 2))]


def transfer_eps_measured(section: dict) -> list[float]:
    """The ε values the transfer matrices of a results.json robustness section hold: its one (`transfer_eps`), or
    every ε of the grid in analyses written before the transfer was measured at one ε."""
    return list(section.get("transfer_eps") or section.get("eps", []))


def transfer_matrices(models: dict, images, labels, eps_list, attacks=ATTACKS, pgd_steps: int = 10, seed: int = 0,
                      step=None) -> dict:
    """{attack: array [ε, source, target]}: the accuracy of each target on the images crafted with each source's
    true gradient, at every ε of `eps_list`; the diagonal is the white-box attack. The analysis measures one ε
    (`transfer_eps_of`): n² evaluations at every ε of the grid would cost far more than the curves themselves."""
    _check_attacks(attacks, ("transfer",))
    names, crafter, transfer = list(models), _Crafter(models, images, labels, pgd_steps, seed), {}
    for name in attacks:
        matrix = torch.full((len(eps_list), len(names), len(names)), float("nan"))
        for s, run in enumerate(names):
            for k, eps in enumerate(eps_list):
                adversarial = crafter.craft(name, models[run], eps, "true")
                for t, target in enumerate(names):
                    matrix[k, s, t] = crafter.score(target, adversarial, eps)
                if step is not None:
                    step(f"{run}: {name} transfer ε={eps:g}", *transfer_passes(name, pgd_steps, len(names)))
        transfer[name] = matrix.numpy()
    return transfer


def _check_attacks(attacks, modes) -> None:
    for name in attacks:
        ATTACK_METHODS.lookup(name)
    for mode in modes:
        if mode not in MODES:
            raise unknown_name("attack mode", mode, MODES)


def robustness_curves(models: dict, images, labels, eps_grid, attacks=ATTACKS, modes=MODES, pgd_steps: int = 10,
                      seed: int = 0, step=None) -> tuple[dict, dict]:
    """Accuracy vs ε of every model under every attack and mode, and the transfer matrices.

    Returns (curves {run: {attack: {mode: [accuracy per ε]}}} for modes `true` and `feedback`,
    transfer {attack: array [ε, source, target]}: the accuracy of target on images crafted on source
    with source's true gradient; its diagonal is the white-box `true` curve). The `true` images of
    each model are crafted once and reused for the transfer matrix. `step(label, gradient passes, forward
    passes)` is called after each (attack, run, ε): what it was and what it cost (see `attack_passes`).
    """
    eps_grid = list(sorted_eps(eps_grid))
    _check_attacks(attacks, modes)
    names, crafter = list(models), _Crafter(models, images, labels, pgd_steps, seed)
    curves, transfer = {run: {a: {} for a in attacks} for run in names}, {}
    for name in attacks:
        matrix = torch.full((len(eps_grid), len(names), len(names)), float("nan"))
        for s, run in enumerate(names):
            model = models[run]
            own = {"true": [], "feedback": []}
            for k, eps in enumerate(eps_grid):
                adversarial = crafter.craft(name, model, eps, "true")
                own["true"].append(crafter.score(run, adversarial, eps))
                if "transfer" in modes:
                    for t, target in enumerate(names):
                        matrix[k, s, t] = own["true"][-1] if t == s else crafter.score(target, adversarial, eps)
                if "feedback" in modes and has_feedback_path(model_rule(model)):
                    if model.rule.true_gradient:  # the rule's own gradient is the true gradient
                        own["feedback"].append(own["true"][-1])
                    else:
                        own["feedback"].append(crafter.score(run, crafter.craft(name, model, eps, "feedback"), eps))
                if step is not None:
                    passes = attack_passes(name, eps, pgd_steps, len(names), rule_name(model), modes, eps_grid)
                    step(f"{run}: {name} ε={eps:g} ({k + 1}/{len(eps_grid)})", *passes)
            curves[run][name] = {mode: values for mode, values in own.items() if values}
        if "transfer" in modes:
            transfer[name] = matrix.numpy()
    return curves, transfer
