"""Figures of spiking networks: per-neuron firing rates per layer and spike rasters of one test image."""

import numpy as np

from ..results import load_analysis
from .style import FIGURES_DRAWN, figure_style, require, save

RASTER_NEURONS = 100  # the first neurons of a layer shown in a raster: more become an unreadable grey


def _spiking(a):
    firing = a.results.get("firing", {})
    groups = [g for g in a.groups() if all(run in firing for run in g.runs)]
    require(bool(groups), "the analysis holds no spiking runs (firing rates and rasters are SNN figures)")
    return firing, groups


@FIGURES_DRAWN.register("firing-rates")
def plot_firing_rates(analysis, out_dir, prefix: str = "") -> list:
    """Per hidden layer: the distribution over neurons of each rule's firing rate (spikes per time step,
    averaged over the sample and pooled over seeds), with the fraction of silent neurons."""
    a = load_analysis(analysis)
    firing, groups = _spiking(a)
    layers = list(firing[groups[0].runs[0]]["layers"])
    steps = firing[groups[0].runs[0]]["time_steps"]
    with figure_style() as plt:
        fig, axes = plt.subplots(1, len(layers), figsize=(1.0 + 0.55 * len(groups) * len(layers) + 1.2, 2.4),
                                 squeeze=False, sharey=True, layout="constrained")
        for ax, layer in zip(axes[0], layers):
            data = [np.concatenate([a.arrays[f"rates/{run}/{layer}"] for run in g.runs]) for g in groups]
            parts = ax.violinplot(data, showextrema=False, widths=0.8)
            for body, g in zip(parts["bodies"], groups):
                body.set_facecolor(g.color)
                body.set_edgecolor(g.color)
                body.set_alpha(0.35)
            for x, (values, g) in enumerate(zip(data, groups), start=1):
                ax.plot([x - 0.25, x + 0.25], [values.mean()] * 2, color=g.color, linewidth=1.5)
                ax.text(x, 0.98, f"{(values == 0).mean():.0%} silent", ha="center", va="top", fontsize=6,
                        transform=ax.get_xaxis_transform())
            ax.set_xticks(range(1, len(groups) + 1), [g.label for g in groups])
            ax.set_xlabel(f"{layer} ({a.results['firing'][groups[0].runs[0]]['layers'][layer]['neurons']} neurons)")
            top = max(float(values.max()) for values in data)
            ax.set_ylim(0, max(top, 0.05) * 1.2)
        axes[0, 0].set_ylabel(f"firing rate\n(spikes per time step, T = {steps})")
        fig.suptitle(f"Per-neuron firing rates; {a.sample_text()}\nbar: mean over neurons; neurons of all seeds "
                     "pooled; silent: never spiked")
        return save(fig, out_dir, f"{prefix}firing-rates")


@FIGURES_DRAWN.register("spike-raster")
def plot_spike_raster(analysis, out_dir, prefix: str = "") -> list:
    """Spike trains of the first neurons of each hidden layer for one test image, one row per rule
    (first seed), the same image for every rule."""
    a = load_analysis(analysis)
    firing, groups = _spiking(a)
    first = firing[groups[0].runs[0]]
    layers = list(first["layers"])
    image = first.get("raster_image", {})
    with figure_style() as plt:
        from matplotlib.colors import ListedColormap
        fig, axes = plt.subplots(len(groups), len(layers), figsize=(2.4 * len(layers) + 0.8, 1.1 * len(groups) + 0.6),
                                 squeeze=False, sharex=True, layout="constrained")
        for row, g in zip(axes, groups):
            run = g.runs[0]
            for ax, layer in zip(row, layers):
                trains = a.arrays[f"raster/{run}/{layer}"][:, :RASTER_NEURONS]  # (T, neurons)
                ax.imshow(trains.T, aspect="auto", origin="lower", cmap=ListedColormap(["white", g.color]),
                          vmin=0, vmax=1, extent=(0.5, trains.shape[0] + 0.5, -0.5, trains.shape[1] - 0.5))
                rate = trains.mean()
                ax.set_title(f"{g.label} (seed {g.seeds[0]}), {layer}: {rate:.2f} spikes/step", color=g.color,
                             fontsize=6.5)
                ax.set_ylabel("neuron")
        for ax in axes[-1]:
            ax.set_xlabel("time step")
        fig.suptitle(f"Spike rasters of the first {RASTER_NEURONS} neurons for test image "
                     f"{image.get('test_index', '?')} (class {image.get('label', '?')})")
        return save(fig, out_dir, f"{prefix}spike-raster")
