"""The RSA summary: each block's RDM similarity to the labels (beside the untrained network's) and to BP's RDM
of the same seed (beside BP's noise ceiling), every seed drawn, tests against BP marked."""

import numpy as np

from ..choices import comparison_label, comparison_name
from ..results import load_analysis
from .style import FIGURES_DRAWN, PAGE, figure_style, legend_columns, letter_panels, new_figure, require, save

SIGNIFICANT = 0.05  # Holm-adjusted p below which a rule's difference to BP is starred


def _blocks(a, groups) -> list[str]:
    """Every block of the groups' runs, in network order (the first run's order, then any others')."""
    blocks = []
    for g in groups:
        blocks += [layer for layer in a.layers(g.runs[0]) if layer not in blocks]
    return blocks


def _starred(a, g, block: str) -> bool:
    """Whether stats.csv's paired test of this rule against BP (label similarity of `block`) is significant."""
    quantity = f"RDM similarity to labels/{block}"
    return any(row["quantity"] == quantity and row["versus"] == "bp" and row["model"] == g.model
               and row["rule"] == g.rule and row.get("p_holm") is not None and row["p_holm"] < SIGNIFICANT
               for row in a.results.get("stats", []))  # no test (one seed): NaN in stats, null in results.json


def _dodge(i: int, j: int, count: int) -> float:
    width = 0.8 / count
    return i + (j - (count - 1) / 2) * width


def _seed_values(table: dict, g, block: str) -> list[float]:
    """The group's runs' values of `block` in a per-run table of the RSA section (runs without it left out)."""
    return [table[run][block] for run in g.runs if block in table.get(run, {})]


def draw_rsa(a, ax, key: str, groups, blocks) -> list:
    """One column of dots (seeds) and a bar (their mean) per rule within each block, from `a.results["rsa"][key]`;
    returns the legend handles."""
    table, handles = a.results["rsa"][key], []
    for j, g in enumerate(groups):
        dots = None
        for i, block in enumerate(blocks):
            values = _seed_values(table, g, block)
            if not values:
                continue
            x = _dodge(i, j, len(groups))
            dots = ax.scatter([x] * len(values), values, s=7, color=g.color, linewidths=0, zorder=3, label=g.label)
            bar = 0.3 / len(groups)
            ax.plot([x - bar, x + bar], [np.mean(values)] * 2, color=g.color, linewidth=1.2)
            if key == "labels" and _starred(a, g, block):
                ax.text(x, max(values), "*", ha="center", va="bottom", fontsize=8, color=g.color)
        handles += [dots] if dots is not None else []
    ax.set_xticks(range(len(blocks)), blocks)
    ax.set_xlim(-0.5, len(blocks) - 0.5)
    return handles


def _untrained(a, ax, blocks, groups) -> list:
    """A grey dash under each rule's dots at its own networks' label similarity as training started (mean over its
    runs): rules whose recipes initialise differently start from different levels."""
    table, handles = a.results["rsa"]["untrained_labels"], []
    for j, g in enumerate(groups):
        for i, block in enumerate(blocks):
            values = _seed_values(table, g, block)
            if values:
                x, half = _dodge(i, j, len(groups)), 0.4 / len(groups)
                handles = ax.plot([x - half, x + half], [np.mean(values)] * 2, color="0.55", linestyle="--",
                                  linewidth=0.8, label="untrained (initialisation)", zorder=1)
    return handles


def _ceiling(a, ax, blocks, groups) -> list:
    """BP's noise ceiling per block as a grey band (lower to upper bound)."""
    ceilings, handles = a.results["rsa"]["ceiling"], []
    for model in {g.model for g in groups} & set(ceilings):
        for i, block in enumerate(blocks):
            if block in ceilings[model]:
                low, high = ceilings[model][block]
                handles = [ax.fill_between([i - 0.45, i + 0.45], low, max(high, low + 0.002), color="0.85",
                                           linewidth=0, zorder=0, label=f"{a.reference()} noise ceiling")]
    return handles


@FIGURES_DRAWN.register("rsa-summary")
def plot_rsa_summary(analysis, out_dir, prefix: str = "") -> list:
    """Per block: each rule's RDM similarity to the label RDM (with the untrained network's and tests against
    BP) and to BP's RDM of the same seed (with BP's noise ceiling), seeds as dots."""
    a = load_analysis(analysis)
    require(bool(a.results.get("rsa", {}).get("labels")), "the analysis holds no RSA summary; rerun `bioplaus analyze`")
    groups, rsa = a.groups(), a.results["rsa"]
    blocks, to_bp = _blocks(a, groups), [g for g in groups if any(run in rsa["bp"] for run in g.runs)]
    methods = rsa["comparison"], rsa.get("label_comparison", rsa["comparison"])
    with figure_style() as plt:
        fig, axes = new_figure(plt, PAGE, 2.3, 1, 1 + bool(to_bp))
        handles = draw_rsa(a, axes[0, 0], "labels", groups, blocks) + _untrained(a, axes[0, 0], blocks, groups)
        axes[0, 0].set_ylabel(f"similarity to the label RDM\n({comparison_label(methods[1])})")
        if to_bp:
            draw_rsa(a, axes[0, 1], "bp", to_bp, blocks)
            handles += _ceiling(a, axes[0, 1], blocks, to_bp)
            axes[0, 1].set_ylabel(f"similarity to {a.reference()}'s RDM,\nsame seed ({comparison_label(methods[0])})")
        fig.legend(handles=handles, loc="outside lower center", ncols=legend_columns(fig, len(handles)))
        letter_panels(axes) if to_bp else None
        return save(fig, out_dir, f"{prefix}rsa-summary", _caption(a, *map(comparison_name, methods[::-1]), bool(to_bp)))


def _caption(a, label_method: str, method: str, to_bp: bool) -> str:
    bp = a.reference()
    text = (f"RDM similarity per block on {a.sample_text()}, {a.seeds_text()}; each seed a dot, the mean a bar. "
            f"{'a: ' if to_bp else ''}To the label RDM (0 same class, 1 otherwise), by {label_method} of the RDMs' "
            f"upper triangles (no credit for ties, which the label RDM is full of); "
            f"dashed grey, under each rule: its own networks as their training started (untrained baseline, mean over "
            f"its seeds; rules whose recipes initialise differently start from different levels); *: differs from {bp}'s, "
            f"paired t over seeds, Holm-adjusted p < {SIGNIFICANT:g} over every paired test in stats.csv.")
    if to_bp:
        text += (f" b: to the RDM of the {bp} run of the same seed, by {method} ({bp} itself is 1 and not drawn); "
                 f"grey band: "
                 f"{bp}'s noise ceiling across its seeds (lower bound: each seed against the mean of the others; "
                 f"upper: against the mean of all), where there are two seeds or more.")
    return text
