"""Figures of representational geometry: the RDM grid on a fixed scale, representational paths (joint,
and per rule aligned to the joint embedding by Procrustes), the Shepard diagram of the MDS, t-SNE."""

import math

import numpy as np

from ..choices import comparison_name
from ..results import Analysis, load_analysis
from .style import (COLUMN, FIGURES_DRAWN, MAX_HEIGHT, PAGE, block_marker, class_colors, class_names, figure_style,
                    letter_panels, new_figure, require, rule_legend_handles, save, seeds_label)

RDM_NAMES = {"correlation": "1 − Pearson r", "euclidean": "squared Euclidean / features",
             "mahalanobis": "Mahalanobis", "poisson": "Poisson KL"}
PATH_COLUMNS = 5  # paths-per-rule panels per row at most
RDM_SCALE = {"correlation": (0.0, 2.0)}  # fixed limits where the measure has them: CNN and SNN compare


def _class_ticks(ax, labels, names, axis="both", every: int = 1):
    """Class names (every `every`-th, where the panel is small) at the centre of each class block of a
    label-sorted matrix."""
    classes, starts = np.unique(labels, return_index=True)
    centres = (starts + np.bincount(labels)[classes] / 2 - 0.5)[::every]
    names = list(names)[::every]
    if axis in ("both", "x"):
        ax.set_xticks(centres, names, fontsize=6, rotation=90)
    if axis in ("both", "y"):
        ax.set_yticks(centres, names, fontsize=6)
    ax.tick_params(length=0, pad=1)


def rdm_scale(a) -> tuple[float, float, str]:
    """(vmin, vmax, method): the measure's fixed range where it has one, else the data's."""
    method = a.provenance.get("options", {}).get("rdm_method", "correlation")
    if method in RDM_SCALE:
        return (*RDM_SCALE[method], method)
    layers = [a.arrays[f"rdm/{run}"] for run in a.results["runs"]]
    return 0.0, float(max(np.max(m) for m in layers + [a.arrays["rdm/input"]])), method


def class_name_step(panel_inches: float) -> int:
    """Which class names an RDM panel of `panel_inches` shows: every one, or every other below about an inch
    (ten 6 pt names need about 75 pt)."""
    return 1 if panel_inches >= 0.98 else 2


def draw_rdm(a, ax, matrix, title: str, ticks: str = "none", every: int = 1):
    """One label-sorted RDM on the figure's fixed scale, class names on the `ticks` axes (every `every`-th);
    returns the image."""
    labels = a.arrays["sample/labels"]
    order = np.argsort(labels, kind="stable")
    vmin, vmax, _ = rdm_scale(a)
    image = ax.imshow(matrix[order][:, order], cmap="viridis", vmin=vmin, vmax=vmax)
    ax.set_title(title, fontsize=6)
    ax.set_xticks([])
    ax.set_yticks([])
    if ticks != "none":
        _class_ticks(ax, labels[order], class_names(a.results["dataset"], np.unique(labels)), ticks, every)
    return image


def rdm_caption(a) -> str:
    vmin, vmax, method = rdm_scale(a)
    fixed = "the measure's full range" if method in RDM_SCALE else "the largest value of any RDM here"
    return (f"Representational dissimilarity matrices ({RDM_NAMES.get(method, method)}) of every block, mean over "
            f"seeds, {a.seeds_text()}, on {a.sample_text()} sorted by class; row a holds the input (pixels) and "
            f"the label RDM (0 same class, 1 different), then one row per rule. Colour scale "
            f"{vmin:g}–{vmax:g} ({fixed}), the same for every panel.")


@FIGURES_DRAWN.register("rdm-grid")
def plot_rdm_grid(analysis, out_dir, prefix: str = "") -> list:
    """Rules × layers grid of RDMs (mean over seeds) on one fixed colour scale, with the input and label
    RDMs in the first row; images sorted by class."""
    a: Analysis = load_analysis(analysis)
    groups = a.groups()
    layers = max((a.layers(g.runs[0]) for g in groups), key=len)
    columns = max(len(layers), 2)
    with figure_style() as plt:
        width = PAGE if columns > 3 else COLUMN
        height = width / columns * (0.95 if columns > 2 else 0.75)  # two columns: the class names take a third
        height = min(height, MAX_HEIGHT / (len(groups) + 1))  # many rules: smaller squares, one page
        every = class_name_step(height)
        fig, axes = new_figure(plt, width, height * (len(groups) + 1), len(groups) + 1, columns)
        for ax in axes.flat:
            ax.set_visible(False)
        top = {"input (pixels)": a.arrays["rdm/input"], "labels": a.arrays["rdm/labels"]}
        for k, (title, matrix) in enumerate(top.items()):
            axes[0, k].set_visible(True)
            image = draw_rdm(a, axes[0, k], matrix, title, "y" if k == 0 else "none", every)
        for row, g in zip(axes[1:], groups):
            mean = np.mean([a.arrays[f"rdm/{run}"] for run in g.runs], axis=0)
            for col, layer in enumerate(a.layers(g.runs[0])):
                row[col].set_visible(True)
                draw_rdm(a, row[col], mean[col], layer, "y" if col == 0 else "none", every)
            first = a.layers(g.runs[0])[0]  # the rule in its first panel's title: a y label would sit past the class names
            row[0].set_title(f"{seeds_label(g)}: {first}", color=g.color, fontweight="bold", fontsize=6)
        letter_panels(axes[:, 0], figure_edge=True)  # one letter per row: the references, then each rule
        _rdm_colorbar(a, fig, axes, image)
        return save(fig, out_dir, f"{prefix}rdm-grid", rdm_caption(a))


