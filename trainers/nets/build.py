"""`build_model`: a network plus its rule's feedback, initialised deterministically from a seed; `load_run`: a
trained run's network rebuilt from its folder."""

from pathlib import Path

import torch

from trainers.errors import RunDirError, unknown_name
from trainers.nets.base import NetworkBase, check_network, check_option_names
from trainers.nets.factories import BUILT_IN, check_factory_options, is_factory, make_factory_network, warn_if_changed
from trainers.nets.feedforward import ARCHITECTURES, MODEL_OPTIONS, check_widths, make_network
from trainers.rules import get_rule
from trainers.store.runfiles import CHECKPOINT, CONFIG, load_checkpoint, read_config, state_digest
from trainers.nets.spiking import SPIKING_ARCHITECTURES, make_spiking_network, spiking_options

MODELS = tuple(ARCHITECTURES) + tuple(BUILT_IN) + tuple(SPIKING_ARCHITECTURES)


def is_spiking(kind: str) -> bool:
    return kind in SPIKING_ARCHITECTURES


def check_model(kind: str, rule: str, options: dict) -> None:
    """ConfigError if `kind` is unknown (neither a model name nor a factory's import path), takes other options,
    or is not trained by `rule`."""
    if kind not in MODELS and not is_factory(kind):
        raise unknown_name("model", kind, MODELS + ("package.module:function",))
    if kind in ARCHITECTURES or is_spiking(kind):
        if is_spiking(kind):
            spiking_options(kind, options)
        else:
            check_option_names(kind, set(options) - {"mean", "std"}, MODEL_OPTIONS[kind])
        check_widths(options)
    else:
        check_factory_options(kind, options)
    get_rule(rule, kind, is_spiking(kind))


def _maker(model: str):
    if is_spiking(model):
        return make_spiking_network
    return make_network if model in ARCHITECTURES else make_factory_network


def build_model(model: str, rule: str, input_shape, num_classes: int, seed: int = 0, **options) -> NetworkBase:
    """Build `model` ('cnn', 'mlp', 'resnet', 'snn', 'csnn' or a factory's "package.module:function") trained by
    `rule`, weights and feedback fixed by `seed`.

    Options: `mean`/`std` (per-channel input normalisation; not used by spiking models), CNN
    `channels`/`fc_width`/`norm`, ResNet `depth`, MLP and SNN `hidden`; spiking models also take `time_steps`,
    `encoding`, `neuron`, `surrogate`, `g` and `init_gain`; a factory takes its own keyword arguments. The
    global torch RNG is left untouched.
    """
    check_model(model, rule, options)  # also checks that `rule` trains `model`
    learning_rule = get_rule(rule)
    make = _maker(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = make(model, learning_rule, tuple(input_shape), int(num_classes), **options)
        learning_rule.init_feedback(network)
    check_network(network)
    return network


def load_run(run_dir, device="cpu", weights: bool = True):
    """Rebuild a trained run's model (eval mode, on `device`) from its files: (model, config dict);
    `weights=False`: the run's network as training started (built with its seed, no checkpoint read)."""
    config = read_config(run_dir)
    if is_factory(config.get("model", "")):
        warn_if_changed(config)
    try:
        model = build_model(config["model"], config["rule"], config["input_shape"], config["num_classes"],
                            seed=config["seed"], mean=config["mean"], std=config["std"],
                            **config["model_options"])
    except KeyError as exc:
        raise RunDirError(f"{Path(run_dir) / CONFIG} lacks {exc}; it was not written by bioplaus") from None
    if not weights:
        return model.to(device).eval(), config
    state = load_checkpoint(run_dir)  # the model is built on the CPU, then moved
    recorded = state.get("replica_digests")
    if recorded and state_digest(state.get("model", {})) != recorded[0]:
        raise RunDirError(f"{Path(run_dir) / CHECKPOINT} holds weights its run did not train (their SHA-256 is not "
                          f"the one recorded after epoch {state.get('epoch')}); analyse other weights in memory "
                          "(README: Analyse a model trained elsewhere), not in a run's folder")
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as exc:
        first = str(exc).splitlines()[0][:200]
        raise RunDirError(f"{Path(run_dir) / CHECKPOINT} does not match its {CONFIG} ({first}); "
                          "it comes from another model or rule") from None
    return model.to(device).eval(), config
