"""Networks made by factories: `--model resnet` and a researcher's own `--model package.module:function`.

A factory is called as `factory(input_shape=(C, H, W), num_classes=K, **model_options)` and returns
`(module, block names)` or `(module, block names, output)`; the network is `wrapped_network` of it, behind the
dataset's input normalisation. config.json records the import path, the options and the source file's hash,
so every command rebuilds the network in a new process.
"""

import hashlib
import importlib
import inspect
import os
import sys
import warnings
from pathlib import Path

from torch import nn

from trainers.errors import BioplausWarning, ConfigError
from trainers.nets.feedforward import Normalize
from trainers.nets.resnet import check_depth, resnet
from trainers.nets.wrapped import WrappedNetwork, wrapped_network

BUILT_IN = {"resnet": resnet}
BUILT_IN_OPTIONS = {"resnet": {"depth"}}


def is_factory(kind: str) -> bool:
    """Whether `kind` is a factory's import path ("package.module:function")."""
    return ":" in kind


def import_factory(path: str):
    """The function at "package.module:function" (the current folder is searched last); one ConfigError if the
    path is malformed, the import fails or the name is not a function."""
    module_name, _, name = path.partition(":")
    if not module_name or not name.isidentifier():
        raise ConfigError(f"--model {path!r}: a factory is given as package.module:function, e.g. mynets:resnet18")
    if os.getcwd() not in sys.path:
        sys.path.insert(1 if sys.path else 0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any error raised while importing the user's module
        raise ConfigError(f"--model {path}: cannot import {module_name} ({type(exc).__name__}: {exc}); run from the "
                          "folder that holds it or add that folder to PYTHONPATH") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        raise ConfigError(f"--model {path}: {module_name} has no function {name}")
    return factory


def find_recorded_source(config: dict) -> None:
    """Let a run's factory import from the folder config.json recorded, wherever the command runs (searched
    after the current folder and PYTHONPATH)."""
    recorded = config.get("model_source")
    if isinstance(recorded, dict) and is_factory(str(config.get("model", ""))):
        depth = str(config["model"]).partition(":")[0].count(".")  # pkg/mod.py for pkg.mod
        root = str(Path(recorded.get("file", "")).parents[depth])
        if root not in sys.path:
            sys.path.append(root)


def source_record(path: str) -> dict:
    """{"model_source": {"file", "sha256"}} of a factory's source file, for config.json."""
    factory = import_factory(path)
    file = inspect.getsourcefile(factory)
    with open(file, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    return {"model_source": {"file": os.path.abspath(file), "sha256": digest}}


def warn_if_changed(config: dict) -> None:
    """A warning when a run's factory source no longer has the hash config.json recorded."""
    recorded = config.get("model_source")
    if recorded and source_record(config["model"])["model_source"]["sha256"] != recorded["sha256"]:
        warnings.warn(f"{recorded['file']} changed since run {config['model']!r} was trained; the network is "
                      "rebuilt from the current code", BioplausWarning)


def check_factory_options(kind: str, options: dict) -> None:
    """ConfigError for a built-in factory's unknown option or bad value, or a factory path that does not import."""
    if kind in BUILT_IN:
        extra = set(options) - BUILT_IN_OPTIONS[kind] - {"mean", "std"}
        if extra:
            raise ConfigError(f"model {kind!r} takes options {sorted(BUILT_IN_OPTIONS[kind])}, not {sorted(extra)}")
        if "depth" in options:
            check_depth(options["depth"])
    else:
        import_factory(kind)


def _unpack(kind: str, made) -> tuple:
    """(module, blocks, output) from what a factory returned; one ConfigError if it is something else."""
    if isinstance(made, tuple) and len(made) in (2, 3) and isinstance(made[0], nn.Module):
        return made if len(made) == 3 else (*made, None)
    raise ConfigError(f"--model {kind}: the factory must return (module, block names) or (module, block names, "
                      f"output); it returned {type(made).__name__}")


def make_factory_network(kind, rule, input_shape, num_classes, mean=None, std=None, **options) -> WrappedNetwork:
    """The network of factory `kind` (built in, or an import path) with the current torch RNG, no feedback yet."""
    factory = BUILT_IN.get(kind) or import_factory(kind)
    try:
        made = factory(input_shape=tuple(input_shape), num_classes=num_classes, **options)
    except TypeError as exc:
        raise ConfigError(f"--model {kind}: the factory refused its arguments ({exc})") from None
    module, blocks, output = _unpack(kind, made)
    channels = input_shape[0]
    mean = [0.0] * channels if mean is None else list(mean)
    std = [1.0] * channels if std is None else list(std)
    return wrapped_network(module, blocks, input_shape, rule, num_classes, output, Normalize(mean, std), kind,
                           dict(options, mean=mean, std=std))
