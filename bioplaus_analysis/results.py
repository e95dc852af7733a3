"""The analysis output folder, the contract with the figures: results.json (scalars, per-layer tables,
provenance) and arrays.npz (RDMs, embeddings, path coordinates, transfer matrices), and `Analysis`,
the folder as the figures read it (runs grouped by model and rule over seeds).

Both are written atomically, arrays first, so results.json present means the folder is complete.
"""

import io
import json
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from trainers import RULES, RunDirError, is_spiking
from trainers.store.runfiles import atomic_write, check_folder, make_writable_folder

RESULTS, ARRAYS, STATS, COST = "results.json", "arrays.npz", "stats.csv", "cost.csv"
RESULTS_FORMAT = "bioplaus-analysis-1"


def _plain(value):
    """JSON-ready: numpy scalars and arrays to Python; NaN and infinities to null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def prepare_out(out, force: bool) -> Path:
    """Create the output folder; refuse one that holds results, or any file, unless `force`."""
    out = Path(out)
    check_folder(out)
    existing = [name for name in (RESULTS, ARRAYS) if (out / name).exists()]
    if existing and not force:
        raise RunDirError(f"{out} already holds analysis results ({', '.join(existing)}); "
                          "pass --force to replace them or another --out")
    foreign = sorted(p.name for p in out.iterdir()) if out.is_dir() and not existing else []
    if foreign and not force:  # files of the user's, or of an analysis that never finished
        raise RunDirError(f"{out} holds files that are not an analysis ({', '.join(foreign[:3])}); pass an empty "
                          "or new --out, or --force to write the analysis among them")
    make_writable_folder(out)
    return out


def write_results(out, results: dict, arrays: dict) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{key: np.asarray(value) for key, value in arrays.items()})
    atomic_write(Path(out) / ARRAYS, buffer.getvalue())
    document = dict(_plain(results), format=RESULTS_FORMAT)
    atomic_write(Path(out) / RESULTS, json.dumps(document, indent=2, allow_nan=False) + "\n")


def read_results(out) -> tuple[dict, dict]:
    """(results.json as a dict, {name: array} of arrays.npz) of an analysis folder."""
    out = Path(out)
    path = out / RESULTS
    if not path.is_file():
        raise RunDirError(f"{out} holds no {RESULTS}; run `bioplaus analyze RUN_DIR... --out {out}` first")
    try:
        results = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path} is not valid JSON ({exc}); rerun the analysis with --force") from None
    if results.get("format") != RESULTS_FORMAT:
        raise RunDirError(f"{path} was not written by `bioplaus analyze`; rerun the analysis with --force")
    try:
        with np.load(out / ARRAYS) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{out / ARRAYS} is missing or unreadable ({exc}); rerun the analysis with --force") from None
    return results, arrays


# Rules not (or no longer) in the registry, e.g. networks trained elsewhere, in the order an analysis meets
# them: far from every registered rule's colour and from the class palette (then repeated).
OTHER_RULE_COLORS = ("#7570B3", "#66A61E", "#B15928", "#999999")


def rule_color(rule: str, other: int = 0) -> str:
    """The rule's colour (`Rule.color`): the same in every figure and every gallery; a rule outside the
    registry takes the `other`-th of OTHER_RULE_COLORS."""
    return RULES[rule].color if rule in RULES else OTHER_RULE_COLORS[other % len(OTHER_RULE_COLORS)]


def rule_label(rule: str, spiking: bool = False) -> str:
    """The rule's name in legends and tables (`Rule.label`, e.g. "aDFA"); BP of a spiking network is "BPTT"
    (backpropagation through time of the surrogate gradient)."""
    if spiking and rule == "bp":
        return "BPTT"
    return (RULES[rule].label or rule) if rule in RULES else rule


def rule_rank(rule: str) -> int:
    """Position in the registry's order (BP, then FA, DFA, DKP, aDFA, then any added rule)."""
    order = list(RULES)
    return order.index(rule) if rule in order else len(order)


def is_true_gradient(rule: str) -> bool:
    """Whether the rule's update is the true gradient (BP): no separate feedback curve or cosine."""
    return rule in RULES and RULES[rule].true_gradient


def updates_hidden(rule: str) -> bool:
    """Whether the rule updates the hidden blocks; the readout control does not, so there its update (zero)
    has no direction: no cosine to BP, gradient SNR or bias–variance point."""
    return rule not in RULES or RULES[rule].trains_hidden


