"""Figures of spiking networks: per-neuron firing-rate histograms with the silent fraction over seeds, and
spike rasters (ticks, neurons sorted by rate) of one test image shown beside them."""

import numpy as np

from ..results import load_analysis
from .style import COLUMN, FIGURES_DRAWN, PAGE, class_names, figure_style, letter_panels, new_figure, require, save

RASTER_NEURONS = 50  # neurons per raster, the most active first: at print size each keeps its own row


def _spiking(a):
    firing = a.results.get("firing", {})
    groups = [g for g in a.groups() if all(run in firing for run in g.runs)]
    require(bool(groups), "the analysis holds no spiking runs (firing rates and rasters are SNN figures)")
    return firing, groups


def draw_rates(a, ax, layer: str, groups) -> list:
    """Step histograms of per-neuron firing rate, one per rule (seeds pooled, as densities so that rules
    compare), silent neurons counted in the first bin and their fraction (mean, seeds' range) in the legend."""
    data = {g.label: [a.arrays[f"rates/{run}/{layer}"] for run in g.runs] for g in groups}
    top = max(max(float(r.max()) for r in rates) for rates in data.values())
    ceiling = a.results["firing"][groups[0].runs[0]].get("rate_ceiling")  # None: a library's neurons
    bins = np.linspace(0, max(top, ceiling or 0.0, 0.05), 31)
    handles = []
    for g in groups:
        pooled = np.concatenate(data[g.label])
        silent = _over_seeds([(rates == 0).mean() for rates in data[g.label]])
        full = "" if ceiling is None else "; at ceiling " + _over_seeds(  # the analysis's saturated fraction
            [a.results['firing'][run]['layers'][layer]['saturated_fraction'] for run in g.runs])
        _, _, patches = ax.hist(pooled, bins=bins, histtype="step", color=g.color, density=True, linewidth=0.9,
                                label=f"{g.label}: silent {silent}{full}")
        handles.append(patches[0])
    if ceiling is not None:
        ax.axvline(ceiling, color="0.4", linestyle=":", linewidth=0.8)
    ax.set_xlabel("firing rate (spikes per time step)")
    ax.set_ylabel("density of neurons")
    ax.set_title(layer)
    return handles


def _over_seeds(fractions) -> str:
    """'12%' for one seed, '12% (10–15)' (mean, then the seeds' range) for several; one number where they agree."""
    mean, low, high = (f"{100 * value:.0f}" for value in (np.mean(fractions), min(fractions), max(fractions)))
    return f"{mean}%" if len(fractions) == 1 or low == high else f"{mean}% ({low}–{high})"


@FIGURES_DRAWN.register("firing-rates")
def plot_firing_rates(analysis, out_dir, prefix: str = "") -> list:
    """Per hidden layer: histograms of each rule's per-neuron firing rates; the legend gives each rule's silent
    fraction and its fraction at the rate ceiling (mean over seeds, with their range)."""
    a = load_analysis(analysis)
    firing, groups = _spiking(a)
    first = firing[groups[0].runs[0]]
    layers = list(first["layers"])
    with figure_style() as plt:
        fig, axes = new_figure(plt, COLUMN if len(layers) == 1 else PAGE, 2.0 + 0.12 * len(groups), 1, len(layers))
        handles = [draw_rates(a, ax, layer, groups) for ax, layer in zip(axes[0], layers)]
        labels = [f"{g.label}: " + " | ".join(per_layer[k].get_label().split(": ", 1)[1] for per_layer in handles)
                  for k, g in enumerate(groups)]  # one entry per rule: its numbers in every layer, in panel order
        title = "rule: silent" + ("; at the ceiling" if first.get("rate_ceiling") else "") + (
            f" ({' | '.join(layers)})" if len(layers) > 1 else "")
        fig.legend(handles[0], labels, loc="outside lower center", title=title, title_fontsize=6)  # under the bars
        letter_panels(axes) if len(layers) > 1 else None
        neurons = ", ".join(f"{layer}: {info['neurons']}" for layer, info in first["layers"].items())
        seeds = sorted({len(g.runs) for g in groups})
        caption = (f"Per-neuron firing rates (spikes per time step, T = {first['time_steps']}, averaged over "
                   f"{a.sample_text()}), as densities over the neurons of every seed pooled ({neurons} neurons per "
                   f"run; {'/'.join(map(str, seeds))} seed{'s' if seeds != [1] else ''} per rule). The first bin "
                   f"holds the silent neurons (never spiked) with the rarely firing ones; the legend gives the "
                   f"silent fraction, its mean over seeds with the seeds' range in brackets."
                   + (f" Dotted: the highest rate a neuron can reach ({first['rate_ceiling']:.2f}: a spike, then its "
                      f"refractory steps); the legend gives the fraction of neurons at it on every image, likewise "
                      f"(saturated: their rate cannot rise further; the last bin also holds the neurons just "
                      f"below it)." if first.get("rate_ceiling") else ""))
        return save(fig, out_dir, f"{prefix}firing-rates", caption)


