"""Figures of learning: training curves, cosine of each rule's update to the BP gradient over training,
gradient SNR per layer. Each panel is a `draw_*(a, ax, …)` function that returns its handles, so the
main figures (`figures.main`) compose the same panels."""

import numpy as np

from ..choices import COSINE_BATCH
from ..results import load_analysis, updates_hidden
from .style import (COLUMN, FIGURES_DRAWN, PAGE, curve_note, error_note, figure_style, legend_columns, letter_panels,
                    mean_interval, new_figure, require, round_ticks, save, seed_curves, seeds_label)

TRAINING_PANELS = {"test_acc": ("test accuracy (%)", 100.0), "val_acc": ("validation accuracy (%)", 100.0),
                   "train_acc": ("training accuracy (%)", 100.0), "train_loss": ("training loss", 1.0)}
PERCENT, COSINE, LOSS = (0.0, 100.0), (-1.0, 1.0), (0.0, np.inf)  # the ranges bands are cut to


def _values(rows) -> np.ndarray:
    """Rows of numbers with JSON nulls (non-finite values) as NaN."""
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def test_split_text(a) -> str:
    """'10,000 test images' when the runs recorded it, else 'the full test split'."""
    counts = {a.results["runs"][run].get("test_images") for run in a.results["runs"]}
    return f"{counts.pop():,} test images" if len(counts) == 1 and None not in counts else "the full test split"


def draw_training(a, ax, key: str = "test_acc") -> list:
    """One training-history quantity (`TRAINING_PANELS`) per epoch, one curve per rule; returns the lines."""
    ylabel, scale = TRAINING_PANELS[key]
    lines = []
    for g in a.groups():
        histories = [a.results["training"][run] for run in g.runs]
        require(all(key in h for h in histories), f"the runs' training history holds no {key}")
        epochs = min(len(h["epoch"]) for h in histories)
        lines.append(seed_curves(ax, histories[0]["epoch"][:epochs], _values([h[key][:epochs] for h in histories]) * scale,
                                 g, limits=LOSS if key == "train_loss" else PERCENT))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.xaxis.get_major_locator().set_params(integer=True)
    return lines


def _cosine_tables(a) -> tuple[list, list[str]]:
    """(the cos_bp table of every run compared with BP, the blocks they measure)."""
    groups = a.compared_groups()
    require(bool(groups), "cosine to BP needs runs of a rule other than BP")
    tables = [a.results["cosine"][run]["training"] for g in groups for run in g.runs]
    layers = [layer for layer in tables[0] if layer != "epoch"]
    require(bool(layers), "the runs' metrics.csv hold no cos_bp columns")
    return tables, layers


def exact_cosine_layers(a) -> list[str]:
    """Blocks where every rule's update is BP's in every run and epoch (cosine 1 within 1e-4): the output block."""
    tables, layers = _cosine_tables(a)
    return [layer for layer in layers
            if all(np.allclose(_values([t[layer]]), 1, atol=1e-4, equal_nan=True) for t in tables)]


def cosine_layers(a) -> list[str]:
    """Layers whose cosine to BP is informative: not those where every rule's update is BP's (cosine 1 by
    construction; it would only take space)."""
    layers, exact = _cosine_tables(a)[1], exact_cosine_layers(a)
    return [layer for layer in layers if layer not in exact] or layers


def draw_cosine(a, ax, layer: str) -> list:
    """Cosine between each rule's update and the true BP gradient of block `layer`, per epoch."""
    lines = []
    for g in a.compared_groups():
        tables = [a.results["cosine"][run]["training"] for run in g.runs]
        epochs = min(len(t["epoch"]) for t in tables)
        lines.append(seed_curves(ax, tables[0]["epoch"][:epochs], _values([t[layer][:epochs] for t in tables]), g,
                                 limits=COSINE))
    ax.axhline(0, color="0.6", linewidth=0.5, linestyle=":")
    ax.set_title(layer)
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    return lines


def draw_snr(a, ax) -> list:
    """Gradient SNR per layer and rule: the mean over seeds (marker, 95 % t interval where there are several)
    with each seed as a dot; returns the error-bar handles."""
    groups = a.groups()
    layers = a.layers(groups[0].runs[0])
    width = 0.8 / len(groups)
    handles, everything = [], []
    for k, g in enumerate(groups):
        values = _values([[a.results["snr"][run].get(layer) if updates_hidden(g.rule) or layer == layers[-1] else None
                            for layer in layers] for run in g.runs])
        everything.append(values)
        mean, half = mean_interval(values)
        x = np.arange(len(layers)) + (k - (len(groups) - 1) / 2) * width
        handles.append(ax.errorbar(x, mean, yerr=half if len(values) > 1 else None, fmt="o", color=g.color,
                                   markersize=3, capsize=1.5, elinewidth=0.7, label=seeds_label(g), zorder=3))
        if len(values) > 1:
            for offset, row in zip(np.linspace(-width / 4, width / 4, len(values)), values):
                ax.scatter(x + offset, row, s=4, color=g.color, alpha=0.5, linewidths=0, zorder=2)
    ax.set_xticks(np.arange(len(layers)), layers)
    ax.set_xlabel("block")
    finite = np.concatenate([v.ravel() for v in everything])
    finite = finite[np.isfinite(finite) & (finite > 0)]
    decades = np.log10(finite.max() / finite.min()) if len(finite) else 0
    ax.set_yscale("log" if decades >= 1 else "linear")
    ax.set_ylabel("gradient SNR" + (" (log scale)" if decades >= 1 else ""))
    return handles


