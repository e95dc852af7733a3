"""Publication figures drawn from an analysis folder (results.json + arrays.npz) and nothing else.

Each `plot_*` function takes the folder (or a loaded `Analysis`), an output folder and a file-name
prefix, and writes PREFIX + its registered name as .pdf (vector) and .png (300 dpi), 3.3 or 6.9 in wide,
with its caption in captions.json and captions.md (see `style`). Panels are `draw_*(a, ax, …)` functions
that return their handles; the `main-*` figures compose them. `DRAW` maps each
name in `FIGURES` to its function (registered with `@FIGURES_DRAWN.register(name)`); `draw_figures` draws every figure
that the analysis holds data for.
"""

from pathlib import Path

from trainers.runfiles import make_writable_folder

from ..choices import FIGURES
from ..results import Analysis, is_true_gradient, load_analysis, rule_color
from . import dynamics, learning, main, representations, robustness, spiking  # noqa: F401  (they register their figures)
from .style import FIGURES_DRAWN, check_file_name

DRAW = {name: FIGURES_DRAWN[name] for name in FIGURES}  # the order of FIGURES: the order figures are drawn in


def applicable(analysis) -> list[str]:
    """The names of the figures that `analysis` holds the data for."""
    a = load_analysis(analysis)
    results, names = a.results, list(FIGURES)
    if "tsne/input" not in a.arrays:
        names.remove("tsne-grid")
    if all(is_true_gradient(g.rule) for g in a.groups()):
        names.remove("cosine-to-bp")
    if not results.get("robustness", {}).get("curves"):
        names.remove("robustness")
        names.remove("main-robustness")
    if not any(key.startswith("transfer/") for key in a.arrays) or not results.get("robustness", {}).get("curves"):
        names.remove("transfer")
    if not any(results.get("alignment", {}).values()):
        names.remove("weight-alignment")
    if not results.get("dynamics"):
        names.remove("representation-dynamics")
    if all(is_true_gradient(g.rule) for g in a.groups()) or not results.get("snr"):
        names.remove("bias-variance")
    if not results.get("firing"):
        names.remove("firing-rates")
        names.remove("spike-raster")
    return names


def draw_figures(analysis, out_dir, prefix: str = "", names=None, progress=None) -> dict[str, list[Path]]:
    """The figures `names` (default: every applicable one) of `analysis` into `out_dir`, with a progress bar
    unless `progress` is False; returns {name: [PDF path, PNG path]}."""
    from tqdm.auto import tqdm
    check_file_name(prefix, "--prefix")
    a = load_analysis(analysis)
    make_writable_folder(Path(out_dir))
    bar = tqdm(applicable(a) if names is None else names, desc=f"figures {prefix}".strip(), unit="figure",
               disable=None if progress is None else not progress)
    drawn = {name: DRAW[name](a, out_dir, prefix) for name in bar}
    bar.close()
    return drawn

__all__ = ["DRAW", "FIGURES", "Analysis", "applicable", "draw_figures", "load_analysis", "rule_color"]
