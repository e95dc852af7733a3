"""Figures of adversarial robustness: accuracy vs ε (true gradient solid, feedback path dashed) and the
transfer matrix between rules."""

import numpy as np

from ..results import is_true_gradient, load_analysis
from .style import FIGURES_DRAWN, figure_style, mean_sem, require, save

ATTACK_NAMES = {"fgsm": "FGSM", "pgd": "PGD"}


def _attacked(a):
    robustness = a.results.get("robustness", {})
    curves = robustness.get("curves", {})
    require(bool(curves), "the analysis holds no attack results (no run has an input gradient, or no --attack)")
    return robustness, [g for g in a.groups() if all(run in curves for run in g.runs)]


@FIGURES_DRAWN.register("robustness")
def plot_robustness(analysis, out_dir, prefix: str = "") -> list:
    """Accuracy vs ε per attack: white-box attacks with the true input gradient (solid) and attacks with
    the rule's own pseudo-gradient (dashed, a gradient-masking probe); mean ± sem over seeds."""
    a = load_analysis(analysis)
    robustness, groups = _attacked(a)
    eps = np.array(robustness["eps"])
    attacks = robustness["attacks"]
    modes = [m for m in ("true", "feedback") if m in robustness["modes"]]
    with figure_style() as plt:
        from matplotlib.lines import Line2D
        fig, axes = plt.subplots(1, len(attacks), figsize=(2.6 * len(attacks) + 1.3, 2.4), sharey=True,
                                 squeeze=False, layout="constrained")
        for ax, attack in zip(axes[0], attacks):
            for g in groups:
                for mode, style in zip(modes, ("-", "--")):
                    if mode == "feedback" and is_true_gradient(g.rule):
                        continue  # BP's pseudo-gradient is the true gradient: the same curve
                    mean, sem = mean_sem([np.array(a.results["robustness"]["curves"][run][attack][mode]) * 100
                                          for run in g.runs])
                    ax.plot(eps, mean, style, color=g.color, marker="o" if mode == "true" else None, markersize=2.5)
                    ax.fill_between(eps, mean - sem, mean + sem, color=g.color, alpha=0.15, linewidth=0)
            steps = f", {robustness['pgd_steps']} steps" if attack == "pgd" else ""
            ax.set_title(f"{ATTACK_NAMES.get(attack, attack)}{steps}")
            ax.set_xlabel("ε (L∞, pixel units in [0, 1])")
            ax.set_ylim(-2, 102)
        axes[0, 0].set_ylabel("accuracy under attack (%)")
        handles = [Line2D([], [], color=g.color, marker="o", markersize=3, label=f"{g.label} (n = {len(g.runs)})")
                   for g in groups]
        handles += [Line2D([], [], color="0.3", linestyle="-", label="true gradient (white box)")]
        if "feedback" in modes:
            handles += [Line2D([], [], color="0.3", linestyle="--", label="rule's feedback path\n(masking probe)")]
        fig.legend(handles=handles, loc="outside right center")
        fig.suptitle(f"Adversarial robustness; {a.sample_text('eval_sample')}; mean ± sem over seeds")
        return save(fig, out_dir, f"{prefix}robustness")


def _rule_matrix(matrix, order, groups):
    """Rule × rule matrix from a run × run one: the diagonal is each run's white-box accuracy (mean over
    seeds), off-diagonal cells the mean over all (source run, target run) pairs of the two rules."""
    index = {run: i for i, run in enumerate(order)}
    out = np.zeros((len(groups), len(groups)))
    for i, source in enumerate(groups):
        for j, target in enumerate(groups):
            pairs = [(index[s], index[t]) for s in source.runs for t in target.runs if (s == t) == (i == j)]
            out[i, j] = np.mean([matrix[s, t] for s, t in pairs]) if pairs else np.nan
    return out


@FIGURES_DRAWN.register("transfer")
def plot_transfer(analysis, out_dir, prefix: str = "", eps: float | None = None) -> list:
    """Heatmaps (one per attack) of target accuracy under true-gradient attacks crafted on the source
    rule's model, at one ε (default: the middle of the grid); the diagonal is the white-box attack."""
    a = load_analysis(analysis)
    robustness, groups = _attacked(a)
    grid = list(robustness["eps"])
    eps = grid[len(grid) // 2] if eps is None else eps
    require(eps in grid, f"ε {eps} is not in the analysis grid {grid}")
    k = grid.index(eps)
    attacks = [attack for attack in robustness["attacks"] if f"transfer/{attack}" in a.arrays]
    require(bool(attacks), "the analysis holds no transfer matrices; analyse with --modes including transfer")
    import seaborn as sns
    labels = [g.label for g in groups]
    size = 0.45 * len(groups) + 1.2
    with figure_style() as plt:
        fig, axes = plt.subplots(1, len(attacks), figsize=(size * len(attacks) + 0.8, size), squeeze=False,
                                 layout="constrained")
        for ax, attack in zip(axes[0], attacks):
            matrix = _rule_matrix(a.arrays[f"transfer/{attack}"][k], robustness["transfer_order"], groups) * 100
            sns.heatmap(matrix, ax=ax, vmin=0, vmax=100, cmap="magma", annot=True, fmt=".0f", square=True,
                        annot_kws={"fontsize": 6}, xticklabels=labels, yticklabels=labels, cbar=ax is axes[0, -1],
                        cbar_kws={"label": "target accuracy (%)", "shrink": 0.8})
            ax.set_xlabel("target model (evaluated)")
            ax.set_ylabel("source model (crafts the attack)")
            ax.set_title(f"{ATTACK_NAMES.get(attack, attack)}, ε = {eps:g}")
            ax.tick_params(length=0)
        fig.suptitle(f"Transfer of true-gradient attacks (diagonal: white box); {a.sample_text('eval_sample')}; "
                     f"off-diagonal: mean over seed pairs", fontsize=7)
        return save(fig, out_dir, f"{prefix}transfer")
