"""bioplaus trainers: datasets, networks (built in, or any nn.Module through `wrap`) and learning rules (BP, FA, DFA, DKP, aDFA), training, run files.

The names below are the package's public interface; `bioplaus_analysis` imports these and, besides,
only the modules in `ANALYSIS_INTERFACE` (the run-file contract and dynamics.npz, the measurement context,
the rules' measuring context and the weight layer of a block), as tests/test_package.py checks.
"""

from trainers.version import __version__  # noqa: F401
from trainers import precision  # noqa: F401  first: sets CUBLAS_WORKSPACE_CONFIG before anything can touch CUDA
from trainers.rules.alignment import block_cosines
from trainers.nets.build import MODELS, build_model, check_model, is_spiking
from trainers.nets.spiking import SPIKING_DEFAULTS
from trainers.config import EPOCHS_DEFAULT, MAX_SEED, QUICK_DATASETS, SCHEDULES, TrainConfig, default_epochs
from trainers.data.datasets import DATASETS, dataset_spec, load_dataset, stratified_sample
from trainers.devices import DEFAULT_DEVICE, DEVICES, eval_mode, model_device, require_cuda_graph_device, resolve_device
from trainers.snn.encoders import ENCODERS
from trainers.errors import (BioplausError, BioplausWarning, ConfigError, DataError, DivergenceError, Interrupted, RunDirError,
                     unknown_name)
from trainers.loop.evaluation import evaluate
from trainers.loop.host_memory import keep_freed_memory
from trainers.snn.neurons import NEURONS
from trainers.loop.optim import OPTIMIZERS
from trainers.store.probes import correlation_rdm, read_dynamics
from trainers.rules import RULES, bp_gradient, get_rule, rule_update
from trainers.nets.build import load_run
from trainers.nets.wrapped import wrap
from trainers.snn.surrogates import SURROGATES
from trainers.loop.training import train
from trainers.loop.steps import training_step
from trainers.tuning.search import tune

ANALYSIS_INTERFACE = ("trainers.store.runfiles", "trainers.store.probes", "trainers.precision", "trainers.rules", "trainers.nets.base")

__all__ = ["ANALYSIS_INTERFACE", "DATASETS", "DEFAULT_DEVICE", "DEVICES", "ENCODERS", "EPOCHS_DEFAULT", "MAX_SEED", "QUICK_DATASETS", "MODELS", "NEURONS", "OPTIMIZERS",
           "RULES", "SCHEDULES", "SPIKING_DEFAULTS", "SURROGATES", "BioplausError", "BioplausWarning", "ConfigError", "DataError",
           "DivergenceError", "Interrupted", "RunDirError", "TrainConfig", "block_cosines", "bp_gradient",
           "build_model", "check_model", "correlation_rdm", "dataset_spec", "default_epochs", "eval_mode", "evaluate", "get_rule", "is_spiking", "keep_freed_memory", "load_dataset",
           "load_run", "model_device", "read_dynamics", "require_cuda_graph_device", "resolve_device", "rule_update", "stratified_sample", "train", "training_step", "tune", "unknown_name", "wrap",
           "__version__"]
