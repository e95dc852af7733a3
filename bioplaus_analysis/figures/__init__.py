"""Publication figures drawn from an analysis folder (results.json + arrays.npz) and nothing else.

Each `plot_*` function takes the folder (or a loaded `Analysis`), an output folder and a file-name
prefix, and writes PREFIX + its registered name as .pdf (vector) and .png (300 dpi), 3.3 or 6.9 in wide,
with its caption in captions.json and captions.md (see `style`). Panels are `draw_*(a, ax, …)` functions
that return their handles; the `main-*` figures compose them. `DRAW` maps each
name in `FIGURES` to its function (registered with `@FIGURES_DRAWN.register(name)`); `draw_figures` draws every figure
that the analysis holds data for.
"""

import hashlib
import json
from pathlib import Path

from trainers import RunDirError
from trainers.store.runfiles import atomic_write, folder_lock, make_writable_folder

from ..choices import FIGURES
from ..results import RESULTS, Analysis, load_analysis, rule_color
from . import cost, dynamics, learning, main, representations, robustness, rsa_summary, schematic, spiking  # noqa: F401  (they register their figures)
from .style import FIGURES_DRAWN, check_file_name

DRAW = {name: FIGURES_DRAWN[name] for name in FIGURES}  # the order of FIGURES: the order figures are drawn in


def applicable(analysis) -> list[str]:
    """The names of the figures that `analysis` holds the data for."""
    a = load_analysis(analysis)
    results, names = a.results, list(FIGURES)
    if "tsne/input" not in a.arrays:
        names.remove("tsne-grid")
    if not results.get("architecture"):  # networks trained elsewhere, or an analysis older than the schematic
        names.remove("schematic")
    if not results.get("rsa", {}).get("labels"):  # an analysis written before the RSA summary
        names.remove("rsa-summary")
    if min(len(layers) for layers in results["layers"].values()) < 3:  # input, 2 layers, labels: too few for an MDS
        names.remove("paths-per-rule")
    if not a.compared_groups():  # BP and the readout control alone
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
    if any(run not in results.get("snr", {}) for run in results["runs"]):  # e.g. a network trained elsewhere
        names = [name for name in names if name not in ("gradient-snr", "bias-variance")]
    elif not a.compared_groups():
        names.remove("bias-variance")
    if not results.get("firing"):
        names.remove("firing-rates")
        names.remove("spike-raster")
    if not results.get("cost", {}).get("step"):  # no run trained by a bioplaus rule (or an older analysis)
        names.remove("cost")
    if not any(results.get("training", {}).values()):  # networks analysed in memory: no training history
        names = [name for name in names if name not in ("training-curves", "main-learning", "cosine-to-bp")]
    return names


DRAWN = "figures.json"  # {file stem: SHA-256 of the results.json it was drawn from}


def _source(analysis) -> str:
    """What a figure is drawn from: the SHA-256 of the analysis folder's results.json ("in memory" otherwise)."""
    if isinstance(analysis, (str, Path)):
        return hashlib.sha256((Path(analysis) / RESULTS).read_bytes()).hexdigest()
    return "in memory"


def _refuse_foreign(out_dir: Path, stems, source: str, record: dict) -> None:
    """RunDirError if a figure to draw is in `out_dir` but `record` (its figures.json) says another source."""
    for stem in stems:
        if any((out_dir / f"{stem}.{ext}").exists() for ext in ("pdf", "png")) and record.get(stem) != source:
            raise RunDirError(f"{out_dir} holds {stem}.pdf/png drawn from another analysis (or not by bioplaus); "
                              "pass another --out, or --force to replace it")


def draw_figures(analysis, out_dir, prefix: str = "", names=None, progress=None, force: bool = False) -> dict:
    """The figures `names` (default: every applicable one) of `analysis` into `out_dir`, with a progress bar
    unless `progress` is False; returns {name: [PDF path, PNG path]}. A figure file there drawn from another
    analysis is refused unless `force` (out_dir/figures.json records each file's analysis)."""
    from tqdm.auto import tqdm
    check_file_name(prefix, "--prefix")
    a, out_dir = load_analysis(analysis), Path(out_dir)
    names = applicable(a) if names is None else list(names)
    source, record_path = _source(analysis), out_dir / DRAWN
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    if not force:
        _refuse_foreign(out_dir, [prefix + name for name in names], source, record)
    make_writable_folder(out_dir)
    bar = tqdm(names, desc=f"figures {prefix}".strip(), unit="figure", disable=None if progress is None else not progress)
    drawn = {name: DRAW[name](a, out_dir, prefix) for name in bar}
    bar.close()
    with folder_lock(out_dir):  # read again: another process may have drawn into the folder meanwhile
        record = json.loads(record_path.read_text()) if record_path.is_file() else {}
        record.update({prefix + name: source for name in drawn})
        atomic_write(record_path, json.dumps(dict(sorted(record.items())), indent=2) + "\n")
    return drawn


__all__ = ["DRAW", "FIGURES", "Analysis", "applicable", "draw_figures", "load_analysis", "rule_color"]
