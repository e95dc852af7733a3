"""Publication figures drawn from an analysis folder (results.json + arrays.npz) and nothing else.

Each function takes the folder (or a loaded `Analysis`), an output folder and a file-name prefix, and
writes PREFIX + a stable name as .pdf (vector) and .png (300 dpi). `DRAW` maps each name in
`FIGURES` to its function; `draw_figures` draws every figure that the analysis holds data for.
"""

from pathlib import Path

from ..choices import FIGURES
from .learning import cosine_to_bp, gradient_snr, training_curves
from .representations import paths_per_rule, rdm_grid, representational_paths, tsne_grid
from .robustness import robustness_curves, transfer_matrix
from .spiking import firing_rates, spike_raster
from .style import RULE_COLORS, Analysis, load_analysis

DRAW = dict(zip(FIGURES, (training_curves, rdm_grid, representational_paths, paths_per_rule, tsne_grid,
                          gradient_snr, cosine_to_bp, robustness_curves, transfer_matrix, firing_rates, spike_raster)))


def applicable(analysis) -> list[str]:
    """The names of the figures that `analysis` holds the data for."""
    a = load_analysis(analysis)
    results, names = a.results, list(FIGURES)
    if "tsne/input" not in a.arrays:
        names.remove("tsne-grid")
    if not any(g.rule != "bp" for g in a.groups()):
        names.remove("cosine-to-bp")
    if not results.get("robustness", {}).get("curves"):
        names.remove("robustness")
    if not any(key.startswith("transfer/") for key in a.arrays) or not results.get("robustness", {}).get("curves"):
        names.remove("transfer")
    if not results.get("firing"):
        names.remove("firing-rates")
        names.remove("spike-raster")
    return names


def draw_figures(analysis, out_dir, prefix: str = "", names=None, progress=None) -> dict[str, list[Path]]:
    """The figures `names` (default: every applicable one) of `analysis` into `out_dir`, with a progress bar
    unless `progress` is False; returns {name: [PDF path, PNG path]}."""
    from tqdm.auto import tqdm
    a = load_analysis(analysis)
    bar = tqdm(applicable(a) if names is None else names, desc=f"figures {prefix}".strip(), unit="figure",
               disable=progress is False)
    drawn = {name: DRAW[name](a, out_dir, prefix) for name in bar}
    bar.close()
    return drawn

__all__ = ["DRAW", "FIGURES", "RULE_COLORS", "Analysis", "applicable", "cosine_to_bp", "draw_figures", "firing_rates",
           "gradient_snr", "load_analysis", "paths_per_rule", "rdm_grid", "representational_paths",
           "robustness_curves", "spike_raster", "training_curves", "transfer_matrix", "tsne_grid"]
