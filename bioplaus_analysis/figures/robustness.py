"""Figures of adversarial robustness: accuracy vs ε (true gradient solid, feedback path dashed) with every seed
and a 95 % interval over seeds (Wilson over images for one seed), and the transfer matrix between rules as the
drop from clean accuracy."""

import numpy as np

from ..results import is_true_gradient, load_analysis, updates_hidden
from ..robustness import transfer_eps_measured, transfer_eps_of
from .style import (COLUMN, FIGURES_DRAWN, PAGE, figure_style, legend_columns, letter_panels, new_figure,
                    one_seed_each, require, save, seed_counts, seed_curves, seeds_label, wilson)

ATTACK_NAMES = {"fgsm": "FGSM", "pgd": "PGD"}


def _attacked(a):
    robustness = a.results.get("robustness", {})
    curves = robustness.get("curves", {})
    require(bool(curves), "the analysis holds no attack results (no run has an input gradient, or no --attack)")
    return robustness, [g for g in a.groups() if all(run in curves for run in g.runs)]


def _images(a) -> int:
    return int(a.provenance.get("eval_sample", {}).get("n", 0))


def draw_attack(a, ax, attack: str, modes=("true", "feedback"), subtitle: str = "") -> list:
    """Accuracy under `attack` vs ε per rule: true gradient solid with markers, the rule's feedback path
    dashed (not for BP, whose feedback path is the true gradient); with several seeds each seed a thin line and
    the band the 95 % t interval of their mean (the seeds' variance), with one the 95 % Wilson interval over the
    images; only the curves of `modes`. Returns the lines of the first mode drawn."""
    robustness, groups = _attacked(a)
    eps, n = np.array(robustness["eps"]), _images(a)
    lines = []
    for g in groups:
        for mode, style in (("true", "-"), ("feedback", "--")):
            if mode not in modes or mode == "feedback" and is_true_gradient(g.rule) or not all(
                    mode in robustness["curves"][run][attack] for run in g.runs):  # no feedback path: no rule
                continue
            accuracy = np.array([robustness["curves"][run][attack][mode] for run in g.runs], dtype=float) * 100
            if len(g.runs) > 1:  # every seed drawn; the band: t interval over seeds, within 0–100 %
                line = seed_curves(ax, eps, accuracy, g, marker="o" if mode == "true" else None, limits=(0.0, 100.0),
                                   linestyle=style)
            else:  # one seed: the images are the only spread there is
                (line,) = ax.plot(eps, accuracy[0], style, color=g.color, marker="o" if mode == "true" else None,
                                  markersize=2.5, label=seeds_label(g))
                if n:
                    low, high = wilson(np.round(accuracy[0] / 100 * n), n)
                    ax.fill_between(eps, low * 100, high * 100, color=g.color, alpha=0.15, linewidth=0)
            lines += [line] if mode == modes[0] else []
    steps = f", {robustness['pgd_steps']} steps" if attack == "pgd" else ""
    ax.set_title(f"{ATTACK_NAMES.get(attack, attack)}{steps}" + (f", {subtitle}" if subtitle else ""))
    ax.set_xlabel("ε (L∞, pixels in [0, 1])")
    ax.set_ylabel("accuracy under attack (%)")
    ax.set_ylim(-2, 102)
    return lines


def has_feedback_curves(a) -> bool:
    """Whether a run was attacked through a feedback path of its own: not BP's (its true gradient), not the readout
    control's (none), not a network trained elsewhere (no rule)."""
    curves = a.results["robustness"]["curves"]
    return any("feedback" in modes for g in a.compared_groups() for run in g.runs if run in curves
               for modes in curves[run].values())


def mode_name(a, mode: str) -> str:
    """What attacks in `mode` follow: the true (spiking: surrogate) gradient, or each rule's feedback path."""
    return "each rule's feedback path" if mode == "feedback" else "surrogate gradient" if a.spiking() else "true gradient"


def mode_handles(a) -> list:
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color="0.3", linestyle="-", label=mode_name(a, "true"))]
    if has_feedback_curves(a):
        handles.append(Line2D([], [], color="0.3", linestyle="--", label="rule's feedback path"))
    return handles


