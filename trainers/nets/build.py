"""`build_model`: a network plus its rule's feedback, initialised deterministically from a seed; `load_run`: a
trained run's network rebuilt from its folder."""

from pathlib import Path

import torch

from trainers.errors import RunDirError, unknown_name
from trainers.nets.base import check_network, check_option_names
from trainers.nets.feedforward import ARCHITECTURES, MODEL_OPTIONS, Network, check_widths, make_network
from trainers.rules import get_rule
from trainers.store.runfiles import CHECKPOINT, CONFIG, load_checkpoint, read_config
from trainers.nets.spiking import SPIKING_ARCHITECTURES, SpikingNetwork, make_spiking_network, spiking_options

MODELS = tuple(ARCHITECTURES) + tuple(SPIKING_ARCHITECTURES)


def is_spiking(kind: str) -> bool:
    return kind in SPIKING_ARCHITECTURES


def check_model(kind: str, rule: str, options: dict) -> None:
    """ConfigError if `kind` is unknown, takes other options, or is not trained by `rule`."""
    if kind not in MODELS:
        raise unknown_name("model", kind, MODELS)
    if is_spiking(kind):
        spiking_options(kind, options)
    else:
        check_option_names(kind, set(options) - {"mean", "std"}, MODEL_OPTIONS[kind])
    check_widths(options)
    get_rule(rule, kind)


def build_model(model: str, rule: str, input_shape, num_classes: int, seed: int = 0,
                **options) -> Network | SpikingNetwork:
    """Build `model` ('cnn', 'mlp', 'snn' or 'csnn') trained by `rule`, weights and feedback fixed by `seed`.

    Options: `mean`/`std` (per-channel input normalisation; not used by spiking models), CNN
    `channels`/`fc_width`, MLP and SNN `hidden`; spiking models also take `time_steps`, `encoding`,
    `neuron`, `surrogate`, `g` and `init_gain`. The global torch RNG is left untouched.
    """
    check_model(model, rule, options)  # also checks that `rule` trains `model`
    learning_rule = get_rule(rule)
    make = make_spiking_network if is_spiking(model) else make_network
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = make(model, learning_rule, tuple(input_shape), int(num_classes), **options)
        learning_rule.init_feedback(network)
    check_network(network)
    return network


def load_run(run_dir, device="cpu"):
    """Rebuild a trained run's model (eval mode, on `device`) from its files: (model, config dict)."""
    config = read_config(run_dir)
    try:
        model = build_model(config["model"], config["rule"], config["input_shape"], config["num_classes"],
                            seed=config["seed"], mean=config["mean"], std=config["std"],
                            **config["model_options"])
    except KeyError as exc:
        raise RunDirError(f"{Path(run_dir) / CONFIG} lacks {exc}; it was not written by bioplaus") from None
    state = load_checkpoint(run_dir)  # the model is built on the CPU, then moved
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as exc:
        first = str(exc).splitlines()[0][:200]
        raise RunDirError(f"{Path(run_dir) / CHECKPOINT} does not match its {CONFIG} ({first}); "
                          "it comes from another model or rule") from None
    return model.to(device).eval(), config