def _rdm_colorbar(a, fig, axes, image) -> None:
    """The shared colour scale: across the first row's free slots where there are two (four layers or more),
    else beside the grid."""
    label = f"dissimilarity ({RDM_NAMES.get(rdm_scale(a)[2], rdm_scale(a)[2])})"
    if axes.shape[1] >= 4:
        holder = axes[0, 2]
        holder.set_visible(True)
        holder.axis("off")
        cax = holder.inset_axes([0.1, 0.45, axes.shape[1] - 2 - 0.2, 0.08])  # across the free slots
        cax.set_in_layout(False)  # it spans the next slot, which must keep its width
        bar = fig.colorbar(image, cax=cax, orientation="horizontal")
    else:
        bar = fig.colorbar(image, ax=axes, shrink=0.4, aspect=25)
    bar.set_label(label, fontsize=6)


def _joint(a):
    coords = a.arrays["paths/joint/coords"]
    return coords, {item: i for i, item in enumerate(a.results["paths"]["joint"]["items"])}


def _path_points(coords, where, run, layers):
    return np.array([coords[where["input"]]] + [coords[where[f"{run}/{layer}"]] for layer in layers])


def draw_path(ax, points, color, blocks, alpha=1.0, names=False):
    """One path input → `blocks`: arrows between points, each block with its own marker (`block_marker`), and
    its name beside it when `names`."""
    for k, (start, end) in enumerate(zip(points[:-1], points[1:])):  # the first leaves the input's square
        ax.annotate("", end, start, arrowprops={"arrowstyle": "-|>", "color": color, "alpha": alpha, "lw": 0.8,
                                                "mutation_scale": 6, "shrinkA": 4 if k == 0 else 2, "shrinkB": 2})
    for block, point in zip(blocks, points[1:]):
        ax.scatter(*point, marker=block_marker(block), s=12, color=color, alpha=alpha, linewidths=0, zorder=3)
    for name, point, away in zip(blocks if names else (), points[1:], label_directions(points)):
        ax.annotate(name, point, textcoords="offset points", xytext=tuple(5 * away), fontsize=6, color=color,
                    ha=_align(away[0], "left", "right"), va=_align(away[1], "bottom", "top"),
                    zorder=5)  # above the input and label anchors


def label_directions(points: np.ndarray) -> np.ndarray:
    """For every point after the first, the unit direction pointing away from its neighbours on the path
    (the bisector of the outside angle): there a block's name overlaps neither the path nor its arrows."""
    def unit(v):
        return v / max(float(np.linalg.norm(v)), 1e-12)
    directions = []
    for k in range(1, len(points)):
        away = unit(points[k] - points[k - 1]) + (unit(points[k] - points[k + 1]) if k + 1 < len(points) else 0)
        if np.linalg.norm(away) < 1e-6:  # a straight pass: go to the side
            step = unit(points[k] - points[k - 1])
            away = np.array([-step[1], step[0]])
        directions.append(unit(away))
    return np.array(directions).reshape(-1, 2)


def _align(component: float, positive: str, negative: str) -> str:
    return positive if component > 0.35 else negative if component < -0.35 else "center"


def _anchors(ax, coords, where) -> None:
    for item, marker, label in (("input", "s", "input RDM"), ("labels", "*", "label RDM")):
        ax.scatter(*coords[where[item]], marker=marker, s=30 if marker == "s" else 45, color="white", edgecolor="black",
                   zorder=4, label=label, linewidths=0.7)