def attack_panels(attacks, modes=("",)) -> str:
    """"a: FGSM; b: PGD. " for a figure with one panel per attack (nothing for one attack); with `modes`, a row of
    panels per mode ("a: FGSM, true gradient (solid); …")."""
    names = [ATTACK_NAMES.get(attack, attack) for attack in attacks]
    panels = [f"{name}, {mode}" if mode else name for mode in modes for name in names]
    return "; ".join(f"{chr(ord('a') + k)}: {text}" for k, text in enumerate(panels)) + ". " if len(panels) > 1 else ""


def attack_caption(a) -> str:
    _, groups = _attacked(a)
    true = ("the surrogate gradient of the spiking network (its true gradient is zero almost everywhere)"
            if a.spiking() else "the true input gradient (white box)")
    readout = [g.label for g in groups if not updates_hidden(g.rule)]
    feedback = (f" and with each rule's own feedback path (dashed; a gradient-masking probe, not robustness). "
                f"{a.reference()} has no dashed line (its feedback path is the gradient of the solid line)"
                + (f", nor has {', '.join(readout)} (no feedback path)." if readout else ".")
                if has_feedback_curves(a) else ".")
    return (f"Accuracy under attack vs ε on {a.sample_text('eval_sample')}: attacks with {true} (solid)"
            f"{feedback} {pgd_note(a)}{_band_note(groups)}")


def pgd_note(a) -> str:
    """PGD's steps and step size, when the analysis ran PGD."""
    robustness = a.results["robustness"]
    if "pgd" not in robustness.get("attacks", []):
        return ""
    steps = robustness["pgd_steps"]
    return (f"PGD: {steps} signed-gradient steps of 2.5ε/{steps} from a seeded uniform start in the ε-ball, "
            "projected onto it and onto [0, 1]. ")


def _band_note(groups) -> str:
    """What the lines and bands of an attack curve are, for one seed per rule or several."""
    if one_seed_each(groups):
        return f"Lines: {seed_counts(groups)}; shaded: 95 % Wilson interval over the images."
    return (f"Lines: mean over seeds ({seed_counts(groups)}), each seed a thin line; shaded: 95 % t interval of the "
            f"mean over seeds (their spread, each seed's own accuracy over its images; cut to 0–100 %); a rule of "
            f"one seed: 95 % Wilson interval over its images.")



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


def other_seed_transfer(matrix, order, groups) -> np.ndarray:
    """Per rule: the mean accuracy of its runs under attacks crafted on its other seeds' runs (NaN with one
    seed), the transfer baseline of its white-box diagonal cell."""
    index = {run: i for i, run in enumerate(order)}
    return np.array([np.mean([matrix[index[s], index[t]] for s in g.runs for t in g.runs if s != t])
                     if len(g.runs) > 1 else np.nan for g in groups])


def transfer_drop(a, attack: str, eps: float):
    """(rule × rule drop from the target's clean accuracy in points, groups): source rows, target columns; with
    several seeds a last column: each rule attacked from its own other seeds (`other_seed_transfer`)."""
    robustness, groups = _attacked(a)
    grid, measured = list(robustness["eps"]), measured_transfer_eps(a)
    require(eps in measured, f"transfer was measured at ε {', '.join(f'{e:g}' for e in measured)}, not {eps:g}")
    require(0.0 in grid, "the transfer figure needs ε = 0 in the grid (the clean accuracy)")
    matrix, order = a.arrays[f"transfer/{attack}"][measured.index(eps)], robustness["transfer_order"]
    attacked = _rule_matrix(matrix, order, groups)
    clean = clean_accuracy(a, attack, groups)
    drop = (clean[None, :] - attacked) * 100
    if not one_seed_each(groups):
        drop = np.column_stack([drop, (clean - other_seed_transfer(matrix, order, groups)) * 100])
    return drop, groups


def clean_accuracy(a, attack: str, groups) -> np.ndarray:
    """Each group's accuracy at ε = 0 (a fraction), the mean over its seeds: what a transfer drop is counted from."""
    robustness = a.results["robustness"]
    clean = list(robustness["eps"]).index(0.0)
    return np.array([np.mean([robustness["curves"][run][attack]["true"][clean] for run in g.runs]) for g in groups])


