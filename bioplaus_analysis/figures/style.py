"""What every figure shares (the figure contract): the packaged style sheet at print size, journal widths
(3.3 in one column, 6.9 in two), panel letters, honest seed statistics (n = 1 draws no error bar), and
saving as PDF (vector) + PNG (300 dpi) with a caption written to captions.json and captions.md beside the
figures (what is shown, n images, n seeds, what error bars mean; never a suptitle). Rule colours come from
the rules (`Rule.color`); classes take a palette disjoint from them (`CLASS_COLORS`)."""

import io
import json
import math
import string
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from trainers import ConfigError, __version__
from trainers.store.runfiles import atomic_write, folder_lock

from ..choices import FIGURES
from ..registry import Registry
from ..stats import t_interval


STYLE = Path(__file__).with_name("bioplaus.mplstyle")
# Every drawing function registers itself here: `@FIGURES_DRAWN.register("rdm-grid")`.
FIGURES_DRAWN = Registry("figure", FIGURES)
PNG_DPI = 300
COLUMN, PAGE = 3.3, 6.9  # inches: one journal column, two columns
WIDTHS = (COLUMN, PAGE)
MAX_HEIGHT = 9.0  # inches: a journal page's text height; a grid of many rules shrinks its rows to fit
FONT_POINTS = (6.0, 8.0)  # every text at print size: ticks and legends 6 pt, labels 7, panel letters 8
CAPTIONS = "captions.json"
# Ten class colours far from every rule colour (the Okabe-Ito hues): Paul Tol's "muted" scheme plus greys.
CLASS_COLORS = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255",
                "#AA4499", "#555555")