def draw_joint_paths(a, ax) -> list:
    """Each rule's path in the joint MDS through its blocks' mean position over seeds, each seed's blocks as light
    markers around it (45 paths of arrows are unreadable), input and label RDM as anchors; returns legend handles
    (rules, layer markers, anchors)."""
    from matplotlib.lines import Line2D
    coords, where = _joint(a)
    groups = a.groups()
    for g in groups:
        blocks = a.layers(g.runs[0])
        paths = np.array([_path_points(coords, where, run, blocks) for run in g.runs])  # [seed, input + blocks, 2]
        for path in paths if len(paths) > 1 else ():
            for block, point in zip(blocks, path[1:]):
                ax.scatter(*point, marker=block_marker(block), s=6, color=g.color, alpha=0.35, linewidths=0, zorder=2)
        draw_path(ax, paths.mean(0), g.color, blocks)
    _anchors(ax, coords, where)
    ax.set_xlabel("MDS 1 (radians)")
    ax.set_ylabel("MDS 2 (radians)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.margins(0.08)
    layers = max((a.layers(g.runs[0]) for g in groups), key=len)
    markers = [Line2D([], [], color="0.3", linestyle="", marker=block_marker(layer), markersize=3, label=layer)
               for layer in layers]
    return rule_legend_handles(groups) + markers + ax.get_legend_handles_labels()[0]


def procrustes(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """`source` points rotated/reflected, scaled and shifted onto `target` (least squares): a per-run MDS,
    whose rotation and reflection are arbitrary, drawn in the joint embedding's frame."""
    from scipy.linalg import orthogonal_procrustes
    s_mean, t_mean = source.mean(0), target.mean(0)
    s, t = source - s_mean, target - t_mean
    rotation, singular = orthogonal_procrustes(s, t)
    scale = singular / max(float((s ** 2).sum()), 1e-12)
    return s @ rotation * scale + t_mean


def aligned_path(a, run) -> np.ndarray:
    """The run's own MDS path (input, blocks, labels) aligned to the same items of the joint embedding."""
    coords, where = _joint(a)
    info = a.results["paths"]["per_run"][run]
    target = np.array([coords[where[item if item in ("input", "labels") else f"{run}/{item}"]]
                       for item in info["items"]])
    return procrustes(a.arrays[f"paths/{run}/coords"], target)


def draw_shepard(a, ax):
    """The joint MDS's Shepard diagram: embedded distance vs RDM angle for every pair, with stress-1."""
    coords, _ = _joint(a)
    require("paths/joint/distances" in a.arrays, "the analysis holds no path distances (an older analysis); "
                                                 "rerun `bioplaus analyze`")
    distances = a.arrays["paths/joint/distances"]
    upper = np.triu_indices(len(coords), 1)
    embedded = np.linalg.norm(coords[:, None] - coords[None], axis=-1)[upper]
    ax.scatter(distances[upper], embedded, s=2, color="0.35", alpha=0.5, linewidths=0, rasterized=True)
    top = float(max(distances[upper].max(), embedded.max()))
    ax.plot([0, top], [0, top], color="0.6", linewidth=0.6, linestyle=":")
    ax.set_xlabel("RDM angle (radians)")
    ax.set_ylabel("MDS distance")
    ax.set_title(f"Shepard diagram, stress-1 {a.results['paths']['joint']['stress']:.3f}")
    return ax.collections[0]


def paths_caption(a) -> str:
    comparison = comparison_name(a.results["paths"].get("comparison", "cosine"))
    return (f"Representational paths: every block's RDM is a point; distances are arccos({comparison}) "
            f"between RDMs, embedded in 2-D by metric MDS (stress-1 {a.results['paths']['joint']['stress']:.3f}). "
            f"Each path runs from the input RDM (square) through the blocks (one marker per block name, the same in "
            f"every figure; arrows give the direction) towards the label RDM (star); {a.sample_text()}; {a.seeds_text()}"
            + ("; a rule's path joins its blocks' mean positions over seeds, each seed's blocks the light markers "
               "around them." if any(len(g.runs) > 1 for g in a.groups()) else "."))


def _equal_aspect_height(paths, panel_width: float) -> float:
    """A figure height at which equal-aspect panels of these paths (plus margins) fill their width."""
    points = np.concatenate(paths)
    spans = np.ptp(points, axis=0) * 1.3  # the panels' margins of 0.15 on each side
    return float(np.clip((panel_width - 0.4) * spans[1] / max(spans[0], 1e-9) + 0.75, 1.4, 2.8))


@FIGURES_DRAWN.register("paths-per-rule")
def plot_paths_per_rule(analysis, out_dir, prefix: str = "") -> list:
    """One panel per rule: its first seed's own MDS path, aligned to the joint embedding by Procrustes,
    every layer named, all panels on the same axes."""
    a = load_analysis(analysis)
    groups = a.groups()
    coords, where = _joint(a)
    paths = [aligned_path(a, g.runs[0]) for g in groups]
    width = PAGE if len(groups) > 2 else COLUMN
    rows = math.ceil(len(groups) / PATH_COLUMNS)  # many rules: rows of at most PATH_COLUMNS panels
    columns = math.ceil(len(groups) / rows)
    with figure_style() as plt:
        fig, axes = new_figure(plt, width, rows * _equal_aspect_height(paths, width / columns), rows, columns,
                               sharex=True, sharey=True)
        for ax in axes.flat[len(groups):]:
            ax.set_visible(False)
        for ax, g, points in zip(axes.flat, groups, paths):
            run = g.runs[0]
            draw_path(ax, points[:-1], g.color, a.layers(run), names=True)
            _anchors(ax, points, {"input": 0, "labels": len(points) - 1})  # the run's own, aligned
            ax.set_title(f"{g.label} (seed {g.seeds[0]})\nstress-1 {a.results['paths']['per_run'][run]['stress']:.2f}",
                         color=g.color, fontsize=6)
            ax.set_xlabel("MDS 1 (radians)")
            ax.margins(0.15)
            ax.set_aspect("equal", adjustable="box")  # radians the same length on both axes, as in the joint MDS
        fig.supylabel("MDS 2 (radians)", fontsize=7)  # once for the grid: a label per row fell off the page's edge
        letter_panels(axes) if len(groups) > 1 else None
        caption = (f"Each rule's path in its own MDS (first seed), rotated, reflected and scaled onto the joint "
                   f"embedding by Procrustes so that panels share axes: input (square) → blocks (named) → label RDM "
                   f"(star); {a.sample_text()}.")
        return save(fig, out_dir, f"{prefix}paths-per-rule", caption)


def _tsne_settings(a) -> str:
    """' PCA-initialised t-SNE, perplexity 30, seed 0.' from the analysis's sample size and embedding seed."""
    from ..embedding import default_perplexity
    n, seed = a.provenance.get("sample", {}).get("n"), a.provenance.get("seeds", {}).get("embedding")
    if n is None:
        return ""
    return (f" PCA-initialised t-SNE (features wider than 50 first reduced to 50 principal components), perplexity "
            f"{default_perplexity(n):g}{'' if seed is None else f', seed {seed}'}.")


@FIGURES_DRAWN.register("tsne-grid")
def plot_tsne_grid(analysis, out_dir, prefix: str = "") -> list:
    """The input's t-SNE once, then rules × layers t-SNE embeddings (first seed of each rule), points
    coloured by class with a palette disjoint from the rule colours."""
    a = load_analysis(analysis)
    require("tsne/input" in a.arrays, "the analysis holds no t-SNE embeddings; analyse with --embeddings tsne")
    groups = a.groups()
    labels = a.arrays["sample/labels"]
    classes = np.unique(labels)
    colors = dict(zip(classes, class_colors(classes)))
    point_colors = [colors[c] for c in labels]
    columns = max(len(a.layers(g.runs[0])) for g in groups)
    with figure_style() as plt:
        from matplotlib.lines import Line2D
        width = PAGE if columns > 2 else COLUMN
        height = min(width / columns * (len(groups) + 1) * 0.9, MAX_HEIGHT)  # many rules: smaller panels, one page
        fig, axes = new_figure(plt, width, height, len(groups) + 1, columns)
        for ax in axes.flat:
            ax.set_visible(False)
        panels = [(axes[0, 0], "input (pixels)", a.arrays["tsne/input"], None)]
        panels += [(axes[r + 1, c], layer, a.arrays[f"tsne/{g.runs[0]}/{layer}"], g)
                   for r, g in enumerate(groups) for c, layer in enumerate(a.layers(g.runs[0]))]
        for ax, title, xy, g in panels:
            ax.set_visible(True)
            ax.scatter(xy[:, 0], xy[:, 1], c=point_colors, s=1.5, linewidths=0, rasterized=True)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=6)
            if g is not None and ax is axes[groups.index(g) + 1, 0]:
                ax.set_ylabel(f"{g.label}\n(seed {g.seeds[0]})", color=g.color, fontweight="bold", fontsize=6)
        letter_panels(axes[:, 0], figure_edge=True)  # one letter per row: the input, then each rule
        names = class_names(a.results["dataset"], classes)
        handles = [Line2D([], [], linestyle="", marker="o", markersize=3, color=colors[c], label=name)
                   for c, name in zip(classes, names)]
        key = axes[0, 1]  # the first row's free space holds the class key
        key.set_visible(True)
        key.set_axis_off()
        key.legend(handles=handles, title="class", loc="center", ncols=2 if len(handles) > 5 else 1)
        caption = (f"t-SNE of the input (top left) and of every block (rows: rules, first seed), {a.sample_text()}, "
                   f"points coloured by class; t-SNE axes are arbitrary and unitless.{_tsne_settings(a)}")
        return save(fig, out_dir, f"{prefix}tsne-grid", caption)