def transfer_range(a, attacks, eps: float) -> tuple[float, float]:
    """The colour range of transfer panels: from 0 (no drop; lower where a drop is negative) to the data's
    largest, shared by every attack drawn side by side, so that two figures' colours mean the same."""
    drops = np.concatenate([transfer_drop(a, attack, eps)[0].ravel() for attack in attacks])
    low, high = min(0.0, float(np.nanmin(drops))), float(np.nanmax(drops))
    return low, max(high, low + 1.0)


def draw_transfer(a, ax, attack: str, eps: float, colorbar: bool = True, limits=None):
    """Heatmap of the accuracy drop of each target rule under attacks crafted on each source rule, at ε,
    on the colour range `limits` (default: this panel's data); returns the image."""
    import seaborn as sns
    drop, groups = transfer_drop(a, attack, eps)
    labels = [g.label for g in groups]
    clean = clean_accuracy(a, attack, groups) * 100  # under each target: the accuracy its drop is counted from
    columns = [f"{label} ({c:.0f})" for label, c in zip(labels, clean)] + [
        "other seed"] * (drop.shape[1] - len(groups))  # the caption: the same rule from its other seeds
    low, top = limits or transfer_range(a, [attack], eps)
    numbers = [["" if np.isnan(v) else f"{v:.0f}".replace("-0", "0") if abs(v) < 0.5 else f"{v:.0f}" for v in row]
               for row in np.asarray(drop, dtype=float)]  # a drop that rounds to zero reads 0, not -0
    sns.heatmap(drop, ax=ax, vmin=low, vmax=top, cmap="rocket_r", annot=np.array(numbers, dtype=object),
                fmt="", square=True, annot_kws={"fontsize": 6}, xticklabels=columns,
                yticklabels=labels, cbar=colorbar, cbar_kws={"label": "accuracy drop (points)", "shrink": 0.8})
    ax.tick_params(axis="x", labelrotation=90)
    ax.tick_params(axis="y", labelrotation=0)
    if drop.shape[1] > len(groups):  # the baseline column apart from the rule × rule matrix
        ax.axvline(len(groups), color="white", linewidth=1.5)
    ax.set_xlabel("target (evaluated)")
    ax.set_ylabel("source (crafts the attack)")
    ax.set_title(f"{ATTACK_NAMES.get(attack, attack)}, ε = {eps:g}")
    ax.tick_params(length=0)
    _contrast_numbers(ax)
    return ax.collections[0]


def _contrast_numbers(ax) -> None:
    """Each cell's number in black or white, whichever contrasts more with the cell (WCAG: black above a relative
    luminance of 0.179); seaborn's own switch leaves white on mid-light cells."""
    from seaborn.utils import relative_luminance
    for text, colour in zip(ax.texts, ax.collections[0].get_facecolors()):
        text.set_color("black" if relative_luminance(colour) > 0.179 else "white")


def transfer_caption(a, eps: float) -> str:
    _, groups = _attacked(a)
    kind = "surrogate-gradient" if a.spiking() else "true-gradient"
    return (f"Transfer of {kind} attacks at ε = {eps:g}: drop of the target's accuracy from its clean accuracy "
            f"(percentage points) on {a.sample_text('eval_sample')}; {_cells_note(groups)}{_eps_choice(a, eps)}; "
            f"under each target, in brackets, its clean accuracy on these images (%); colour from 0 (or the most negative drop) to the "
            f"largest drop, one scale for every transfer panel.")


def _cells_note(groups) -> str:
    """What the diagonal and off-diagonal cells of a transfer matrix hold, for one seed per rule or several."""
    if one_seed_each(groups):
        return (f"diagonal: white box on the rule's own network; off-diagonal: the source's attack on the target's "
                f"network ({seed_counts(groups)})")
    return (f"diagonal: white box on the rule's own models; off-diagonal: mean over (source, target) run pairs, "
            f"cells are means over seeds ({seed_counts(groups)}); last column (other seed): each rule attacked from its "
            f"own other seeds' networks, the transfer baseline of its white-box cell")


def _eps_choice(a, eps: float) -> str:
    """Why this ε, where it is the default one."""
    if eps != transfer_eps(a):
        return ""
    return f"; ε is the grid's value where the mean white-box {_first_attack(a)} accuracy is nearest half the clean one"


