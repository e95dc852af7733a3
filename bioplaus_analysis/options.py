"""`AnalysisOptions`: every option of an analysis, in a module light enough for the command line to
read its defaults (the analyses themselves load scikit-learn and rsatoolbox)."""

import math
from dataclasses import dataclass, replace

from trainers import DEFAULT_DEVICE, MAX_SEED, QUICK_DATASETS, ConfigError, unknown_name

from .choices import ATTACKS, COMPARISONS, EMBEDDINGS, MODES, RDM_METHODS
from .features import rarest_class_count
from .robustness import check_eps, default_eps, sorted_eps



def default_eval_per_class(dataset: str, data_dir=None) -> int:
    """Test images per class for SNR, cosine and attacks unless asked: 20 on the quick datasets, else 50
    (at most the rarest class); `analyze` and `compare` share it. PGD over them dominates the time."""
    return min(20 if dataset in QUICK_DATASETS else 50, rarest_class_count(dataset, data_dir))


@dataclass(frozen=True)
class AnalysisOptions:
    """Every option of `analyze`; None fields take the dataset's defaults (see `resolved`)."""
    per_class: int = 20  # test images per class for RDMs, paths and embeddings
    eval_per_class: int | None = None  # for SNR, cosine and attacks; default `default_eval_per_class`
    rdm_method: str = "correlation"
    comparison: str = "corr"  # how RDMs are compared (paths, similarities, stats): Pearson r, centred
    label_comparison: str = "tau-a"  # against the 0/1 label RDM: Kendall's τ_A (Nili et al. 2014), no tie credit
    embeddings: tuple = ("tsne", "pca")
    eps: tuple | None = None  # attack budgets in pixel units; default `robustness.default_eps`: dense where accuracy falls
    attacks: tuple = ATTACKS
    modes: tuple = MODES
    pgd_steps: int = 10
    adversarial_eps: float | None = None  # ε of the RDMs under attack; default the grid's middle value
    snr_eps: float = 1e-8  # ε in |mean| / (std + ε)
    bootstrap: int = 1000  # resamples of the images behind each RDM comparison's interval in stats.csv
    seed: int = 0  # fixes the samples, embeddings and PGD starts
    allow_unfinished: bool = False  # analyse runs that have not finished their epochs (provenance records it)
    data_dir: str | None = None
    device: str = DEFAULT_DEVICE

    def resolved(self, dataset: str) -> "AnalysisOptions":
        """A checked copy with the dataset's defaults filled in; ConfigError naming a bad option."""
        choices = (("RDM method", [self.rdm_method], RDM_METHODS), ("RDM comparison", [self.comparison, self.label_comparison], COMPARISONS),
                   ("embedding", self.embeddings, EMBEDDINGS), ("attack", self.attacks, ATTACKS),
                   ("attack mode", self.modes, MODES))
        for kind, values, valid in choices:
            for value in values:
                if value not in valid:
                    raise unknown_name(kind, value, valid)
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"--seed must be an integer from 0 to {MAX_SEED}, got {self.seed}")
        if self.per_class < 1 or (self.eval_per_class is not None and self.eval_per_class < 1) or self.pgd_steps < 1 \
                or self.bootstrap < 1:
            raise ConfigError("--per-class, --eval-per-class, --pgd-steps and --bootstrap must be positive integers")
        if isinstance(self.snr_eps, bool) or not isinstance(self.snr_eps, (int, float)) or not 0 < self.snr_eps < math.inf:
            raise ConfigError(f"--snr-eps must be a positive number, got {self.snr_eps!r}")
        eps = sorted_eps(default_eps(dataset) if self.eps is None else self.eps)
        adversarial = check_eps(eps[len(eps) // 2] if self.adversarial_eps is None else self.adversarial_eps)
        eval_per_class = (default_eval_per_class(dataset, self.data_dir) if self.eval_per_class is None
                          else self.eval_per_class)
        return replace(self, eps=eps, adversarial_eps=adversarial, eval_per_class=eval_per_class,
                       embeddings=tuple(self.embeddings), attacks=tuple(self.attacks), modes=tuple(self.modes))
