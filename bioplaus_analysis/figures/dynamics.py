"""Figures of learning dynamics: the weight alignment of each rule's feedback per epoch, and how each block's
representation of the probe set moves while training (similarity to the label RDM, to BP's RDM at the same
epoch, and the joint path of every run's epochs)."""

import numpy as np

from trainers import RULES

from ..choices import comparison_label, comparison_name
from ..results import is_true_gradient, load_analysis
from .style import (COLUMN, FIGURES_DRAWN, PAGE, curve_note, figure_style, legend_columns, letter_panels,
                    new_figure, require, round_ticks, rule_marker, save, seed_curves, seeds_label)


ALIGNMENT_COLUMNS = 5  # panels per row: a layer name such as "stage2.0.shortcut.0" fits its panel


def receiving_block(a, run: str, key: str) -> str:
    """The block a feedback matrix sends its error into, which names its panel: the DFA family's B_l feeds block
    l itself; an FA-family B of a block's only layer feeds the block before it (FA's B of fc1 carries the error
    into conv2). A layer inside a block of several ("stage1.0.branch.0") keeps its own name."""
    layers = a.layers(run)
    if _layer_wise(a.results["runs"][run]["rule"]) and key in layers and layers.index(key) > 0:
        return layers[layers.index(key) - 1]
    return key


def _panel_table(a, run: str) -> dict:
    """The run's alignment table keyed by the block each feedback sends its error into."""
    return {key if key == "epoch" else receiving_block(a, run, key): values
            for key, values in a.results.get("alignment", {}).get(run, {}).items()}


def alignment_blocks(a) -> list[str]:
    """Blocks (and weight layers of blocks with several) that a recorded feedback sends its error into, in any
    run, in network order: a layer right after its block's position."""
    tables = [t for t in (_panel_table(a, run) for run in a.results.get("alignment", {})) if t]
    require(bool(tables), "the runs recorded no weight alignment (BP only, or trained with --probes-per-class 0)")
    order = {layer: k for k, layer in enumerate(max((a.layers(run) for run in a.results["runs"]), key=len))}
    recorded = list(dict.fromkeys(b for t in tables for b in t if b != "epoch"))  # each run's table is in order

    def position(name):
        block = next((b for b in order if name == b or name.startswith(b + ".")), None)
        return order.get(block, len(order)), recorded.index(name)
    return sorted(recorded, key=position)


def _in_rule_order(a, handles: dict) -> list:
    """Legend handles {label: handle} in the canonical rule order of `a.groups()`."""
    return [handles[seeds_label(g)] for g in a.groups() if seeds_label(g) in handles]


def _series(tables, key):
    """(epochs, [seeds, epochs] values) over the epochs every table has."""
    epochs = min(len(t["epoch"]) for t in tables)
    values = np.array([[np.nan if v is None else v for v in t[key][:epochs]] for t in tables], dtype=float)
    return tables[0]["epoch"][:epochs], values


def _alignment_tables(a, group, block: str) -> list:
    """The alignment tables of the group's runs that recorded `block` (none: the rule has no feedback there)."""
    tables = [_panel_table(a, run) for run in group.runs]
    return [table for table in tables if block in table]


def draw_alignment(a, ax, block: str) -> list:
    """Angle between each rule's feedback of `block` and the forward path it replaces, per epoch."""
    lines, groups = [], a.compared_groups()
    for k, g in enumerate(groups):
        tables = _alignment_tables(a, g, block)
        if tables:  # curves often coincide near 90°: each later rule thinner, on top (each rule has its marker)
            line = seed_curves(ax, *_series(tables, block), g, marker=rule_marker(g.rule),
                               limits=(0.0, 180.0))  # an angle
            under = (len(groups) - 1 - k) / max(len(groups) - 1, 1)  # 1 for the first rule, 0 for the last
            line.set_linewidth(1.0 + 1.2 * under)
            line.set_markersize(2.5 + 1.5 * under)
            lines.append(line)
    ax.axhline(90, color="0.6", linewidth=0.5, linestyle=":")
    ax.set_ylim(0, max(95, *(np.nanmax(line.get_ydata()) + 5 for line in lines)))
    ax.set_yticks([0, 30, 60, 90])
    ax.set_title(block, **({"fontsize": 6.5} if len(block) > 12 else {}))  # a layer: block.path
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    return lines