def _spiking_run(run: dict) -> bool:
    """Whether a run of results["runs"] is a spiking network's (spike-count features, or a spiking model)."""
    return run.get("features") == "spike count" or is_spiking(run["model"])


class Group(NamedTuple):
    """The runs of one (model, rule) over seeds; `label` names it in legends."""
    model: str
    rule: str
    runs: list
    seeds: list
    label: str
    color: str


class Analysis(NamedTuple):
    """An analysis folder as read from disk: results.json as a dict and arrays.npz as {name: array}."""
    results: dict
    arrays: dict

    def groups(self) -> list[Group]:
        """Runs grouped by (model, rule) in the canonical rule order, each with its seeds sorted."""
        runs = self.results["runs"]
        keys = sorted({(r["model"], r["rule"]) for r in runs.values()},
                      key=lambda k: (k[0], rule_rank(k[1]), k[1]))
        several_models = len({model for model, _ in keys}) > 1
        groups, others = [], sorted({rule for _, rule in keys if rule not in RULES})
        for model, rule in keys:
            members = sorted((r["seed"], name) for name, r in runs.items() if (r["model"], r["rule"]) == (model, rule))
            spiking = any(r["model"] == model and _spiking_run(r) for r in runs.values())
            name = rule_label(rule, spiking)
            label = f"{model} {name}" if several_models and rule in RULES else name
            color = rule_color(rule, others.index(rule) if rule in others else 0)
            groups.append(Group(model, rule, [name for _, name in members], [seed for seed, _ in members], label, color))
        return groups

    def compared_groups(self) -> list[Group]:
        """The groups whose hidden updates are compared with BP's: neither BP itself nor the readout control."""
        return [g for g in self.groups() if not is_true_gradient(g.rule) and updates_hidden(g.rule)]

    def no_hidden_update_note(self) -> str:
        """' readout is not drawn: its hidden blocks take no update.' where the analysis holds such a rule."""
        names = [g.label for g in self.groups() if not updates_hidden(g.rule)]
        return (f" {', '.join(names)} {'is' if len(names) == 1 else 'are'} not drawn: "
                f"{'its' if len(names) == 1 else 'their'} hidden blocks take no update." if names else "")

    def layers(self, run: str) -> list[str]:
        return list(self.results["layers"][run])

    def spiking(self) -> bool:
        """Whether any run's network spikes (features are spike counts; gradients are surrogate gradients)."""
        return any(_spiking_run(run) for run in self.results["runs"].values())

    def reference(self, short: bool = True) -> str:
        """What every cosine and "relative to" compares with: "BP", or for spiking runs "BPTT" (short) and
        "the BPTT surrogate gradient"; the long form otherwise "the true BP gradient"; both named in an analysis
        of spiking and non-spiking networks together."""
        spiking = [_spiking_run(run) for run in self.results["runs"].values()]
        if any(spiking) and not all(spiking):
            return ("BP/BPTT" if short else  # a mixed analysis's own words; `compare` analyses each model apart
                    "the true BP gradient (for the spiking networks the BPTT surrogate gradient)")
        if short:
            return "BPTT" if any(spiking) else "BP"
        return "the BPTT surrogate gradient" if any(spiking) else "the true BP gradient"

    @property
    def provenance(self) -> dict:
        return self.results.get("provenance", {})

    def sample_text(self, which: str = "sample") -> str:
        """'n = 200 test images (20 per class)' for the representation ("sample") or "eval_sample"."""
        sample = self.provenance.get(which, {})
        split = sample.get("split", "test")  # "given images" for networks analysed in memory
        images = "given images" if split == "given images" else f"{split} images"
        return f"n = {sample.get('n', '?')} {images} ({sample.get('per_class', '?')} per class)"

    def seeds_text(self) -> str:
        counts = sorted({len(g.runs) for g in self.groups()})
        seeds = sorted({s for g in self.groups() for s in g.seeds})
        per = "/".join(map(str, counts))
        return f"{per} seed{'s' if counts != [1] else ''} per rule (seed {', '.join(map(str, seeds))})"


def load_analysis(analysis) -> Analysis:
    """An `Analysis` from a folder written by `bioplaus analyze`, or the (results, arrays) pair itself."""
    if isinstance(analysis, Analysis):
        return analysis
    if isinstance(analysis, tuple) and len(analysis) == 2:
        return Analysis(*analysis)
    return Analysis(*read_results(analysis))