def share_limits(axes) -> None:
    """One y-range for cosine panels: the data's (bands included), padded, within [−1, 1]; a dotted line at 0
    (an update unrelated to BP's) where the range crosses it."""
    curves = [line.get_ydata() for ax in axes for line in ax.get_lines() if line.get_linestyle() != ":"]
    bands = [path.vertices[:, 1] for ax in axes for band in ax.collections for path in band.get_paths()]
    values = np.concatenate([np.asarray(y, float).ravel() for y in curves + bands] or [np.zeros(1)])
    low, high = np.nanmin(values), np.nanmax(values)
    pad = max(0.05, 0.1 * (high - low))
    for ax in axes:
        ax.set_ylim(max(low - pad, -1.05), min(high + pad, 1.05))
        if low - pad < 0 < high + pad:
            ax.axhline(0, color="0.6", linewidth=0.5, linestyle=":", zorder=0)


def snr_caption(a) -> str:
    frozen = [g.label for g in a.groups() if not updates_hidden(g.rule)]
    note = f" {', '.join(frozen)}: the output block alone (its hidden blocks take no update)." if frozen else ""
    return (f"Gradient signal-to-noise ratio, mean_i |E[g_i]| / (std[g_i] + ε), of each rule's own per-sample "
            f"updates per block (over every weight of the block's conv and linear layers, biases excluded) on "
            f"{a.sample_text('eval_sample')}; {error_note(a.groups())}.{note}")


def cosine_caption(a, layers) -> str:
    groups = a.compared_groups()
    batch = {a.results["runs"][run].get("cos_images") or a.results["runs"][run].get("cos_batch")
             for g in groups for run in g.runs}  # the images measured (runs before cos_images: the option)
    batch = f"{batch.pop()} " if len(batch) == 1 and None not in batch else ""
    exact = [layer for layer in exact_cosine_layers(a) if layer not in layers]
    other = [layer for layer in cosine_layers(a) if layer not in layers and layer not in exact]
    dropped = (f" Not shown: {', '.join(exact)}, where every rule's update is {a.reference()}'s (cosine 1 by "
               f"construction)."
               if exact else "") + (f" Not shown for space: {', '.join(other)} (see the cosine-to-bp figure)."
                                    if other else "")
    return (f"Cosine to {a.reference()}, training: between each rule's update and {a.reference(False)} of the "
            f"same network at the same weights, per block, measured after every epoch on a fixed class-balanced "
            f"batch of {batch}held-out (validation) images; {a.reference()} is 1 by definition and not drawn; "
            f"{curve_note(groups)}.{dropped}{a.no_hidden_update_note()}")


@FIGURES_DRAWN.register("gradient-snr")
def plot_gradient_snr(analysis, out_dir, prefix: str = "") -> list:
    """Per layer and rule: gradient SNR of the rule's own per-sample updates, seeds as dots."""
    a = load_analysis(analysis)
    with figure_style() as plt:
        fig, axes = new_figure(plt, COLUMN, 2.2)
        handles = draw_snr(a, axes[0, 0])
        fig.legend(handles=handles, loc="outside lower center", ncols=legend_columns(fig, len(handles)))
        return save(fig, out_dir, f"{prefix}gradient-snr", snr_caption(a))


@FIGURES_DRAWN.register("cosine-to-bp")
def plot_cosine_to_bp(analysis, out_dir, prefix: str = "") -> list:
    """Per hidden block: cosine between each rule's update and the true BP gradient at the same weights,
    measured while training, vs epoch."""
    a = load_analysis(analysis)
    layers = cosine_layers(a)
    with figure_style() as plt:
        fig, axes = new_figure(plt, COLUMN if len(layers) <= 2 else PAGE, 2.0, 1, len(layers), sharey=True)
        lines = [draw_cosine(a, ax, layer) for ax, layer in zip(axes[0], layers)][0]
        share_limits(list(axes[0]))
        axes[0, 0].set_ylabel(f"cosine to {a.reference()}, training")
        fig.legend(handles=lines, loc="outside lower center", ncols=legend_columns(fig, len(lines)))
        letter_panels(axes) if len(layers) > 1 else None
        return save(fig, out_dir, f"{prefix}cosine-to-bp", cosine_caption(a, layers))