def alignment_caption(a) -> str:
    groups = a.compared_groups()
    probes = a.results.get("dynamics", {}).get("probes")
    batch = f"the {probes} probe images" if probes else "the held-out probe images"
    layer_wise = [g.label for g in groups if _layer_wise(g.rule)]  # the FA family: B per weight layer
    direct = [g.label for g in groups if not _layer_wise(g.rule)]  # the DFA family: straight from the output
    parts = ([f"{', '.join(layer_wise)}: the layer's B_l as the rule uses it (sign symmetry: sign(W_l) with its "
              f"magnitudes) against the layer's own weight W_l, whose transpose carries {a.reference()}'s error back"]
             if layer_wise else []) + (
        [f"{', '.join(direct)}: B_l against the transpose of the network's Jacobian from the block's output to the "
         f"logits, averaged over {batch}"] if direct else [])
    return ("Weight alignment: angle between each feedback matrix and the forward path it replaces, in the panel "
            "of the block it sends its error into (the DFA family's B_l: block l; an FA-family B of a block's layer: "
            "the block before it; a layer inside a block of several: its own panel, block.layer), per "
            f"epoch from initialisation (epoch 0). {'; '.join(parts)}. 0° is {a.reference()}'s signal, 90° (dotted) "
            f"a signal unrelated to it; {a.reference()} has no feedback and is not drawn{_missing_note(a, groups)}; "
            f"{curve_note(groups)}.{a.no_hidden_update_note()}")


def _layer_wise(rule: str) -> bool:
    """Whether `rule` (a registered name) has a feedback matrix per weight layer, as FA."""
    return rule in RULES and RULES[rule].layer_wise


def _missing_note(a, groups) -> str:
    """'; … no feedback matrix there (FA at conv1; DFA, DKP at out)': the panels a rule is absent from."""
    blocks = alignment_blocks(a)
    missing = [(g.label, [b for b in blocks if not _alignment_tables(a, g, b)]) for g in groups]
    by_blocks = {}
    for label, absent in missing:
        if absent:
            by_blocks.setdefault(tuple(absent), []).append(label)
    parts = [f"{', '.join(labels)} at {', '.join(absent)}" for absent, labels in by_blocks.items()]
    return f"; a rule without a curve in a panel has no feedback matrix there ({'; '.join(parts)})" if parts else ""


