"""`TrainConfig`: every option of a training run, validated, with the rule's defaults filled in."""

import math
from dataclasses import asdict, dataclass, field, fields, replace

from trainers.data.datasets import check_fraction, dataset_spec
from trainers.tuning.recipes import CONFIG_KEYS, MODEL_OPTION_KEYS, recipe_epochs, recipe_values
from trainers.devices import DEFAULT_DEVICE, DEVICES
from trainers.errors import ConfigError, unknown_name
from trainers.nets.build import check_model, is_spiking
from trainers.nets.factories import find_recorded_source
from trainers.nets.spiking import spiking_options
from trainers.loop.optim import OPTIMIZERS
from trainers.rules import get_rule

SCHEDULES = ("onecycle", "constant")
FEEDBACK_LR = 1e-4  # DKP's feedback learning rate where neither the user nor a recipe sets one
QUICK_DATASETS = ("digits", "mnist-5k")  # embedded, small: the defaults aim at minutes on a laptop
QUICK_EPOCHS, FULL_EPOCHS = 3, {"cnn": 10, "snn": 5}  # FULL: the reproduction grid's (README), paper-grade
EPOCHS_DEFAULT = (f"{QUICK_EPOCHS} on {' and '.join(QUICK_DATASETS)}; else those a recipe chose where the "
                  f"validation curve plateaus, e.g. fashion-mnist snn {recipe_epochs('fashion-mnist', 'snn')}; else "
                  f"{', '.join(f'{model} {n}' for model, n in FULL_EPOCHS.items())}")  # for help texts


def default_epochs(dataset: str, model: str) -> int:
    """The epochs of a run when none are given (compare, tune, reproduce): few on the quick datasets; else those
    the recipes chose where the validation curve plateaus (`recipe_epochs`), else the grid's."""
    if dataset in QUICK_DATASETS:
        return QUICK_EPOCHS
    return recipe_epochs(dataset, model) or FULL_EPOCHS.get(model, FULL_EPOCHS["snn"])


MAX_SEED = 2**32 - 1  # numpy's seed range; torch's is wider, and an epoch's shuffle seed derives from it


FLOAT32_MAX = 3.4028234663852886e38  # parameters are float32: a larger learning rate overflows