@FIGURES_DRAWN.register("training-curves")
def plot_training_curves(analysis, out_dir, prefix: str = "") -> list:
    """Test (and validation) accuracy and training loss per epoch, one colour per rule."""
    a = load_analysis(analysis)
    require(bool(a.results.get("training")), "the analysis holds no training history; rerun `bioplaus analyze`")
    first = next(iter(a.results["training"].values()))
    keys = ["test_acc"] + (["val_acc"] if "val_acc" in first else []) + ["train_acc", "train_loss"]
    with figure_style() as plt:
        fig, axes = new_figure(plt, PAGE, 2.0, 1, len(keys))
        lines = [draw_training(a, ax, key) for ax, key in zip(axes[0], keys)][0]
        fig.legend(handles=lines, loc="outside right center")
        letter_panels(axes)
        parts = [f"test accuracy on {test_split_text(a)}"] + (
            ["validation accuracy on the held-out validation slice of the training split"] if "val_acc" in keys
            else []) + ["training accuracy (running over the epoch)", "training loss (running over the epoch)"]
        panels = "; ".join(f"{chr(ord('a') + i)}: {part}" for i, part in enumerate(parts))
        caption = f"Training on {a.results['dataset']}, per epoch. {panels}; {curve_note(a.groups())}."
        return save(fig, out_dir, f"{prefix}training-curves", caption)


def _bias_variance_blocks(a) -> tuple[list[str], list[str]]:
    """(blocks with both a cosine to BP and an SNR, those of them where every rule's cosine is 1)."""
    runs = [run for g in a.groups() for run in g.runs]
    layers = [layer for layer in a.results["cosine"][runs[0]]["analysis"] if layer in a.results["snr"][runs[0]]]
    trivial = [layer for layer in layers if all(abs(a.results["cosine"][r]["analysis"][layer]["mean"] - 1) < 1e-4
                                                for r in runs)]
    return layers, trivial


def bias_variance_layers(a) -> list[str]:
    """Blocks with both a cosine to BP and an SNR, the output block left out where every rule's cosine is 1."""
    layers, trivial = _bias_variance_blocks(a)
    return [layer for layer in layers if layer not in trivial] or layers


def _left_out_note(a, layers) -> str:
    """' Not shown: out, where every rule's update is BP's (cosine 1).' for the blocks a figure leaves out."""
    absent = [layer for layer in _bias_variance_blocks(a)[1] if layer not in layers]
    return (f" Not shown: {', '.join(absent)}, where every rule's update is {a.reference()}'s (cosine 1)."
            if absent else "")


def draw_bias_variance(a, ax, layer: str) -> list:
    """Each run of `layer` as a point: cosine of its update to BP's gradient (x: bias, 1 = none) against the
    gradient SNR of its per-sample updates (y: variance, high = little); one colour per rule."""
    handles = []
    for g in (g for g in a.groups() if updates_hidden(g.rule)):
        x = [a.results["cosine"][run]["analysis"][layer]["mean"] for run in g.runs]
        y = [a.results["snr"][run][layer] for run in g.runs]
        handles.append(ax.scatter(x, y, s=9, color=g.color, linewidths=0, label=seeds_label(g), zorder=3))
    ax.axvline(1, color="0.6", linewidth=0.5, linestyle=":")
    round_ticks(ax.yaxis)
    ax.set_title(layer)
    ax.set_xlabel(f"cosine to {a.reference()}, after training")
    return handles


@FIGURES_DRAWN.register("bias-variance")
def plot_bias_variance(analysis, out_dir, prefix: str = "") -> list:
    """Per layer: each run's cosine to BP (bias) against its gradient SNR (variance), seeds as points."""
    a = load_analysis(analysis)
    layers = bias_variance_layers(a)
    with figure_style() as plt:
        fig, axes = new_figure(plt, COLUMN if len(layers) <= 2 else PAGE, 2.0, 1, len(layers))
        handles = [draw_bias_variance(a, ax, layer) for ax, layer in zip(axes[0], layers)][0]
        for ax in axes[0]:  # every block on its own scales: SNRs differ between blocks by a factor of several
            ax.set_ylabel("gradient SNR")
        fig.legend(handles=handles, loc="outside lower center", ncols=legend_columns(fig, len(handles)))
        letter_panels(axes) if len(layers) > 1 else None
        caption = (f"Bias and variance of each rule's update per block: cosine to {a.reference()}, after training "
                   f"(x): to {a.reference(False)} of the same network at the same weights, 1 is unbiased (dotted); "
                   f"against the gradient signal-to-noise ratio of its per-sample updates (y; higher is less noisy); "
                   f"both on {a.sample_text('eval_sample')} after training (the cosine: the mean over batches of up to "
                   f"{COSINE_BATCH} that hold every class alike, like the batch measured while training, which holds "
                   f"validation images instead); one point per seed, {a.seeds_text()}, no error bars; each block on "
                   f"its own axes.{_left_out_note(a, layers)}{a.no_hidden_update_note()}")
        return save(fig, out_dir, f"{prefix}bias-variance", caption)
