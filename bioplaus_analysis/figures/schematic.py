"""The schematic: each rule's network as it was analysed (blocks in order, each weight layer's shape) with the
path its errors take back (BP: the transposed forward weights; FA family: a B per weight layer; DFA family: a
B per hidden block straight from the output error; readout: none), drawn from results.json's "architecture"."""

from ..results import load_analysis
from .style import FIGURES_DRAWN, PAGE, figure_style, letter_panels, new_figure, require, save

PATHWAYS = {"transpose": "back through $W^T$", "layer": "back through\na B per layer",
            "direct": "output error to\neach block's B", "none": "none: hidden\nblocks frozen"}


def _shape(shape) -> str:
    return "×".join(map(str, shape))


def _boxes(ax, arch) -> list[float]:
    """The input and every block as a box, bottom to top, with forward arrows; returns each box's height."""
    names = ["input"] + [block for block, _ in arch["blocks"]]
    texts = [f"input\n{_shape(arch['input'])}"] + [
        f"{block}\n" + "\n".join(_shape(shape) for _, shape in layers) for block, layers in arch["blocks"]]
    heights = [i / (len(names) - 1) for i in range(len(names))]
    for y, text in zip(heights, texts):
        ax.text(0.3, y, text, ha="center", va="center", fontsize=6,
                bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "0.3", "linewidth": 0.6})
    for low, high in zip(heights[:-1], heights[1:]):
        ax.annotate("", xy=(0.18, high - 0.07), xytext=(0.18, low + 0.07),
                    arrowprops={"arrowstyle": "->", "color": "0.2", "linewidth": 0.7})
    return heights


def _feedback(ax, arch, heights, color) -> None:
    """The rule's error pathway in its colour on the right of the boxes."""
    kind, blocks = arch["feedback"]["kind"], [block for block, _ in arch["blocks"]]
    arrow = {"arrowstyle": "->", "color": color, "linewidth": 0.9}
    if kind in ("transpose", "layer"):
        with_b = {name.split(".")[0] for name in arch["feedback"]["matrices"]}
        for k in range(len(blocks) - 1, 0, -1):  # from block k's output error to block k − 1
            if kind == "transpose" or blocks[k] in with_b:
                ax.annotate("", xy=(0.45, heights[k] + 0.05), xytext=(0.45, heights[k + 1] - 0.05), arrowprops=arrow)
                ax.text(0.5, (heights[k] + heights[k + 1]) / 2, "$W^T$" if kind == "transpose" else "B", color=color,
                        fontsize=6, va="center")
    elif kind == "direct":
        top = heights[-1]
        for k, block in enumerate(blocks[:-1], start=1):
            shape = arch["feedback"]["matrices"].get(block)
            ax.annotate("", xy=(0.52, heights[k]), xytext=(0.58, top),
                        arrowprops=dict(arrow, connectionstyle="arc3,rad=-0.3"))
            ax.text(0.55, heights[k] + 0.05, f"B {_shape(shape)}" if shape else "B", color=color, fontsize=6,
                    va="bottom")
    ax.text(0.3, -0.1, PATHWAYS[kind] + (", learned" if arch["feedback"]["learned"] else ""), color=color,
            fontsize=6, ha="center", va="top")


@FIGURES_DRAWN.register("schematic")
def plot_schematic(analysis, out_dir, prefix: str = "") -> list:
    """Each rule's network (blocks, weight shapes) and the path its errors take back: W^T, a B per layer, a B per
    block from the output error, or none."""
    a = load_analysis(analysis)
    arch = a.results.get("architecture", {})
    groups = [g for g in a.groups() if g.runs[0] in arch]
    require(bool(groups), "the analysis holds no bioplaus networks to draw (networks trained elsewhere)")
    tallest = max(len(arch[g.runs[0]]["blocks"]) for g in groups)
    with figure_style() as plt:
        fig, axes = new_figure(plt, PAGE, 0.9 + 0.55 * tallest, 1, len(groups))
        for ax, g in zip(axes[0], groups):
            network = arch[g.runs[0]]
            _feedback(ax, network, _boxes(ax, network), g.color)
            ax.set_title(g.label, color=g.color, fontsize=7)
            ax.set_xlim(0, 1)
            ax.set_ylim(-0.3, 1.1)
            ax.axis("off")
        letter_panels(axes) if len(groups) > 1 else None
        caption = ("Each rule's network as analysed (first seed), input at the bottom, output block (the logits) at the "
                   "top; each block with its weight layers' shapes (out × in[ × kernel]); black: the forward pass; in "
                   "the rule's colour: the path its errors take back to the hidden blocks (BP's transposed forward "
                   "weights W^T; FA's fixed random B per weight layer; DFA's, DKP's and aDFA's B per hidden block from "
                   "the output error, its shape block width × classes; DKP's B learned; the readout control sends none "
                   f"back). {a.seeds_text()}.")
        return save(fig, out_dir, f"{prefix}schematic", caption)
