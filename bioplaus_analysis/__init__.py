"""bioplaus analysis: reads trained runs and dissects them; home of the `bioplaus` command.

One function per analysis: `record_features`, `layer_rdms`, `representational_paths`, `embed`,
`gradient_snr`, `bp_cosines`, `fgsm`, `pgd`, `robustness_curves`, `transfer_matrices`; `analyze` runs them all on a
set of runs and writes results.json + arrays.npz (`read_results` reads them back); the subpackage
`figures` draws from those files; `compare` trains, analyses and draws in one call. They are
imported on first use, so `bioplaus train` does not load scikit-learn and rsatoolbox.
"""

from importlib import import_module

from trainers import __version__

# The module `compare` holds the function `compare`: imported here, so that the function, not the
# module, is the package's attribute (the module is light; it imports the analyses on first use).
from .commands.compare import CompareOptions, compare  # noqa: E402

_HOMES = {
    "analyze": "analysis", "analyze_models": "analysis", "training_cosines": "analysis",
    "embed": "embedding", "mds": "embedding", "pca": "embedding", "tsne": "embedding",
    "analysis_sample": "features", "record_features": "features",
    "bp_cosines": "gradients", "gradient_snr": "gradients", "gradient_snr_loop": "gradients",
    "per_sample_moments": "gradients",
    "logits_of": "outputs", "register_spiking_layer": "outputs",
    "representational_paths": "trajectories",
    "read_results": "results",
    "accuracy": "robustness", "fgsm": "robustness", "input_gradient": "robustness", "pgd": "robustness",
    "robustness_curves": "robustness", "transfer_matrices": "robustness",
    "angles": "rsa", "compare_rdms": "rsa", "label_rdm": "rsa", "layer_rdms": "rsa", "rdm_matrix": "rsa",
}
__all__ = ["CompareOptions", "__version__", "compare", *sorted(_HOMES)]


def __getattr__(name):
    if name in _HOMES:
        return getattr(import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