@FIGURES_DRAWN.register("weight-alignment")
def plot_weight_alignment(analysis, out_dir, prefix: str = "") -> list:
    """Per block with feedback: the angle between feedback and forward path vs epoch, one curve per rule."""
    a = load_analysis(analysis)
    blocks = alignment_blocks(a)
    columns = min(len(blocks), ALIGNMENT_COLUMNS)
    rows = -(-len(blocks) // columns)
    with figure_style() as plt:
        fig, axes = new_figure(plt, COLUMN if len(blocks) <= 2 else PAGE, 0.3 + 1.7 * rows, rows, columns, sharey=True)
        handles = {}
        for ax in axes.flat[len(blocks):]:
            ax.set_visible(False)
        for ax, block in zip(axes.flat, blocks):
            handles.update({line.get_label(): line for line in draw_alignment(a, ax, block)})
        for row in axes:
            row[0].set_ylabel("angle to forward path (°)")
        fig.legend(handles=_in_rule_order(a, handles), loc="outside lower center",
                   ncols=legend_columns(fig, len(handles)))
        letter_panels(axes) if len(blocks) > 1 else None
        return save(fig, out_dir, f"{prefix}weight-alignment", alignment_caption(a))


def dynamics_blocks(a) -> list[str]:
    per_run = a.results.get("dynamics", {}).get("per_run", {})
    require(bool(per_run), "the runs recorded no dynamics.npz (trained with --probes-per-class 0, or before it "
                           "existed)")
    return list(dict.fromkeys(b for d in per_run.values() for b in d["label_similarity"]))


def draw_similarity(a, ax, block: str, key: str) -> list:
    """Per epoch, the change since initialisation of each rule's RDM similarity of `block` to the label RDM
    (`key` "label_similarity") or to BP's RDM of the same seed at the same epoch ("bp_similarity"). Changes are
    often a thousandth of the level, so the axis shows them with their power of ten, and the level at epoch 0
    (the mean over runs: the rules of a seed share their initialisation unless their init gains differ) is
    written in the panel."""
    per_run, lines, start = a.results["dynamics"]["per_run"], [], []
    for g in a.groups():
        tables = [{"epoch": per_run[r]["epoch"][:len(per_run[r][key][block])], block: per_run[r][key][block]}
                  for r in g.runs if block in per_run.get(r, {}).get(key, {})]
        if tables and not (key == "bp_similarity" and is_true_gradient(g.rule)):
            epochs, values = _series(tables, block)
            start.extend(values[:, 0])
            lines.append(seed_curves(ax, epochs, values - values[:, :1], g))
    _change_axis(ax, lines, key == "label_similarity", float(np.mean(start)) if start else np.nan)
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    return lines


def _change_axis(ax, lines, note_start, start) -> None:
    """A change-since-epoch-0 axis: ticks scaled by a shared power of ten, a dotted zero line, and (`note_start`)
    the epoch-0 level where the curves leave room."""
    from matplotlib.ticker import ScalarFormatter
    formatter = ScalarFormatter(useMathText=True)
    formatter.set_powerlimits((-2, 2))
    ax.yaxis.set_major_formatter(formatter)
    round_ticks(ax.yaxis)
    ax.axhline(0, color="0.6", linewidth=0.5, linestyle=":")
    if note_start and lines:  # an empty legend's title, so that matplotlib puts it where the curves are not
        note = ax.legend([], [], title=f"epoch 0: {start:.3f}", loc="best", frameon=False, title_fontsize=6)
        note.get_title().set_color("0.3")


def draw_epoch_paths(a, ax, block: str) -> None:
    """Each rule's path over epochs in the block's joint MDS through its seeds' mean position per epoch (arrows,
    a filled hexagon at the end), each seed's own path a thin line from its white circle (initialisation); the
    label RDM as a star. Every seed's arrows at once (25 runs × 15 epochs) could not be read."""
    path = a.results["dynamics"]["paths"][block]
    coords = a.arrays[f"dynamics/{block}/coords"]
    where = {item: k for k, item in enumerate(path["items"])}
    for g in a.groups():
        seeds = [np.array([coords[where[i]] for i in path["items"] if i.rsplit("/", 1)[0] == run]) for run in g.runs]
        seeds = [points for points in seeds if len(points)]
        if not seeds:
            continue
        for points in seeds:
            ax.update_datalim(points)  # arrows (annotations) do not widen the axes; every epoch must be in view
            if len(seeds) > 1:
                ax.plot(*points.T, color=g.color, alpha=0.3, linewidth=0.5)
            ax.scatter(*points[0], marker="o", s=10, facecolor="white", edgecolor="0.3", linewidths=0.6,
                       zorder=3.5)  # over any last epoch that ends where it started (the readout control)
        mean = np.mean([points[:min(map(len, seeds))] for points in seeds], axis=0)
        for start, end in zip(mean[:-1], mean[1:]):
            ax.annotate("", end, start, arrowprops={"arrowstyle": "-|>", "color": g.color, "lw": 0.8,
                                                    "mutation_scale": 5, "shrinkA": 1, "shrinkB": 1})
        ax.scatter(*mean[-1], marker="h", s=20, color=g.color, linewidths=0, zorder=3)
    ax.set_aspect("equal", adjustable="datalim")
    ax.margins(0.1)
    _label_star(ax, coords[where["labels"]], np.array([coords[where[i]] for i in path["items"] if i != "labels"]))
    ax.set_xlabel(f"MDS 1 (radians); stress-1 {path['stress']:.2f}")


def _label_star(ax, star, points) -> None:
    """The label RDM as a star near the paths; one far from them (beyond 1.5 times their half-extent) would
    shrink them to a blob, so an arrow at the panel's edge points its way instead."""
    centre = (points.max(0) + points.min(0)) / 2
    half = max(float((points.max(0) - points.min(0)).max()) / 2, 1e-9)
    offset = (star - centre) / half
    if np.abs(offset).max() <= 1.5:
        ax.scatter(*star, marker="*", s=45, color="white", edgecolor="black", linewidths=0.7, zorder=4)
    else:
        tip = 0.5 + 0.49 * offset / np.abs(offset).max()  # the text near the edge, apart from the paths' middle
        ax.annotate("labels", xy=tuple(tip), xytext=tuple(0.5 + 0.3 * offset / np.abs(offset).max()),
                    xycoords="axes fraction", textcoords="axes fraction", fontsize=6, ha="center", va="center",
                    arrowprops={"arrowstyle": "-|>", "color": "0.3", "lw": 0.6, "mutation_scale": 6})


def other_starts(a) -> list[str]:
    """The rules (legend names) whose runs do not start from BP's weights of the same seed: their epoch-0 RDM
    similarity to BP's is below 1, e.g. a recipe with another init gain."""
    per_run = a.results["dynamics"]["per_run"]
    return [g.label for g in a.groups() if not is_true_gradient(g.rule) and any(
        values and values[0] < 1 - 1e-6 for r in g.runs for values in per_run.get(r, {}).get("bp_similarity", {}).values())]


def _start_notes(a) -> tuple[str, str]:
    """(panel b's epoch-0 note, the white circle's note) of the caption: one shared start, or which rules differ."""
    others = other_starts(a)
    if not others:
        return (f"which is 1 at epoch 0 (the same initialisation; {a.reference()} is not drawn)",
                "shared by the rules of one seed")
    names = " and ".join([", ".join(others[:-1]), others[-1]] if len(others) > 1 else others)
    return (f"which is 1 at epoch 0 where a rule starts from {a.reference()}'s weights ({names} start elsewhere, "
            f"e.g. at another init gain; {a.reference()} is not drawn)", f"one per seed and start; {names} start elsewhere")


def dynamics_caption(a, rows) -> str:
    d = a.results["dynamics"]
    b_note, circle_note = _start_notes(a)
    split = "validation" if d.get("split") == "validation" else d.get("split", "held-out")
    text = (f"Representational dynamics of {d['probes']} fixed class-balanced {split} images (probes), per hidden "
            f"block, from initialisation (epoch 0) to the end of training; RDMs are 1 − Pearson r between the "
            f"probes' block outputs{' (spike counts)' if a.spiking() else ''}, compared with the label RDM by "
            f"{comparison_name(d.get('label_comparison', d['comparison']))} and with each other by "
            f"{comparison_name(d['comparison'])}. "
            f"a: change of the similarity to the label RDM since epoch 0 (its epoch-0 level written in each panel)")
    if "bp" in rows:
        text += (f"; b: change of the similarity to the RDM of the {a.reference()} run of the same seed at the same "
                 f"epoch, {b_note}")
    several = any(len(g.runs) > 1 for g in a.groups())
    text += (f"; {'c' if 'bp' in rows else 'b'}: one MDS per block of all runs' epoch RDMs and the label RDM "
             "(star; an arrow labelled labels points to it where it lies off the panel), each rule's path over "
             + ("epochs through its seeds' mean position (arrows, from their mean start to a hexagon at the last "
                f"epoch; each seed's own path a thin line from its white circle, its initialisation, {circle_note}), "
                if several else f"epochs from a white circle (initialisation, {circle_note}) to a hexagon (last "
                f"epoch), ")
             + "the MDS's "
             f"stress-1 under each panel; the similarity panels each on their own scale, with its power of ten; "
             f"{curve_note(a.groups())}.")
    return text


@FIGURES_DRAWN.register("representation-dynamics")
def plot_representation_dynamics(analysis, out_dir, prefix: str = "") -> list:
    """Per hidden block: RDM similarity to the labels and to BP's per epoch, and the joint path over epochs."""
    a = load_analysis(analysis)
    blocks = dynamics_blocks(a)
    per_run = a.results["dynamics"]["per_run"]
    rows = ["labels"] + (["bp"] if any(d["bp_similarity"] for d in per_run.values()) else []) + ["paths"]
    with figure_style() as plt:
        fig, axes = new_figure(plt, COLUMN if len(blocks) == 1 else PAGE, 1.75 * len(rows), len(rows), len(blocks))
        handles = {}
        for column, block in enumerate(blocks):
            axes[0, column].set_title(block)
            for row, what in enumerate(rows):
                ax = axes[row, column]
                if what == "paths":
                    draw_epoch_paths(a, ax, block)
                    continue
                lines = draw_similarity(a, ax, block, "label_similarity" if what == "labels" else "bp_similarity")
                handles.update({line.get_label(): line for line in lines})
        d = a.results["dynamics"]
        label_method = comparison_label(d.get("label_comparison", d["comparison"]))
        axes[0, 0].set_ylabel(f"Δ similarity to label RDM\n({label_method})")
        axes[-1, 0].set_ylabel("MDS 2 (radians)")
        if "bp" in rows:
            axes[1, 0].set_ylabel(f"Δ similarity to {a.reference()}'s RDM\n({comparison_label(d['comparison'])})")
        fig.legend(handles=_in_rule_order(a, handles), loc="outside lower center",
                   ncols=legend_columns(fig, len(handles)))
        letter_panels(axes[:, 0])
        return save(fig, out_dir, f"{prefix}representation-dynamics", dynamics_caption(a, rows))