def raster_neurons(trains, count: int = RASTER_NEURONS) -> np.ndarray:
    """Up to `count` neurons evenly spaced along the ranking of the layer's firing neurons by spike count,
    most active first: the layer's range of activity, not only its saturated top."""
    spikes = trains.sum(0)
    ranked = np.argsort(-spikes, kind="stable")
    firing = ranked[spikes[ranked] > 0]
    if len(firing) <= count:
        return firing
    return firing[np.linspace(0, len(firing) - 1, count).round().astype(int)]


def draw_raster(ax, trains, color) -> None:
    """Spike trains (T, neurons) as ticks for the `raster_neurons`, the most active at the top."""
    order = raster_neurons(trains)
    events = [np.nonzero(trains[:, neuron])[0] + 1 for neuron in order]  # time steps 1..T of each spike
    ax.eventplot(events[::-1], colors=color, lineoffsets=1, linelengths=0.7, linewidths=0.6)
    ax.set_xlim(0.5, trains.shape[0] + 0.5)
    ax.set_ylim(-0.5, len(order) - 0.5)


@FIGURES_DRAWN.register("spike-raster")
def plot_spike_raster(analysis, out_dir, prefix: str = "") -> list:
    """The test image, then for each rule (first seed) and hidden layer the spike trains it causes, as
    ticks with neurons sorted by activity."""
    a = load_analysis(analysis)
    firing, groups = _spiking(a)
    first = firing[groups[0].runs[0]]
    layers, image = list(first["layers"]), first.get("raster_image", {})
    columns = len(groups) * len(layers)
    with figure_style() as plt:
        fig, axes = new_figure(plt, PAGE if columns > 1 else COLUMN, 1.6, 1, columns + 1,
                               width_ratios=(0.8,) + (1,) * columns)
        if "raster/image" in a.arrays:
            pixels = a.arrays["raster/image"]
            axes[0, 0].imshow(pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0), cmap="gray_r")
        label = image.get("label")
        name = "?" if label is None else class_names(a.results["dataset"], [label])[0]
        axes[0, 0].set_title(f"test image {image.get('test_index', '?')}\n{name}", fontsize=6)
        axes[0, 0].set_xticks([])
        axes[0, 0].set_yticks([])
        for spine in axes[0, 0].spines.values():  # no frame, but still a panel (letter a)
            spine.set_visible(False)
        panels = [(g, layer) for g in groups for layer in layers]
        for ax, (g, layer) in zip(axes[0, 1:], panels):
            trains = a.arrays[f"raster/{g.runs[0]}/{layer}"]
            draw_raster(ax, trains, g.color)
            silent = (trains.sum(0) == 0).mean()
            ax.set_title(f"{g.label}, {layer}\n{trains.mean():.2f} spikes/step\n{silent:.0%} silent here",
                         color=g.color, fontsize=6)
            ax.set_xlabel("time step")
            ax.set_yticks([])
        axes[0, 1].set_ylabel("neuron (by rate)")
        letter_panels(axes)
        caption = (f"Spike trains caused by one test image (a) in every hidden layer of each rule's first-seed "
                   f"network, one tick per spike; {RASTER_NEURONS} neurons evenly spaced along the ranking of the "
                   f"layer's firing neurons by spike count (most active on top; all of them where fewer fire); "
                   f"the title gives the layer's mean spikes per neuron and time step and the fraction of its "
                   f"neurons silent on this image (the firing-rate figure counts silence over every image).")
        return save(fig, out_dir, f"{prefix}spike-raster", caption)
