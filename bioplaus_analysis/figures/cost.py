"""What learning costs: one training step's time, peak memory and multiply-accumulates per rule (relative to
BP's of the same seed where the analysis has BP), and for spiking runs the operations of inference per image."""

import math

import numpy as np

from ..results import load_analysis
from ..tidy_tables import bp_run_of
from .style import FIGURES_DRAWN, PAGE, figure_style, letter_panels, new_figure, require, save

STEP_PANELS = (("ms", "step time"), ("peak_bytes", "step peak memory"), ("macs_per_image", "step MACs"))


def _step_values(a, group, key: str, relative: bool) -> list[float]:
    """One value per seed of `group`: the step quantity, over the same seed's BP run when `relative`."""
    step, values = a.results["cost"]["step"], []
    for run in group.runs:
        value = step[run][key]
        if relative:
            value /= step[bp_run_of(a.results["runs"], run)][key]
        values.append(value)
    return values


def _spread(x: int, count: int) -> np.ndarray:
    """Positions of `count` seeds' dots around `x`, a little apart so that equal values stay visible."""
    return x + (np.linspace(-0.12, 0.12, count) if count > 1 else np.zeros(count))


def _dots(ax, x: int, values, color) -> None:
    """The seeds as dots (spread a little sideways) and their mean as a short bar."""
    ax.scatter(_spread(x, len(values)), values, s=9, color=color, zorder=3, linewidths=0)
    ax.plot([x - 0.25, x + 0.25], [np.mean(values)] * 2, color=color, linewidth=1.2)


def draw_step(a, ax, key: str, title: str, groups) -> bool:
    """Each rule's step quantity `key` per seed (relative to BP when every run has a same-seed BP run);
    returns whether it is relative."""
    relative = all(bp_run_of(a.results["runs"], run) in a.results["cost"]["step"] for g in groups for run in g.runs)
    for x, g in enumerate(groups):
        _dots(ax, x, _step_values(a, g, key, relative), g.color)
    if relative:
        ax.axhline(1.0, color="0.5", linewidth=0.6, linestyle="--")
    unit = {"ms": "ms", "peak_bytes": "bytes", "macs_per_image": "per image"}[key]
    ax.set_ylabel(f"× {a.reference()}" if relative else unit)
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.set_xticks(range(len(groups)), [g.label for g in groups], rotation=45, ha="right")
    return relative


def draw_inference(a, ax, groups) -> None:
    """Spiking runs: each rule's accumulates (spike inputs × fan-out) and multiply-accumulates (analog inputs)
    of inference per image, summed over its weight layers, one dot per seed."""
    layers = a.results["cost"]["layers"]
    totals = [sum(v.get(key, 0.0) for v in layers[run].values()) for g in groups for run in g.runs
              for key in ("accumulates", "multiply_accumulates")]
    totals = [total for total in totals if total > 0] or [1.0]
    scale, unit = (1e6, "millions") if max(totals) >= 1e6 else (1e3, "thousands")  # tick labels of 1 and more
    for x, g in enumerate(groups):
        for key, marker in (("accumulates", "o"), ("multiply_accumulates", "s")):
            values = [sum(v.get(key, 0.0) for v in layers[run].values()) / scale for run in g.runs]
            values = [v for v in values if v > 0]  # a log axis: none of this kind (e.g. no analog input)
            ax.scatter(_spread(x, len(values)), values, s=9, marker=marker, color=g.color, linewidths=0, zorder=3)
    ax.scatter([], [], marker="o", color="0.3", s=9, label="ACs")
    ax.scatter([], [], marker="s", color="0.3", s=9, label="MACs")
    ax.legend(fontsize=6, loc="center right")
    ax.set_yscale("log")  # spikes' accumulates are often a small fraction of the analog layers' MACs
    _plain_log_ticks(ax.yaxis, max(totals) / min(totals))
    ax.set_ylabel(f"{unit} per image")
    ax.set_xlim(-0.5, len(groups) - 0.5)
    ax.set_title("inference operations")
    ax.set_xticks(range(len(groups)), [g.label for g in groups], rotation=45, ha="right")


