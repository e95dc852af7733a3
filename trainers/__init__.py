"""bioplaus trainers: datasets, networks and learning rules (BP, FA, DFA, DKP, aDFA), training, run files.

The names below are the package's public interface; `bioplaus_analysis` imports these and, besides,
only the modules in `ANALYSIS_INTERFACE` (the run-file contract and dynamics.npz, the measurement context,
the rules' measuring context and the weight layer of a block), as tests/test_package.py checks.
"""

from .version import __version__  # noqa: F401
from . import precision  # noqa: F401  first: sets CUBLAS_WORKSPACE_CONFIG before anything can touch CUDA
from .alignment import block_cosines
from .build import MODELS, build_model, is_spiking
from .config import DEVICES, MAX_SEED, SCHEDULES, TrainConfig
from .datasets import DATASETS, dataset_spec, load_dataset, stratified_sample
from .devices import eval_mode, model_device, require_cuda_graph_device, resolve_device
from .encoders import ENCODERS
from .errors import (BioplausError, BioplausWarning, ConfigError, DataError, DivergenceError, Interrupted, RunDirError,
                     unknown_name)
from .evaluation import evaluate
from .host_memory import keep_freed_memory
from .neurons import NEURONS
from .optim import OPTIMIZERS
from .probes import correlation_rdm, read_dynamics
from .rules import RULES, bp_gradient, get_rule, rule_update
from .runfiles import load_run
from .surrogates import SURROGATES
from .training import train
from .tuning import tune

ANALYSIS_INTERFACE = ("trainers.runfiles", "trainers.probes", "trainers.precision", "trainers.rules", "trainers.models")

__all__ = ["ANALYSIS_INTERFACE", "DATASETS", "DEVICES", "ENCODERS", "MAX_SEED", "MODELS", "NEURONS", "OPTIMIZERS",
           "RULES", "SCHEDULES", "SURROGATES", "BioplausError", "BioplausWarning", "ConfigError", "DataError",
           "DivergenceError", "Interrupted", "RunDirError", "TrainConfig", "block_cosines", "bp_gradient",
           "build_model", "correlation_rdm", "dataset_spec", "eval_mode", "evaluate", "get_rule", "is_spiking", "keep_freed_memory", "load_dataset",
           "load_run", "model_device", "read_dynamics", "require_cuda_graph_device", "resolve_device", "rule_update", "stratified_sample", "train", "tune", "unknown_name",
           "__version__"]
