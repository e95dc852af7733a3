"""Figures of learning: gradient SNR per layer, cosine to the BP gradient over training, training curves."""

import numpy as np

from ..results import is_true_gradient, load_analysis
from .style import FIGURES_DRAWN, figure_style, mean_sem, require, save


def _values(rows) -> np.ndarray:
    """Rows of numbers with JSON nulls (non-finite values) as NaN."""
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def _band(ax, epochs, values, group) -> None:
    """One rule's curve over epochs: the mean over seeds (rows of `values`) with a ± sem band."""
    mean, sem = mean_sem(values)
    ax.plot(epochs, mean, "-o", color=group.color, markersize=2.5, label=f"{group.label} (n = {len(group.runs)})")
    ax.fill_between(epochs, mean - sem, mean + sem, color=group.color, alpha=0.2, linewidth=0)


@FIGURES_DRAWN.register("gradient-snr")
def plot_gradient_snr(analysis, out_dir, prefix: str = "") -> list:
    """Per layer and rule: gradient SNR mean_i |E[g_i]| / (std[g_i] + ε) of the rule's own per-sample
    updates, mean ± sem over seeds (bars) with one dot per seed."""
    a = load_analysis(analysis)
    groups = a.groups()
    layers = a.layers(groups[0].runs[0])
    width = 0.8 / len(groups)
    with figure_style() as plt:
        fig, ax = plt.subplots(figsize=(max(3.4, 0.9 * len(layers) + 1.6), 2.6))
        for k, g in enumerate(groups):
            values = _values([[a.results["snr"][run].get(layer) for layer in layers] for run in g.runs])
            mean, sem = mean_sem(values)
            x = np.arange(len(layers)) + (k - (len(groups) - 1) / 2) * width
            ax.errorbar(x, mean, yerr=sem, fmt="o", color=g.color, markersize=4, capsize=2, elinewidth=0.8,
                        label=f"{g.label} (n = {len(g.runs)})", zorder=3)
            offsets = np.linspace(-width / 4, width / 4, len(values)) if len(values) > 1 else [0.0]
            for offset, row in zip(offsets, values):
                ax.scatter(x + offset, row, s=6, color=g.color, alpha=0.45, linewidths=0, zorder=2)
        ax.set_xticks(np.arange(len(layers)), layers)
        ax.set_xlabel("layer")
        ax.set_yscale("log")
        ax.set_ylabel("gradient SNR, mean |E[g]| / std[g]")
        ax.legend(title="rule (seeds)", loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.set_title(f"Gradient signal-to-noise ratio of each rule's per-sample update\n"
                     f"{a.sample_text('eval_sample')}; mean ± sem over seeds, dots are seeds")
        return save(fig, out_dir, f"{prefix}gradient-snr")


@FIGURES_DRAWN.register("cosine-to-bp")
def plot_cosine_to_bp(analysis, out_dir, prefix: str = "") -> list:
    """Per layer: cosine between each rule's update and the true BP gradient at the same weights on the
    same batch, measured while training, vs epoch; mean ± sem band over seeds (BP is 1 by definition)."""
    a = load_analysis(analysis)
    groups = [g for g in a.groups() if not is_true_gradient(g.rule)]
    require(bool(groups), "cosine to BP needs runs of a rule other than BP")
    layers = [layer for layer in a.results["cosine"][groups[0].runs[0]]["training"] if layer != "epoch"]
    require(bool(layers), "the runs' metrics.csv hold no cos_bp columns")
    with figure_style() as plt:
        fig, axes = plt.subplots(1, len(layers), figsize=(1.75 * len(layers) + 1.0, 2.3), sharey=True,
                                 squeeze=False, layout="constrained")
        for ax, layer in zip(axes[0], layers):
            for g in groups:
                tables = [a.results["cosine"][run]["training"] for run in g.runs]
                epochs = min(len(t["epoch"]) for t in tables)
                values = _values([t[layer][:epochs] for t in tables])
                _band(ax, tables[0]["epoch"][:epochs], values, g)
            ax.axhline(0, color="0.6", linewidth=0.6, linestyle=":")
            exact = all(np.allclose(_values([a.results["cosine"][run]["training"][layer]]), 1, atol=1e-4)
                        for g in groups for run in g.runs)
            ax.set_title(f"{layer} (every rule = BP here)" if exact else layer)
            ax.set_xlabel("epoch")
            ax.xaxis.get_major_locator().set_params(integer=True)
        axes[0, 0].set_ylabel("cosine(rule update, BP gradient)")
        axes[0, 0].set_ylim(-1.05, 1.05)
        fig.legend(*axes[0, 0].get_legend_handles_labels(), title="rule (seeds)", loc="outside right center")
        batch = {a.results["runs"][run].get("cos_batch") for g in groups for run in g.runs}
        batch = f"{batch.pop()} " if len(batch) == 1 and None not in batch else ""
        fig.suptitle("Alignment with backpropagation during training, per layer (BP ≡ 1)\nmeasured after each "
                     f"epoch on a fixed class-balanced batch of {batch}test images; mean ± sem over seeds")
        return save(fig, out_dir, f"{prefix}cosine-to-bp")


@FIGURES_DRAWN.register("training-curves")
def plot_training_curves(analysis, out_dir, prefix: str = "") -> list:
    """Test accuracy and training loss per epoch, mean ± sem band over seeds, one colour per rule."""
    a = load_analysis(analysis)
    groups = a.groups()
    require(bool(a.results.get("training")), "the analysis holds no training history; rerun `bioplaus analyze`")
    panels = (("test_acc", "test accuracy (%)", 100.0), ("train_acc", "training accuracy (%)", 100.0),
              ("train_loss", "training loss (cross-entropy)", 1.0))
    with figure_style() as plt:
        fig, axes = plt.subplots(1, len(panels), figsize=(6.6, 2.2), layout="constrained")
        for ax, (key, ylabel, scale) in zip(axes, panels):
            for g in groups:
                histories = [a.results["training"][run] for run in g.runs]
                epochs = min(len(h["epoch"]) for h in histories)
                _band(ax, histories[0]["epoch"][:epochs], _values([h[key][:epochs] for h in histories]) * scale, g)
            ax.set_xlabel("epoch")
            ax.set_ylabel(ylabel)
            ax.xaxis.get_major_locator().set_params(integer=True)
        fig.legend(*axes[0].get_legend_handles_labels(), title="rule (seeds)", loc="outside right center")
        fig.suptitle(f"Training on {a.results['dataset']}: mean ± sem over seeds "
                     "(test accuracy on the full test split)")
        return save(fig, out_dir, f"{prefix}training-curves")
