"""The main figures a paper can use as they are, composed from the panels of the other figure modules:
learning (accuracy, cosine to BP per block, SNR), robustness (true vs feedback ε-curves, transfer drop) and
representations (RDMs on a fixed scale, joint paths, Shepard diagram)."""

import numpy as np

from ..results import load_analysis
from .learning import share_limits, cosine_caption, cosine_layers, draw_cosine, draw_snr, draw_training, snr_caption, test_split_text
from .representations import (class_name_step, draw_joint_paths, draw_rdm, draw_shepard, paths_caption, rdm_scale,
                              RDM_NAMES)
from .robustness import (attack_caption, draw_attack, draw_transfer, mode_handles, transfer_caption, transfer_eps,
                         transfer_range)
from .style import FIGURES_DRAWN, PAGE, curve_note, figure_style, legend_columns, letter_panels, require, save


@FIGURES_DRAWN.register("main-learning")
def plot_main_learning(analysis, out_dir, prefix: str = "") -> list:
    """Learning: test accuracy per epoch, gradient SNR per layer, and the cosine of each rule's update to
    the BP gradient per hidden block over training."""
    a = load_analysis(analysis)
    cosine = cosine_layers(a)[:3] if a.compared_groups() else []
    with figure_style() as plt:
        one_row = len(cosine) <= 1  # a single cosine panel sits beside the others, not across the page
        fig = plt.figure(figsize=(PAGE, 2.0 if one_row else 3.6))
        rows = ([["accuracy"] * 2 + ["snr"] * 2 + cosine * 2] if one_row else
                [["accuracy"] * 3 + ["snr"] * 3, [c for c in cosine for _ in range(6 // len(cosine))]])
        axes = fig.subplot_mosaic(rows)
        lines = draw_training(a, axes["accuracy"], "test_acc")
        draw_snr(a, axes["snr"])
        for layer in cosine:
            draw_cosine(a, axes[layer], layer)
            axes[layer].set_ylabel(f"cosine to {a.reference()}, training" if layer == cosine[0] else "")
        share_limits([axes[layer] for layer in cosine])
        fig.legend(handles=lines, loc="outside right center")
        letter_panels([axes[key] for key in ["accuracy", "snr", *cosine]])
        caption = (f"Learning on {a.results['dataset']}. a: test accuracy per epoch on {test_split_text(a)}; "
                   f"{curve_note(a.groups())}. b: {snr_caption(a)}"
                   + (f" {'c' if len(cosine) == 1 else 'c–' + 'cde'[len(cosine) - 1]}: {cosine_caption(a, cosine)}"
                      if cosine else ""))
        return save(fig, out_dir, f"{prefix}main-learning", caption)


@FIGURES_DRAWN.register("main-robustness")
def plot_main_robustness(analysis, out_dir, prefix: str = "") -> list:
    """Robustness: accuracy vs ε for each attack, true gradient vs the rule's feedback path, every seed with a t
    interval over seeds (Wilson over images for one seed), and the transfer matrix as the drop from clean accuracy."""
    a = load_analysis(analysis)
    robustness = a.results.get("robustness", {})
    require(bool(robustness.get("curves")), "the analysis holds no attack results")
    attacks = robustness["attacks"][:2]
    transferred = [attack for attack in robustness["attacks"] if f"transfer/{attack}" in a.arrays]
    transfer = transferred[0] if transferred else None
    eps = transfer_eps(a)
    with figure_style() as plt:
        fig = plt.figure(figsize=(PAGE, 2.3))
        axes = fig.subplot_mosaic([attacks + (["transfer"] if transfer and 0.0 in robustness["eps"] else [])],
                                  sharey=False)
        lines = [draw_attack(a, axes[attack], attack) for attack in attacks][0]
        if "transfer" in axes:  # on the transfer figure's colour range, so a number has one colour in both
            draw_transfer(a, axes["transfer"], transfer, eps, limits=transfer_range(a, transferred, eps))
        fig.legend(handles=lines + mode_handles(a), loc="outside lower center",
                   ncols=legend_columns(fig, len(lines) + 2))
        letter_panels(list(axes.values()))
        curves = "a" if len(attacks) == 1 else f"a, {chr(ord('a') + len(attacks) - 1)}"
        caption = f"Robustness. {curves}: {attack_caption(a)}" + (
            f" {chr(ord('a') + len(attacks))}: {transfer_caption(a, eps)}" if "transfer" in axes else "")
        return save(fig, out_dir, f"{prefix}main-robustness", caption)


def _last_hidden(a, run) -> int:
    layers = a.layers(run)
    return max(0, len(layers) - 2)  # the block before the readout


@FIGURES_DRAWN.register("main-representations")
def plot_main_representations(analysis, out_dir, prefix: str = "") -> list:
    """Representations: the label RDM and each rule's last hidden block RDM on one fixed scale, the joint
    representational paths with layer markers and arrows, and the Shepard diagram of their MDS."""
    a = load_analysis(analysis)
    groups = a.groups()
    with figure_style() as plt:
        fig = plt.figure(figsize=(PAGE, 4.2))
        top, bottom = fig.subfigures(2, 1, height_ratios=(0.75, 1.5))  # the RDM row as tall as its squares
        rdm_axes = top.subplots(1, len(groups) + 1, squeeze=False)[0]
        every = class_name_step(PAGE / (len(groups) + 1))  # a long row of RDMs: small panels
        image = draw_rdm(a, rdm_axes[0], a.arrays["rdm/labels"], "labels", "y", every)
        for ax, g in zip(rdm_axes[1:], groups):
            k = _last_hidden(a, g.runs[0])
            mean = np.mean([a.arrays[f"rdm/{run}"][k] for run in g.runs], axis=0)
            draw_rdm(a, ax, mean, f"{g.label}, {a.layers(g.runs[0])[k]}")
            ax.title.set_color(g.color)
        method = rdm_scale(a)[2]
        top.colorbar(image, ax=rdm_axes, shrink=0.9, pad=0.01, fraction=0.02, label=RDM_NAMES.get(method, method))
        path_axes = bottom.subplots(1, 2, width_ratios=(1.7, 1), squeeze=False)[0]
        handles = draw_joint_paths(a, path_axes[0])
        draw_shepard(a, path_axes[1])
        bottom.legend(handles=handles, loc="outside right center")
        letter_panels([rdm_axes[0]], x=-0.12)  # left of the class names
        letter_panels([path_axes[0], path_axes[1]], first="b")
        caption = (f"Representations on {a.sample_text()}. a: the label RDM and each rule's last hidden block RDM "
                   f"(mean over seeds), sorted by class, on one fixed scale. b: {paths_caption(a)} c: the Shepard "
                   f"diagram of that MDS (dotted: identity).")
        return save(fig, out_dir, f"{prefix}main-representations", caption)
