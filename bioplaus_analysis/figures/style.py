"""What every figure shares: the rule colours, the packaged style sheet, run grouping over seeds,
and saving as PDF (vector) + PNG (300 dpi) under a stable name, atomically."""

import io
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np

from trainers import __version__
from trainers.errors import ConfigError
from trainers.rules import RULES
from trainers.runfiles import atomic_write

from ..results import read_results

STYLE = Path(__file__).with_name("bioplaus.mplstyle")
RULE_ORDER = tuple(RULES)  # the registry's order: BP, then FA, DFA, DKP, aDFA
# Okabe & Ito (2008): distinguishable under every common colour-vision deficiency; one colour per rule everywhere
RULE_COLORS = {"bp": "#000000", "fa": "#E69F00", "dfa": "#0072B2", "dkp": "#009E73", "adfa": "#CC79A7"}
RULE_LABELS = {"bp": "BP", "fa": "FA", "dfa": "DFA", "dkp": "DKP", "adfa": "aDFA"}
CLASS_PALETTE = "colorblind"
PNG_DPI = 300


class Group(NamedTuple):
    """The runs of one (model, rule) over seeds; `label` names it in legends."""
    model: str
    rule: str
    runs: list
    seeds: list
    label: str

    @property
    def color(self) -> str:
        return RULE_COLORS.get(self.rule, "#999999")


class Analysis(NamedTuple):
    """An analysis folder as read from disk: results.json as a dict and arrays.npz as {name: array}."""
    results: dict
    arrays: dict

    def groups(self) -> list[Group]:
        """Runs grouped by (model, rule) in the canonical rule order, each with its seeds sorted."""
        runs = self.results["runs"]
        keys = sorted({(r["model"], r["rule"]) for r in runs.values()},
                      key=lambda k: (k[0], RULE_ORDER.index(k[1]) if k[1] in RULE_ORDER else len(RULE_ORDER), k[1]))
        several_models = len({model for model, _ in keys}) > 1
        groups = []
        for model, rule in keys:
            members = sorted((r["seed"], name) for name, r in runs.items() if (r["model"], r["rule"]) == (model, rule))
            label = RULE_LABELS.get(rule, rule)
            groups.append(Group(model, rule, [name for _, name in members], [seed for seed, _ in members],
                                f"{model} {label}" if several_models else label))
        return groups

    def layers(self, run: str) -> list[str]:
        return list(self.results["layers"][run])

    @property
    def provenance(self) -> dict:
        return self.results.get("provenance", {})

    def sample_text(self, which: str = "sample") -> str:
        """'n = 200 test images (20 per class)' for the representation ("sample") or "eval_sample"."""
        sample = self.provenance.get(which, {})
        return f"n = {sample.get('n', '?')} test images ({sample.get('per_class', '?')} per class)"

    def seeds_text(self) -> str:
        counts = sorted({len(g.runs) for g in self.groups()})
        seeds = sorted({s for g in self.groups() for s in g.seeds})
        per = "/".join(map(str, counts))
        return f"{per} seed{'s' if counts != [1] else ''} per rule (seed {', '.join(map(str, seeds))})"


def load_analysis(analysis) -> Analysis:
    """An `Analysis` from a folder written by `bioplaus analyze`, or the (results, arrays) pair itself."""
    if isinstance(analysis, Analysis):
        return analysis
    if isinstance(analysis, tuple) and len(analysis) == 2:
        return Analysis(*analysis)
    return Analysis(*read_results(analysis))


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
