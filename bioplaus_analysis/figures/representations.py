"""Figures of representational geometry: the RDM grid, representational paths and the t-SNE grid."""

import numpy as np

from ..results import Analysis, load_analysis
from .style import FIGURES_DRAWN, figure_style, require, rule_legend_handles, save

RDM_NAMES = {"correlation": "1 − Pearson r", "euclidean": "squared Euclidean / features",
             "mahalanobis": "Mahalanobis", "poisson": "Poisson KL"}


def _class_ticks(ax, labels, axis="both"):
    """Class names at the centre of each class block of a label-sorted matrix."""
    classes, starts = np.unique(labels, return_index=True)
    centres = starts + np.bincount(labels)[classes] / 2 - 0.5
    if axis in ("both", "x"):
        ax.set_xticks(centres, [str(c) for c in classes], fontsize=5)
    if axis in ("both", "y"):
        ax.set_yticks(centres, [str(c) for c in classes], fontsize=5)
    ax.tick_params(length=0, pad=1)


@FIGURES_DRAWN.register("rdm-grid")
def plot_rdm_grid(analysis, out_dir, prefix: str = "") -> list:
    """Rules × layers grid of RDMs (mean over seeds) on one shared colour scale, with the input and
    label RDMs in the top row; images sorted by class."""
    a: Analysis = load_analysis(analysis)
    groups = a.groups()
    labels = a.arrays["sample/labels"]
    order = np.argsort(labels, kind="stable")
    labels = labels[order]
    layers = a.layers(groups[0].runs[0])
    means = {g.label: np.mean([a.arrays[f"rdm/{run}"] for run in g.runs], axis=0)[:, order][:, :, order]
             for g in groups}
    top = {"input (pixels)": a.arrays["rdm/input"][order][:, order], "labels (0 same class, 1 different)":
           a.arrays["rdm/labels"][order][:, order]}
    vmax = max(float(np.max(m)) for m in [*means.values(), *top.values()])
    columns = max(len(layers), 2)
    method = a.provenance.get("options", {}).get("rdm_method", "correlation")
    with figure_style() as plt:
        size = (1.35 * columns + 0.8, 1.35 * (len(groups) + 1) + 0.5)
        fig, axes = plt.subplots(len(groups) + 1, columns, figsize=size, squeeze=False, layout="constrained")
        image = None
        for ax in axes.flat:
            ax.set_axis_off()
        for ax, (title, matrix) in zip(axes[0], top.items()):
            image = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=vmax)
            ax.set_axis_on()
            ax.set_title(title, fontsize=6)
            _class_ticks(ax, labels)
        for r, (row, g) in enumerate(zip(axes[1:], groups)):
            g_layers = a.layers(g.runs[0])
            for col, (ax, layer) in enumerate(zip(row, g_layers)):
                ax.imshow(means[g.label][col], cmap="viridis", vmin=0, vmax=vmax)
                ax.set_axis_on()
                _class_ticks(ax, labels, "y" if col == 0 else "none")
                if col:
                    ax.set_yticks([])
                ax.set_xticks([])
                if r == 0 or g_layers != layers:
                    ax.set_title(layer)
                if col == 0:
                    ax.set_ylabel(f"{g.label}\n(n = {len(g.runs)} seed{'s' if len(g.runs) > 1 else ''})",
                                  color=g.color, fontweight="bold")
        bar = fig.colorbar(image, ax=axes, shrink=0.5, aspect=30)
        bar.set_label(f"dissimilarity ({RDM_NAMES.get(method, method)})")
        fig.suptitle(f"RDMs of every layer (mean over seeds)\n{a.sample_text()}, sorted by class")
        return save(fig, out_dir, f"{prefix}rdm-grid")


@FIGURES_DRAWN.register("paths")
def plot_paths(analysis, out_dir, prefix: str = "") -> list:
    """All runs' layers, the input and the labels in one MDS of RDM angles: one path per run, one colour
    per rule (seeds share it), from the input (square) to the label RDM (star)."""
    a = load_analysis(analysis)
    groups = a.groups()
    coords = a.arrays["paths/joint/coords"]
    items = a.results["paths"]["joint"]["items"]
    where = {item: i for i, item in enumerate(items)}
    stress = a.results["paths"]["joint"]["stress"]
    with figure_style() as plt:
        fig, ax = plt.subplots(figsize=(4.2, 3.4))
        for g in groups:
            for k, run in enumerate(g.runs):
                points = [coords[where["input"]]] + [coords[where[f"{run}/{layer}"]] for layer in a.layers(run)]
                points = np.array(points)
                ax.plot(points[:, 0], points[:, 1], "-o", color=g.color, alpha=1.0 if k == 0 else 0.45,
                        markersize=3, linewidth=1.0, zorder=2)
        for item, marker, label in (("input", "s", "input RDM"), ("labels", "*", "label RDM")):
            ax.scatter(*coords[where[item]], marker=marker, s=70, color="white", edgecolor="black", zorder=3,
                       label=label)
        handles = rule_legend_handles(groups) + ax.get_legend_handles_labels()[0]
        several = any(len(g.runs) > 1 for g in groups)
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  title="first seed opaque,\nother seeds light" if several else None)
        ax.set_xlabel("MDS dimension 1 (radians)")
        ax.set_ylabel("MDS dimension 2 (radians)")
        ax.set_aspect("equal", adjustable="datalim")
        comparison = a.results["paths"].get("comparison", "cosine")
        ax.set_title(f"Representational paths: layer RDMs embedded by MDS of arccos({comparison} similarity)\n"
                     f"{a.sample_text()}; {a.seeds_text()}; stress-1 = {stress:.3f}\n"
                     f"each path: input → {' → '.join(a.layers(groups[0].runs[0]))}")
        return save(fig, out_dir, f"{prefix}paths")


