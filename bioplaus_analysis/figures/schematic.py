"""The schematic: each rule's network as it was analysed (blocks in order, each weight layer's shape) with the
path its errors take back (BP: the transposed forward weights; FA family: a B per weight layer; DFA family: a
B per hidden block straight from the output error; readout: none), drawn from results.json's "architecture"."""

import math

from ..results import load_analysis
from .style import FIGURES_DRAWN, PAGE, figure_style, new_figure, require, save

SCHEMATIC_COLUMNS = 5  # rules per row at most
PATHWAYS = {"transpose": "back through $W^T$", "layer": "back through\n{through}",
            "direct": "output error to\neach block's {through}", "none": "none: hidden\nblocks frozen"}


def _shape(shape) -> str:
    return "×".join(map(str, shape))


def _boxes(ax, arch) -> tuple[list[float], list]:
    """The input and every block as a box, bottom to top, with forward arrows; returns each box's height and the
    boxes themselves (the direct pathways' arcs run from box to box)."""
    names = ["input"] + [block for block, _ in arch["blocks"]]
    texts = [f"input\n{_shape(arch['input'])}"] + [
        f"{block}\n" + "\n".join(_shape(shape) for _, shape in layers) for block, layers in arch["blocks"]]
    heights = [i / (len(names) - 1) for i in range(len(names))]
    boxes = [ax.text(0.3, y, text, ha="center", va="center", fontsize=6, bbox={
        "boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "0.3", "linewidth": 0.6}) for y, text in
        zip(heights, texts)]
    for low, high in zip(heights[:-1], heights[1:]):
        ax.annotate("", xy=(0.18, high - 0.07), xytext=(0.18, low + 0.07),
                    arrowprops={"arrowstyle": "->", "color": "0.2", "linewidth": 0.7})
    return heights, boxes


def _feedback(ax, arch, heights, boxes, color) -> None:
    """The rule's error pathway in its colour on the right of the boxes."""
    kind, blocks = arch["feedback"]["kind"], [block for block, _ in arch["blocks"]]
    symbol = arch["feedback"].get("symbol", "B")  # analyses before rules named their pathway: B
    arrow = {"arrowstyle": "->", "color": color, "linewidth": 0.9}
    if kind in ("transpose", "layer"):
        with_b = {name.split(".")[0] for name in arch["feedback"]["matrices"]}
        for k in range(len(blocks) - 1, 0, -1):  # from block k's output error to block k − 1
            if kind == "transpose" or blocks[k] in with_b:
                ax.annotate("", xy=(0.45, heights[k] + 0.05), xytext=(0.45, heights[k + 1] - 0.05), arrowprops=arrow)
                ax.text(0.5, (heights[k] + heights[k + 1]) / 2, "$W^T$" if kind == "transpose" else symbol, color=color,
                        fontsize=6, va="center")
    elif kind == "direct":
        for k, block in enumerate(blocks[:-1], start=1):  # from the output box's right edge to the block's
            shape = arch["feedback"]["matrices"].get(block)
            ax.annotate("", xy=(1, 0.5), xycoords=boxes[k], xytext=(1, 0.5), textcoords=boxes[-1],
                        arrowprops=dict(arrow, connectionstyle="arc3,rad=-0.4", shrinkA=4, shrinkB=4))
            ax.annotate(f"B {_shape(shape)}" if shape else "B", xy=(1, 0.5), xycoords=boxes[k], color=color,
                        xytext=(5, -5), textcoords="offset points", fontsize=6, va="top", zorder=3,
                        bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})  # under the arrowhead, over arcs
    through = arch["feedback"].get("through", "a B per layer")
    pathway = PATHWAYS[kind].format(through="B" if kind == "direct" and through == "a B per layer" else through)
    ax.text(0.3, -0.1, pathway + (", learned" if arch["feedback"]["learned"] else ""), color=color,
            fontsize=6, ha="center", va="top")


def _pathways(arch, groups) -> str:
    """The drawn rules' pathways in words, for the caption: one sentence per kind of pathway."""
    kinds = {}
    for g in groups:
        feedback = arch[g.runs[0]]["feedback"]
        through = feedback.get("through", "a B per layer").replace("\n", " ")
        through = "" if feedback["kind"] != "layer" and through == "a B per layer" else through  # a rule's own words
        learned = ", learned" if feedback["learned"] else ""
        kinds.setdefault(feedback["kind"], []).append(f"{g.label}{', ' + through if through else ''}{learned}")
    sentences = {"transpose": "{}: the transposed forward weights W^T.",
                 "layer": "From each weight layer's output back to its input: {}.",
                 "direct": "Straight from the output error to each hidden block (B: block width × classes): {}.",
                 "none": "{}: none, the hidden weights stay at their initialisation (batch norm's running "
                         "statistics, where a network has them, follow the data as in every run)."}
    text = [sentences[kind].format("; ".join(labels)) for kind, labels in kinds.items()]
    return " ".join(sentence[0].upper() + sentence[1:] for sentence in text)


@FIGURES_DRAWN.register("schematic")
def plot_schematic(analysis, out_dir, prefix: str = "") -> list:
    """Each rule's network (blocks, weight shapes) and the path its errors take back: W^T, a B per layer, a B per
    block from the output error, or none."""
    a = load_analysis(analysis)
    arch = a.results.get("architecture", {})
    groups = [g for g in a.groups() if g.runs[0] in arch]
    require(bool(groups), "the analysis holds no bioplaus networks to draw (networks trained elsewhere)")
    tallest = max(len(arch[g.runs[0]]["blocks"]) for g in groups)
    rows = math.ceil(len(groups) / SCHEMATIC_COLUMNS)  # columns wide enough for a DFA family's arcs and labels
    columns = math.ceil(len(groups) / rows)
    with figure_style() as plt:
        fig, axes = new_figure(plt, PAGE, rows * (0.9 + 0.55 * tallest), rows, columns)
        for ax in axes.flat[len(groups):]:
            ax.axis("off")
        for ax, g in zip(axes.flat, groups):
            network = arch[g.runs[0]]
            _feedback(ax, network, *_boxes(ax, network), g.color)
            ax.text(0.3, 1.12, g.label, color=g.color, fontsize=7, ha="center", va="bottom")  # over its boxes
            ax.set_xlim(0, 1)
            ax.set_ylim(-0.3, 1.2)
            ax.axis("off")
        caption = ("Each rule's network as analysed (first seed), input at the bottom, output block (the logits) at the "
                   "top; each block with its weight layers' shapes (out × in[ × kernel]); black: the forward pass; in "
                   f"the rule's colour: the path its errors take back to the hidden blocks. {_pathways(arch, groups)} "
                   f"{a.seeds_text()}.")
        return save(fig, out_dir, f"{prefix}schematic", caption)
