"""What every figure shares: the packaged style sheet, mean ± sem over seeds, and saving as PDF (vector)
+ PNG (300 dpi) under a stable name, atomically. Rule colours come from the rules (`Rule.color`)."""

import io
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from trainers import ConfigError, __version__
from trainers.runfiles import atomic_write

from ..choices import FIGURES
from ..registry import Registry


STYLE = Path(__file__).with_name("bioplaus.mplstyle")
# Every drawing function registers itself here: `@FIGURES_DRAWN.register("rdm-grid")`.
FIGURES_DRAWN = Registry("figure", FIGURES)
CLASS_PALETTE = "colorblind"
PNG_DPI = 300


def mean_sem(values) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over the first axis (seeds); the sem is 0 for a single seed."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return values.mean(0), np.zeros_like(values[0])
    return values.mean(0), values.std(0, ddof=1) / np.sqrt(len(values))


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@contextmanager
def figure_style():
    """matplotlib with the Agg backend and the packaged style sheet, for the duration of one figure."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with plt.style.context(str(STYLE)):
        yield plt


def save(fig, out_dir, name: str) -> list[Path]:
    """Write `fig` as NAME.pdf and NAME.png (300 dpi) into `out_dir` atomically; returns both paths.
    The PDF carries no creation date, so redrawing the same analysis gives the same file."""
    import matplotlib.pyplot as plt
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext, options in (("pdf", {"metadata": {"Creator": f"bioplaus {__version__}", "CreationDate": None}}),
                         ("png", {"dpi": PNG_DPI, "metadata": {"Software": f"bioplaus {__version__}"}})):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=ext, **options)
        atomic_write(out_dir / f"{name}.{ext}", buffer.getvalue())
        paths.append(out_dir / f"{name}.{ext}")
    plt.close(fig)
    return paths


def rule_legend_handles(groups, linestyle="-"):
    from matplotlib.lines import Line2D
    return [Line2D([], [], color=g.color, linestyle=linestyle, marker="o", markersize=3, label=g.label)
            for g in groups]