def _plain_log_ticks(axis, span: float) -> None:
    """A log axis labelled in plain numbers (30, 100 rather than 3 × 10^1, 10^2): within a decade every minor
    tick, which is all there is to label; over a wider span the 2s and 5s of each decade between the 1s."""
    from matplotlib.ticker import FuncFormatter
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    leading = FuncFormatter(lambda value, _: f"{value:g}" if value > 0 and round(
        value / 10 ** math.floor(math.log10(value))) in (2, 5) else "")
    axis.set_major_formatter(plain)
    axis.set_minor_formatter(plain if span < 10 else leading)


@FIGURES_DRAWN.register("cost")
def plot_cost(analysis, out_dir, prefix: str = "") -> list:
    """The cost of one training step per rule (time, peak memory, multiply-accumulates; relative to BP) and,
    for spiking runs, the operations of inference per image."""
    a = load_analysis(analysis)
    step = a.results.get("cost", {}).get("step", {})
    groups = [g for g in a.groups() if all(run in step for run in g.runs)]
    require(bool(groups), "the analysis holds no training-step costs (runs trained by a bioplaus rule)")
    spiking = [g for g in groups if any(layer.get("accumulates") for run in g.runs
                                        for layer in a.results["cost"]["layers"][run].values())]
    with figure_style() as plt:
        fig, axes = new_figure(plt, PAGE, 2.1, 1, 3 + bool(spiking))
        relative = [draw_step(a, ax, key, title, groups) for ax, (key, title) in zip(axes[0], STEP_PANELS)]
        if spiking:
            draw_inference(a, axes[0, 3], spiking)
        letter_panels(axes)
        caption = _caption(a, groups, relative[0], bool(spiking))
        return save(fig, out_dir, f"{prefix}cost", caption)


def _reference_note(a, groups, relative: bool) -> str:
    """' BP's own step: 3.5 ms, 0.70 MiB, 516 thousand MACs per image (mean over seeds).' where the panels are
    ratios; one such sentence per model's BP group."""
    references = [g for g in groups if bp_run_of(a.results["runs"], g.runs[0]) == g.runs[0]]
    notes = []
    for g in references if relative else ():
        step = [a.results["cost"]["step"][run] for run in g.runs]
        ms, mib, macs = (np.mean([s[key] for s in step]) for key in ("ms", "peak_bytes", "macs_per_image"))
        notes.append(f" {g.label}'s own step: {ms:.3g} ms, {mib / 2 ** 20:.3g} MiB, {macs / 1e3:.4g} thousand MACs "
                     f"per image (mean over seeds).")
    return "".join(notes)


def _memory_note(device: str) -> str:
    """How peak memory was measured where the steps ran: the analysis records "CPU, n threads" or a GPU's name."""
    return ("every allocation as PyTorch's profiler records it" if str(device).startswith("CPU")
            else "torch.cuda.max_memory_allocated")


def _caption(a, groups, relative: bool, spiking: bool) -> str:
    cost = a.results["cost"]
    batch = sorted({cost["step"][run]["batch_size"] for g in groups for run in g.runs})
    bp = a.reference()
    versus = f"over the same seed's {bp} step (dashed line: {bp})" if relative else f"(no {bp} run to compare with)"
    text = (f"One training step of each rule, {versus}; each run's own optimiser and learning rates on a batch of "
            f"{'/'.join(map(str, batch))} images, on {cost['device']}. a: median time of {cost['timed']} steps after "
            f"{cost['warmup']} warm-up steps, the rules interleaved in one process; b: peak memory a step allocates beyond the weights and optimiser "
            f"state ({_memory_note(cost['device'])}); c: "
            "multiply-accumulates (MACs) per image of its matrix products and convolutions (forward, backward, "
            f"update; torch.utils.flop_counter). Dots: seeds; bar: their mean.{_reference_note(a, groups, relative)}")
    if spiking:
        text += (f" d: operations of inference per image over {cost['images']} test images, summed over the weight "
                 "layers, on a log axis: accumulates (ACs: each input spike reaches its fan-out) and "
                 "multiply-accumulates (MACs: analog inputs, e.g. the pixels); per layer, with firing rates, in cost.csv.")
    return text
