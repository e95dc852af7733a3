"""bioplaus analysis: reads trained runs and dissects them; home of the `bioplaus` command.

One function per analysis: `record_features`, `layer_rdms`, `representational_paths`, `embed`,
`gradient_snr`, `bp_cosines`, `fgsm`, `pgd`, `robustness_curves`; `analyze` runs them all on a
set of runs and writes results.json + arrays.npz (`read_results` reads them back).
"""

from trainers import __version__

from .analyze import analyze, training_cosines
from .embedding import embed, mds, pca, tsne
from .features import analysis_sample, record_features
from .gradients import bp_cosines, gradient_snr, gradient_snr_loop, per_sample_moments
from .paths import representational_paths
from .results import read_results
from .robustness import accuracy, fgsm, input_gradient, pgd, robustness_curves
from .rsa import angles, compare_rdms, label_rdm, layer_rdms, rdm_matrix

__all__ = ["__version__", "accuracy", "analysis_sample", "analyze", "angles", "bp_cosines", "compare_rdms",
           "embed", "fgsm", "gradient_snr", "gradient_snr_loop", "input_gradient", "label_rdm", "layer_rdms",
           "mds", "pca", "per_sample_moments", "pgd", "read_results", "record_features",
           "representational_paths", "robustness_curves", "rdm_matrix", "training_cosines", "tsne"]