def _first_attack(a) -> str:
    attack = a.results["robustness"]["attacks"][0]
    return ATTACK_NAMES.get(attack, attack)


def measured_transfer_eps(a) -> list[float]:
    """The ε values the analysis's transfer matrices hold (`robustness.transfer_eps_measured`)."""
    return transfer_eps_measured(a.results["robustness"])


def transfer_eps(a) -> float:
    """The ε the analysis measured the transfer at; in older analyses (every ε) the grid's ε (> 0) where the first
    attack's mean white-box accuracy is nearest half the clean one (`robustness.transfer_eps_of`)."""
    robustness = a.results["robustness"]
    if robustness.get("transfer_eps"):
        return robustness["transfer_eps"][0]
    return transfer_eps_of(robustness["curves"], robustness["eps"], robustness["attacks"][0])


@FIGURES_DRAWN.register("robustness")
def plot_robustness(analysis, out_dir, prefix: str = "") -> list:
    """Accuracy vs ε per attack: true-gradient attacks (solid) in the top row, each rule's feedback path (dashed)
    below, every seed with a t interval over seeds (one seed: Wilson over images)."""
    a = load_analysis(analysis)
    attacks = a.results["robustness"]["attacks"] if a.results.get("robustness") else []
    rows = [("true",), ("feedback",)] if has_feedback_curves(a) else [("true",)]  # apart: many rules stay readable
    with figure_style() as plt:
        fig, axes = new_figure(plt, COLUMN if len(attacks) == 1 else PAGE, 2.1 * len(rows), len(rows),
                               max(1, len(attacks)), sharey=True)
        subtitles = [mode_name(a, modes[0]) if len(rows) > 1 else "" for modes in rows]  # which row is which
        lines = [draw_attack(a, ax, attack, modes, subtitle) for row, modes, subtitle in zip(axes, rows, subtitles)
                 for ax, attack in zip(row, attacks)][0]
        fig.legend(handles=lines + mode_handles(a), loc="outside lower center",
                   ncols=legend_columns(fig, len(lines) + 2))
        letter_panels(axes) if axes.size > 1 else None
        return save(fig, out_dir, f"{prefix}robustness", robustness_caption(a, attacks, len(rows)))


def robustness_caption(a, attacks, rows: int) -> str:
    """The panels in order (each attack with the true gradient, then each through the feedback path), then
    `attack_caption`."""
    if rows == 1:
        return attack_panels(attacks) + attack_caption(a)
    return attack_panels(attacks, (f"{mode_name(a, 'true')} (solid)", f"{mode_name(a, 'feedback')} (dashed)")) + \
        attack_caption(a)


@FIGURES_DRAWN.register("transfer")
def plot_transfer(analysis, out_dir, prefix: str = "", eps: float | None = None) -> list:
    """Heatmaps (one per attack) of the accuracy drop under true-gradient attacks crafted on the source
    rule's model, at one ε (default: `transfer_eps`); the diagonal is the white-box attack."""
    a = load_analysis(analysis)
    robustness, _ = _attacked(a)
    eps = transfer_eps(a) if eps is None else eps
    attacks = [attack for attack in robustness["attacks"] if f"transfer/{attack}" in a.arrays]
    require(bool(attacks), "the analysis holds no transfer matrices; analyse with --modes including transfer")
    with figure_style() as plt:
        fig, axes = new_figure(plt, COLUMN if len(attacks) == 1 else PAGE, 2.4 if len(attacks) == 1 else 3.2, 1,
                               len(attacks))  # squares as wide as the page allows
        fig.set_layout_engine("compressed")  # square heatmaps packed together, not spread over the page
        limits = transfer_range(a, attacks, eps)
        images = [draw_transfer(a, ax, attack, eps, colorbar=False, limits=limits)
                  for ax, attack in zip(axes[0], attacks)]
        fig.colorbar(images[-1], ax=list(axes[0]), shrink=0.8, label="accuracy drop (points)")
        letter_panels(axes) if len(attacks) > 1 else None
        return save(fig, out_dir, f"{prefix}transfer", attack_panels(attacks) + transfer_caption(a, eps))