def _check_number(name: str, value, positive: bool) -> None:
    """ConfigError unless `value` is a real number within float32's range (the parameters' type), above
    zero where `positive`, else at least zero."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and math.isfinite(value) and abs(value) >= FLOAT32_MAX:
        raise ConfigError(f"{_flag(name)} must be below 3.4e38 (float32's largest), got {value!r}")
    if not number or not math.isfinite(value) or (value <= 0 if positive else value < 0):
        kind = "a positive finite number" if positive else "zero or a positive finite number"
        raise ConfigError(f"{_flag(name)} must be {kind}, got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """One training run. `optimizer`, `lr`, `feedback_lr` (and the spiking options `init_gain`, `g`) left
    unset take the shipped recipe of (dataset, model, rule), else the rule's defaults (see `resolved`)."""
    model: str = "cnn"
    rule: str = "bp"
    dataset: str = "mnist-5k"
    epochs: int = 3
    seed: int = 0
    batch_size: int = 32
    optimizer: str | None = None
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "onecycle"
    feedback_optimizer: str = "adam"
    feedback_lr: float | None = None
    feedback_weight_decay: float = 1e-6
    device: str = DEFAULT_DEVICE
    deterministic: bool = True  # PyTorch's deterministic algorithms: a seed fixes a CUDA run too
    tf32: bool = False  # TF32 matrix products and convolutions on CUDA (faster, 10 mantissa bits)
    cuda_graph: bool = False  # replay each full batch's step from one CUDA graph (trainers.loop.steps)
    data_dir: str | None = None
    limit_train: int | None = None
    validation: float = 0.1  # fraction of the training split held out for selection (datasets.validation_split)
    evaluate_test: bool = True  # False: the test split is never read (`bioplaus tune`)
    cos_batch: int = 256
    probes_per_class: int = 10  # held-out images per class whose RDMs dynamics.npz records every epoch; 0: none
    model_options: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)  # where each tuned value came from; filled by `resolved`

    def resolved(self) -> "TrainConfig":
        """A validated copy with every unset value filled from the recipe, else the rule's defaults, and
        `sources` saying which, per value."""
        self.validate()
        key, recipe = recipe_values(self.dataset, self.model, self.rule)
        rule = get_rule(self.rule)
        defaults = dict(rule.spiking_defaults if is_spiking(self.model) else rule.defaults, feedback_lr=FEEDBACK_LR)
        values, sources = {}, {}
        for name in CONFIG_KEYS:
            given = getattr(self, name)
            values[name], sources[name] = ((given, "given") if given is not None else
                                           (recipe[name], f"recipe {key}") if name in recipe else
                                           (defaults[name], "rule default"))
        options = self.model_options
        if is_spiking(self.model):  # record every spiking option, defaults included, in config.json
            for name in MODEL_OPTION_KEYS:
                sources[name] = ("given" if name in options else f"recipe {key}" if name in recipe
                                 else "default")
            options = {**{k: recipe[k] for k in MODEL_OPTION_KEYS if k in recipe}, **options}
            arch, spiking = spiking_options(self.model, options)
            options = dict(arch, **spiking)
        if rule.weight_decay and self.weight_decay == 0:  # KP: W and B decay, or B − W never shrinks
            values["weight_decay"], sources["weight_decay"] = rule.weight_decay, "rule default"
        config = replace(self, **values, model_options=options, sources=sources)
        nesterov = config.optimizer == "nesterov" or (rule.trainable_feedback
                                                      and config.feedback_optimizer == "nesterov")
        if nesterov and config.momentum == 0:
            raise ConfigError("the nesterov optimizer needs --momentum above 0; pass e.g. --momentum 0.9 "
                              "or --optimizer sgd")
        return config

    def validate(self) -> None:
        """Raise ConfigError naming the first invalid option and what to pass instead."""
        if not isinstance(self.model_options, dict):
            raise ConfigError(f"model_options must be a dict of the model's options, e.g. {{'hidden': '64'}}, "
                              f"got {self.model_options!r}")
        check_model(self.model, self.rule, self.model_options)
        dataset_spec(self.dataset)
        for name in ("epochs", "batch_size", "cos_batch"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{_flag(name)} must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"--seed must be an integer from 0 to {MAX_SEED}, got {self.seed!r}")
        if isinstance(self.probes_per_class, bool) or not isinstance(self.probes_per_class, int) or \
                self.probes_per_class < 0:
            raise ConfigError(f"--probes-per-class must be 0 (no dynamics) or a positive integer, got "
                              f"{self.probes_per_class!r}")
        check_fraction(self.validation)
        if not self.evaluate_test and self.validation == 0:
            raise ConfigError("a run that never reads the test split needs a validation split; pass --validation "
                              "above 0, e.g. 0.1")
        if self.limit_train is not None and (isinstance(self.limit_train, bool) or not isinstance(self.limit_train, int)
                                             or self.limit_train < 1):
            raise ConfigError(f"--limit-train must be a positive integer, got {self.limit_train!r}")
        for name in ("lr", "feedback_lr"):
            if getattr(self, name) is not None:
                _check_number(name, getattr(self, name), positive=True)
        for name in ("momentum", "weight_decay", "feedback_weight_decay"):
            _check_number(name, getattr(self, name), positive=False)
        for name in ("optimizer", "feedback_optimizer"):
            value = getattr(self, name)
            if value is not None and value not in OPTIMIZERS:
                raise unknown_name("optimizer", value, OPTIMIZERS)
        if self.schedule not in SCHEDULES:
            raise unknown_name("schedule", self.schedule, SCHEDULES)
        for name in ("deterministic", "tf32", "cuda_graph", "evaluate_test"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.device not in DEVICES:
            raise unknown_name("device", self.device, DEVICES)

    def identity(self) -> dict:
        """The options a finished run must match to be reused for this (resolved) config: what it trains,
        on which split, and with which tuned values (a run of an older recipe is not silently reused)."""
        keys = ("model", "rule", "dataset", "seed", "epochs", "validation") + CONFIG_KEYS
        return {key: getattr(self, key) for key in keys}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Rebuild from a config.json dict, ignoring the provenance keys written beside the options (a factory's
        recorded source folder joins the import path)."""
        find_recorded_source(data)
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")
