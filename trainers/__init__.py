"""bioplaus trainers: datasets, networks and learning rules (BP, FA, DFA, DKP), training, run files."""

__version__ = "0.1.0"

from .alignment import block_cosines  # noqa: E402
from .build import build_model  # noqa: E402
from .config import TrainConfig  # noqa: E402
from .datasets import DATASETS, load_dataset, stratified_sample  # noqa: E402
from .errors import BioplausError, ConfigError, DataError, DivergenceError, RunDirError  # noqa: E402
from .rules import RULES, bp_gradient, rule_update  # noqa: E402
from .runfiles import load_run  # noqa: E402
from .training import evaluate, train  # noqa: E402

__all__ = ["DATASETS", "RULES", "BioplausError", "ConfigError", "DataError", "DivergenceError",
           "RunDirError", "TrainConfig", "block_cosines", "bp_gradient", "build_model", "evaluate",
           "load_dataset", "load_run", "rule_update", "stratified_sample", "train", "__version__"]