@FIGURES_DRAWN.register("paths-per-rule")
def plot_paths_per_rule(analysis, out_dir, prefix: str = "") -> list:
    """One panel per rule: the path of its first seed in its own MDS, every layer named."""
    a = load_analysis(analysis)
    groups = a.groups()
    with figure_style() as plt:
        fig, axes = plt.subplots(1, len(groups), figsize=(2.0 * len(groups) + 0.4, 2.3), squeeze=False,
                                 layout="constrained")
        for ax, g in zip(axes[0], groups):
            run = g.runs[0]
            coords = a.arrays[f"paths/{run}/coords"]
            info = a.results["paths"]["per_run"][run]
            ax.plot(coords[1:-1, 0], coords[1:-1, 1], "-o", color=g.color, markersize=3)
            ax.plot(coords[:2, 0], coords[:2, 1], "-", color=g.color, linewidth=0.8)
            ax.scatter(*coords[0], marker="s", s=50, color="white", edgecolor="black", zorder=3)
            ax.scatter(*coords[-1], marker="*", s=80, color="white", edgecolor="black", zorder=3)
            for name, point in zip(info["items"][1:-1], coords[1:-1]):
                ax.annotate(name, point, textcoords="offset points", xytext=(3, 2), fontsize=5.5)
            ax.set_title(f"{g.label} (seed {g.seeds[0]}), stress-1 {info['stress']:.3f}", color=g.color)
            ax.set_aspect("equal", adjustable="datalim")
            ax.set_xlabel("MDS 1 (radians)")
            ax.margins(0.15)
        axes[0, 0].set_ylabel("MDS 2 (radians)")
        fig.suptitle(f"Each rule's path on its own axes: input (square) → layers → label RDM (star); {a.sample_text()}")
        return save(fig, out_dir, f"{prefix}paths-per-rule")


@FIGURES_DRAWN.register("tsne-grid")
def plot_tsne_grid(analysis, out_dir, prefix: str = "") -> list:
    """Rules × layers grid of t-SNE embeddings (first seed of each rule), points coloured by class."""
    a = load_analysis(analysis)
    require("tsne/input" in a.arrays, "the analysis holds no t-SNE embeddings; analyse with --embeddings tsne")
    import seaborn as sns
    groups = a.groups()
    labels = a.arrays["sample/labels"]
    classes = np.unique(labels)
    palette = sns.color_palette("colorblind", len(classes)) if len(classes) <= 10 else \
        sns.color_palette("husl", len(classes))
    colors = np.array(palette)[np.searchsorted(classes, labels)]
    columns = 1 + max(len(a.layers(g.runs[0])) for g in groups)
    with figure_style() as plt:
        fig, axes = plt.subplots(len(groups), columns, figsize=(1.25 * columns + 0.9, 1.25 * len(groups) + 0.5),
                                 squeeze=False, layout="constrained")
        for r, (row, g) in enumerate(zip(axes, groups)):
            run = g.runs[0]
            panels = [("input", a.arrays["tsne/input"])] + [(layer, a.arrays[f"tsne/{run}/{layer}"])
                                                           for layer in a.layers(run)]
            for ax in row:
                ax.set_axis_off()
            for ax, (layer, xy) in zip(row, panels):
                ax.set_axis_on()
                ax.scatter(xy[:, 0], xy[:, 1], c=colors, s=2.5, linewidths=0, rasterized=True)
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(layer)
            row[0].set_ylabel(f"{g.label}\n(seed {g.seeds[0]})", color=g.color, fontweight="bold")
        from matplotlib.lines import Line2D
        handles = [Line2D([], [], linestyle="", marker="o", markersize=4, color=palette[i], label=str(c))
                   for i, c in enumerate(classes)]
        fig.legend(handles=handles, title="class", loc="outside right center")
        fig.suptitle(f"t-SNE of each layer (axes arbitrary, unitless); {a.sample_text()}")
        return save(fig, out_dir, f"{prefix}tsne-grid")