CLASS_NAMES = {"fashion-mnist": ("T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
                                 "bag", "boot"),
               "cifar10": ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")}


def class_names(dataset: str, classes) -> list[str]:
    """Names of the classes `classes` (Fashion-MNIST and CIFAR-10 names; digits 0-9 otherwise)."""
    names = CLASS_NAMES.get(dataset)
    return [names[int(c)] if names and int(c) < len(names) else str(int(c)) for c in classes]


def class_colors(classes) -> list:
    return [CLASS_COLORS[int(c) % len(CLASS_COLORS)] for c in classes]


def seeds_label(group) -> str:
    n = len(group.runs)
    return f"{group.label} ({n} seed{'s' if n != 1 else ''})"


def seed_counts(groups) -> str:
    """'1 seed per rule', '3 seeds per rule', '2/3 seeds per rule'."""
    counts = sorted({len(g.runs) for g in groups})
    return f"{'/'.join(map(str, counts))} seed{'s' if counts != [1] else ''} per rule"


def one_seed_each(groups) -> bool:
    """Every rule has a single seed: nothing is averaged over seeds, and no error bar is drawn."""
    return all(len(g.runs) == 1 for g in groups)


def error_note(groups, what: str = "mean with 95 % t interval over seeds") -> str:
    """What the error bars of a figure over `groups` mean, or that there are none (every rule 1 seed)."""
    if one_seed_each(groups):
        return "1 seed per rule, so no error bars"
    return f"{seed_counts(groups)}; {what}; dots are seeds"


def round_ticks(axis, count: int = 4) -> None:
    """At most `count` ticks on multiples of 1, 2 or 5 times a power of ten (0.040, 0.045, … rather than
    0.0475), for axes whose data span a small range."""
    from matplotlib.ticker import MaxNLocator
    axis.set_major_locator(MaxNLocator(count, steps=[1, 2, 5, 10]))


def curve_note(groups) -> str:
    """`error_note` for curves over epochs (`seed_curves`): a band for the interval, a thin line per seed."""
    if one_seed_each(groups):
        return error_note(groups)
    return f"{seed_counts(groups)}; mean with its 95 % t-interval band over seeds; thin lines are seeds"


def wilson(correct, n, z: float = 1.959964) -> tuple[np.ndarray, np.ndarray]:
    """95 % Wilson score interval (low, high) of a binomial proportion `correct` / `n`."""
    correct, n = np.asarray(correct, dtype=float), np.asarray(n, dtype=float)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def letter_panels(axes, x: float = -0.02, y: float = 1.02, first: str = "a", figure_edge: bool = False) -> None:
    """Bold panel letters `first`, then the next ones, at the top left of each visible axes, in order; with
    `figure_edge`, at the figure's left edge level with each axes' top (rows of a grid, whatever its width)."""
    from matplotlib.transforms import blended_transform_factory
    visible = [ax for ax in np.ravel(axes) if ax.get_visible() and ax.axison]
    letters = string.ascii_lowercase[string.ascii_lowercase.index(first):]
    for letter, ax in zip(letters, visible):
        where = (blended_transform_factory(ax.figure.transFigure, ax.transAxes), 0.005, "left") if figure_edge else (
            ax.transAxes, x, "right")
        ax.text(where[1], y, letter, transform=where[0], fontsize=8, fontweight="bold", ha=where[2], va="bottom")


def legend_columns(fig, entries: int) -> int:
    """Columns of a legend below a figure: on a page-wide figure at most 6, in as few rows as that allows and
    every column as full (7 entries: 4 + 3, not 6 with one entry left alone below the first); two columns on a
    column-wide one (a row of "aDFA (3 seeds)" entries is wider than 3.3 in)."""
    if fig.get_figwidth() < PAGE:
        return min(entries, 2)
    return math.ceil(entries / math.ceil(entries / 6)) if entries else 1


def new_figure(plt, width: float, height: float, rows: int = 1, columns: int = 1, **kwargs):
    """A figure of a journal width (`COLUMN` or `PAGE`) and `height` inches with a grid of axes."""
    require(width in WIDTHS, f"figure width {width} in is not a journal width ({COLUMN} or {PAGE})")
    return plt.subplots(rows, columns, figsize=(width, height), squeeze=False, **kwargs)


def mean_interval(values) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the first axis (seeds) and the half-width of its 95 % Student-t interval (`stats.t_interval`);
    the half-width is 0 for a single seed, which draws no error bar."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return values.mean(0), np.zeros_like(values[0])
    flat = values.reshape(len(values), -1)
    half = np.array([(lambda m, lo, hi: hi - m)(*t_interval(column)) for column in flat.T])
    return values.mean(0), half.reshape(values.shape[1:])


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@contextmanager
def figure_style():
    """matplotlib with the Agg backend and the packaged style sheet, for the duration of one figure."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with plt.style.context(str(STYLE)):
        yield plt


def _check_contract(fig, name: str) -> None:
    """ConfigError unless `fig` is 3.3 or 6.9 in wide and at most a page tall, all its text is 6–8 pt and, with
    several data panels, it has panel letters."""
    from matplotlib.text import Text
    require(any(math.isclose(fig.get_figwidth(), width) for width in WIDTHS),
            f"figure {name} is {fig.get_figwidth():.2f} in wide; draw it {COLUMN} or {PAGE} in wide")
    require(fig.get_figheight() <= MAX_HEIGHT + 1e-9,
            f"figure {name} is {fig.get_figheight():.2f} in tall; a page holds {MAX_HEIGHT} in")
    sizes = {t.get_text(): t.get_fontsize() for t in fig.findobj(Text)
             if t.get_text().strip() and t.get_visible() and (t.axes is None or t.axes.get_visible())}
    odd = {text: size for text, size in sizes.items() if not FONT_POINTS[0] <= size <= FONT_POINTS[1]}
    require(not odd, f"figure {name} has text outside {FONT_POINTS[0]:g}–{FONT_POINTS[1]:g} pt: "
                     + ", ".join(f"{text!r} {size:g} pt" for text, size in list(odd.items())[:3]))
    panels = [ax for ax in fig.get_axes() if ax.get_visible() and ax.axison and ax.get_label() != "<colorbar>"]
    letters = [t for ax in panels for t in ax.texts if t.get_text() in string.ascii_lowercase
               and t.get_fontweight() == "bold"]
    require(len(panels) < 2 or len(letters) >= 2, f"figure {name} has {len(panels)} panels but no panel letters")


def write_caption(out_dir: Path, name: str, caption: str) -> None:
    """Record `caption` for figure file NAME in out_dir/captions.json and rewrite captions.md from it."""
    path = out_dir / CAPTIONS
    with folder_lock(out_dir):  # figures may be drawn into one folder by several processes
        captions = json.loads(path.read_text()) if path.is_file() else {}
        captions[name] = caption
        atomic_write(path, json.dumps(dict(sorted(captions.items())), indent=2) + "\n")
        lines = ["# Figure captions", ""] + [f"**{key}** — {text}\n" for key, text in sorted(captions.items())]
        atomic_write(out_dir / "captions.md", "\n".join(lines))


def read_captions(out_dir) -> dict:
    path = Path(out_dir) / CAPTIONS
    return json.loads(path.read_text()) if path.is_file() else {}


def check_file_name(name: str, what: str = "a figure name") -> None:
    """ConfigError unless `name` is part of a file name: no folder separators, so files stay in --out."""
    if "/" in name or "\\" in name or name in (".", ".."):
        raise ConfigError(f"{what} {name!r} holds a path separator; it is a file-name prefix, files go into --out")


def _with_bptt_note(fig, caption: str) -> str:
    """The caption, saying what "BPTT" is wherever the figure or caption names it without the surrogate gradient."""
    from matplotlib.text import Text
    named = "BPTT" in caption or any("BPTT" in text.get_text() for text in fig.findobj(Text))
    if not named or "surrogate gradient" in caption:
        return caption
    return f"{caption} BPTT: backpropagation through time with the surrogate gradient (the spiking network's BP)."


def save(fig, out_dir, name: str, caption: str) -> list[Path]:
    """Write `fig` as NAME.pdf and NAME.png (300 dpi) into `out_dir` atomically, and its caption; returns
    both paths. The PDF carries no creation date, so redrawing the same analysis gives the same file."""
    import matplotlib.pyplot as plt
    out_dir = Path(out_dir)
    check_file_name(name)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_contract(fig, name)
    write_caption(out_dir, name, _with_bptt_note(fig, caption))
    paths = []
    for ext, options in (("pdf", {"metadata": {"Creator": f"bioplaus {__version__}", "CreationDate": None}}),
                         ("png", {"dpi": PNG_DPI, "metadata": {"Software": f"bioplaus {__version__}"}})):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=ext, **options)
        if fig.get_layout_engine() is not None:
            fig.set_layout_engine("none")  # the layout the PDF was drawn with, not computed again for the PNG
        atomic_write(out_dir / f"{name}.{ext}", buffer.getvalue())
        paths.append(out_dir / f"{name}.{ext}")
    plt.close(fig)
    return paths


# One marker per block name in every figure (conv1 is the same triangle in a CNN and a conv SNN; fc1 the same
# diamond in a CNN and an SNN); other names take a fallback by their letters. Reserved elsewhere: the input RDM's
# square, the label RDM's star, initialisation's white circle and the last epoch's hexagon.
BLOCK_MARKERS = {"conv1": "v", "conv2": "^", "conv3": "<", "conv4": ">", "fc1": "D", "fc2": "P", "fc3": "X",
                 "out": "p", "stem": "d"}
OTHER_BLOCK_MARKERS = "1234+x|_"


# One marker per rule wherever rules carry markers (the weight-alignment panels), so that a rule reads the same
# without its colour; rules registered elsewhere take a fallback by their letters.
RULE_MARKERS = {"fa": "o", "dfa": "s", "dkp": "^", "adfa": "v", "usf": "D", "frsf": "P", "brsf": "X", "kp": ">"}
OTHER_RULE_MARKERS = "<H"


def rule_marker(rule: str) -> str:
    """The marker of rule `rule`, the same in every figure and whichever rules share it."""
    return RULE_MARKERS.get(rule) or OTHER_RULE_MARKERS[sum(map(ord, rule)) % len(OTHER_RULE_MARKERS)]


def block_marker(name: str) -> str:
    """The marker of block `name`, the same in every figure."""
    return BLOCK_MARKERS.get(name) or OTHER_BLOCK_MARKERS[sum(map(ord, name)) % len(OTHER_BLOCK_MARKERS)]


def rule_legend_handles(groups, linestyle="-"):
    """One line per rule in its colour, without a marker (in path figures markers name the blocks)."""
    from matplotlib.lines import Line2D
    return [Line2D([], [], color=g.color, linestyle=linestyle, label=seeds_label(g)) for g in groups]


def seed_curves(ax, x, values, group, marker="o", limits=(-np.inf, np.inf), linestyle="-"):
    """One rule's curve over `x`: the mean over seeds (rows of `values`), with its 95 % t-interval band (cut
    to the quantity's range `limits`: an accuracy stays within 0–100 %, a cosine within ±1) and each seed as a
    thin line when there are several; one seed is its plain line. Returns the mean line."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    mean, half = mean_interval(values)
    (line,) = ax.plot(x, mean, linestyle, marker=marker, color=group.color, markersize=2.5, label=seeds_label(group))
    if len(values) > 1:
        low, high = np.clip(mean - half, *limits), np.clip(mean + half, *limits)
        ax.fill_between(x, low, high, color=group.color, alpha=0.2, linewidth=0)
        for row in values:
            ax.plot(x, row, linestyle, color=group.color, alpha=0.35, linewidth=0.5)
    return line
