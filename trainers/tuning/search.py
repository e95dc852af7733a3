"""`bioplaus tune`: one protocol that chooses a rule's hyper-parameters on the validation split.

The protocol is the same for every dataset, model and rule, with a fixed budget per rule:
1. Learning rate: the rule's default × 10^(k/2) for k = −2, −1, 0, 1 (0.1×, 0.32×, 1×, 3.2×), seed 0. When
   the best lies on an edge of the grid, one more half-decade past that edge is tried, at most twice.
2. The rule's own knobs, one at a time at the best values so far: DKP's feedback learning rate, aDFA's g,
   the spiking networks' init gain (`KNOBS`).
3. Finalists: the `finalists` best settings of seed 0 train again with seeds 1..`confirm_seeds`; the setting
   with the highest mean validation accuracy over seeds is chosen.
Every trial is an ordinary run (RUNS/NAME) that never reads the test split (`evaluate_test=False`); its
score is the final epoch's validation accuracy (a diverged trial scores −∞). A rerun reuses finished trials,
so an interrupted tune continues and reaches the same choice: from their runs, or, where the runs are gone
(another machine, a fresh clone), from the rows trials.csv recorded for them, provided OUT/search.json
shows that search had the same options.
"""

import csv
import io
import json
import math
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm.auto import tqdm

from trainers.nets.build import is_spiking
from trainers.config import FEEDBACK_LR, TrainConfig
from trainers.errors import ConfigError, DivergenceError
from trainers.tuning.recipes import CONFIG_KEYS, MODEL_OPTION_KEYS, RECIPES_FORMAT, recipe_key
from trainers.rules import get_rule
from trainers.store.runfiles import atomic_write, make_writable_folder, read_metrics
from trainers.nets.spiking import SPIKING_DEFAULTS
from trainers.loop.training import train

LR_STEPS = (-2, -1, 0, 1)  # half-decades around the rule's default learning rate
LR_EXTENSIONS = 2  # at most this many half-decades past an edge that wins
SEARCH = "search.json"  # a search's options, beside its trials.csv
SCORES = ("status", "val_acc", "val_loss", "train_acc", "seconds")  # what a trial's row records of its run


def _own_feedback_optimiser(rule) -> bool:
    """Whether the rule's feedback learns in an optimiser of its own (DKP), whose learning rate is a knob; KP's B
    steps in W's optimiser, so feedback_lr does nothing there."""
    return rule.trainable_feedback and not rule.steps_with_forward


@dataclass(frozen=True)
class Knob:
    """A rule's own hyper-parameter: the values tried and its default (tried with the learning rates)."""
    values: tuple
    default: object
    applies: callable

    def __call__(self, config: TrainConfig) -> bool:
        return self.applies(config)


KNOBS = {
    "feedback_lr": Knob((1e-5, 1e-4, 1e-3), FEEDBACK_LR, lambda c: _own_feedback_optimiser(get_rule(c.rule))),
    "g": Knob(("lif_rate", "fast_sigmoid", "ones"), SPIKING_DEFAULTS["g"],
              lambda c: get_rule(c.rule).uses_g),
    "init_gain": Knob((3.0, 6.0, 12.0), SPIKING_DEFAULTS["init_gain"], lambda c: is_spiking(c.model)),
}
_SHORT = {"lr": "lr", "feedback_lr": "fb", "g": "g", "init_gain": "gain"}
COLUMNS = ("trial", "stage", "seed", "optimizer", "lr", "feedback_lr", "g", "init_gain", "epochs", "status",
           "val_acc", "val_loss", "train_acc", "seconds", "run", "finalist", "chosen")


def starting_values(base: TrainConfig) -> dict:
    """The rule's defaults (never a shipped recipe, so a search does not depend on an earlier one)."""
    rule = get_rule(base.rule)
    defaults = rule.spiking_defaults if is_spiking(base.model) else rule.defaults
    values = {"optimizer": defaults["optimizer"], "lr": defaults["lr"]}
    return dict(values, **{name: knob.default for name, knob in KNOBS.items() if knob(base)})


def learning_rate(default: float, step: int) -> float:
    """default × 10^(step/2), to two significant digits."""
    return float(f"{default * 10 ** (step / 2):.2g}")


def trial_name(values: dict, seed: int) -> str:
    """The folder of a trial: its tuned values and seed, e.g. lr0.001-fb0.0001-s0."""
    parts = [f"{_SHORT[k]}{values[k]:g}" if isinstance(values[k], float) else f"{_SHORT[k]}{values[k]}"
             for k in _SHORT if k in values]
    return "-".join(parts + [f"s{seed}"]).replace(":", "_")


class Search:
    """The protocol over a `score(values, seed, stage) -> validation accuracy` (NaN: diverged); each
    (values, seed) is scored once."""

    def __init__(self, score):
        self.score, self.scores = score, {}

    def __call__(self, values: dict, seed: int = 0, stage: str = "lr") -> float:
        key = (tuple(sorted(values.items())), seed)
        if key not in self.scores:
            found = self.score(values, seed, stage)
            self.scores[key] = -math.inf if math.isnan(found) else found
        return self.scores[key]

    def learning_rates(self, values: dict) -> dict:
        """Step 1: the half-decade grid around the default, extended past a winning edge."""
        steps, default = list(LR_STEPS), values["lr"]
        for _ in range(LR_EXTENSIONS + 1):
            best = max(steps, key=lambda s: self(dict(values, lr=learning_rate(default, s))))
            if best not in (steps[0], steps[-1]) or len(steps) == len(LR_STEPS) + LR_EXTENSIONS:
                break
            steps = [steps[0] - 1] + steps if best == steps[0] else steps + [steps[-1] + 1]
        return dict(values, lr=learning_rate(default, best))

    def knob(self, values: dict, name: str) -> dict:
        """Step 2, one knob: its values at the best settings so far."""
        tried = sorted(KNOBS[name].values, key=lambda v: v != values[name])  # the current value wins ties
        return max((dict(values, **{name: v}) for v in tried), key=lambda v: self(v, stage=name))

    def confirm(self, finalists: int, confirm_seeds: int) -> tuple[dict, list]:
        """Step 3: (chosen values, [their accuracy per seed]) among the best `finalists` of seed 0."""
        ranked = sorted(((score, values) for (values, seed), score in self.scores.items() if seed == 0),
                        key=lambda item: -item[0])
        best = []
        for _, values in ranked[:finalists]:
            accuracies = [self(dict(values), seed, "finalist") for seed in range(confirm_seeds + 1)]
            best.append((statistics.fmean(accuracies), dict(values), accuracies))
        _, chosen, accuracies = max(best, key=lambda item: item[0])
        return chosen, accuracies


class Trials:
    """Runs trials as ordinary runs in `runs_dir`; rewrites `table` (trials.csv) after each one. A trial whose
    run is gone but which `recorded` holds (rows of an earlier trials.csv, by run name) is taken from there."""

    def __init__(self, base: TrainConfig, runs_dir: Path, table: Path, progress: bool | None, recorded=()):
        self.base, self.runs_dir, self.table, self.progress = base, Path(runs_dir), table, progress
        self.rows, self.recorded = [], {row["run"]: row for row in recorded}

    def config(self, values: dict, seed: int) -> TrainConfig:
        options = dict(self.base.model_options, **{k: v for k, v in values.items() if k in MODEL_OPTION_KEYS})
        return replace(self.base, **{k: v for k, v in values.items() if k in CONFIG_KEYS}, seed=seed,
                       model_options=options, evaluate_test=False)

    def __call__(self, values: dict, seed: int, stage: str) -> float:
        """Train (or reuse) the trial and return its final validation accuracy, NaN if it diverged."""
        run_dir = self.runs_dir / trial_name(values, seed)
        found = {"trial": len(self.rows) + 1, "stage": stage, "seed": seed, **values, "epochs": self.base.epochs,
                 "run": run_dir.name}
        recorded = self.recorded.get(run_dir.name) if not run_dir.exists() else None
        row = dict(found, **({k: recorded[k] for k in SCORES} if recorded else self._train(values, seed, run_dir)))
        self.rows.append(row)
        write_trials(self.table, self.rows)
        if self.progress is not False:
            shown = " ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items())
            tqdm.write(f"tune {stage} trial {row['trial']}: {shown} seed {seed}: val_acc {row['val_acc']:.4f} "
                       f"({row['status']}{', as trials.csv recorded it' if recorded else ''})")
        return row["val_acc"]

    def _train(self, values: dict, seed: int, run_dir: Path) -> dict:
        """Train (or reuse) the trial's run: {status, val_acc, val_loss, train_acc, seconds}."""
        try:
            train(self.config(values, seed), run_dir, resume=True, progress=False)
            epochs, status = read_metrics(run_dir), "ok"
        except DivergenceError:
            epochs, status = [], "diverged"
        last = epochs[-1] if epochs else {}
        return {"status": status, **{k: last.get(k, math.nan) for k in SCORES[1:4]},
                "seconds": sum(r["seconds"] for r in epochs) if epochs else math.nan}


def read_trials(path: Path) -> list[dict]:
    """The finished trials of a trials.csv: its rows with the scores as numbers (NaN where blank)."""
    with open(path, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["status"] in ("ok", "diverged")]
    number = lambda text: float(text) if text else math.nan  # noqa: E731
    return [dict(row, **{k: number(row[k]) for k in SCORES[1:]}) for row in rows]


def search_options(base: TrainConfig, finalists: int, confirm_seeds: int) -> dict:
    """What a search's trials depend on: every option but where it runs and the values it chooses."""
    where = {"device", "data_dir", "sources", "seed", "cuda_graph", "probes_per_class", "evaluate_test"}
    options = {k: v for k, v in base.to_dict().items() if k not in where | set(CONFIG_KEYS)}
    options["model_options"] = {k: v for k, v in base.model_options.items() if k not in MODEL_OPTION_KEYS}
    return json.loads(json.dumps(dict(options, finalists=finalists, confirm_seeds=confirm_seeds)))


def new_search(out: Path, options: dict) -> list[dict]:
    """Start a search in `out`: OUT/search.json records its options, which a rerun must match; no trials yet."""
    atomic_write(out / SEARCH, json.dumps(options, indent=2, sort_keys=True) + "\n")
    return []


def recorded_trials(out: Path, options: dict) -> list[dict]:
    """The finished trials the earlier search in `out` recorded, if OUT/search.json shows the same options; a
    ConfigError if that search had other options."""
    stored = json.loads((out / SEARCH).read_text())
    differences = [f"{k}: {stored.get(k)!r} there, {options.get(k)!r} now" for k in sorted(set(stored) | set(options))
                   if stored.get(k) != options.get(k)]
    if differences:
        raise ConfigError(f"{out} holds a search with other options ({'; '.join(differences)}); pass those, or "
                          "another --out")
    return read_trials(out / "trials.csv") if (out / "trials.csv").exists() else []


def write_trials(path: Path, rows: list[dict]) -> None:
    """trials.csv: one row per trial, in the order they ran (COLUMNS; blank where a knob does not apply)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, buffer.getvalue())


def _check_base(base: TrainConfig) -> TrainConfig:
    given = [name for name in CONFIG_KEYS if getattr(base, name) is not None]
    given += [name for name in MODEL_OPTION_KEYS if name in base.model_options]
    if given:
        raise ConfigError(f"tune chooses {', '.join(given)} itself; leave {'it' if len(given) == 1 else 'them'} out")
    return replace(base, evaluate_test=False).resolved()


def tune(base: TrainConfig, out, runs_dir=None, *, finalists: int = 2, confirm_seeds: int = 2,
         progress: bool | None = None) -> dict:
    """Choose the hyper-parameters of `base`'s (dataset, model, rule) by the protocol above; writes
    OUT/trials.csv (every trial) and OUT/recipe.json (the chosen values with their evidence, in the format
    of trainers/tuning/recipes.json) and returns the recipe entry. Trials run in `runs_dir` (default OUT/trials)."""
    for name, value in (("--finalists", finalists), ("--confirm-seeds", confirm_seeds)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "--finalists" else 0):
            raise ConfigError(f"{name} must be a {'positive' if name == '--finalists' else 'non-negative'} "
                              f"integer, got {value!r}")
    _check_base(base)
    out = Path(out)
    make_writable_folder(out)
    options = search_options(base, finalists, confirm_seeds)
    recorded = recorded_trials(out, options) if (out / SEARCH).exists() else new_search(out, options)
    trials = Trials(base, runs_dir or out / "trials", out / "trials.csv", progress, recorded)
    search = Search(trials)
    values = search.learning_rates(starting_values(base))
    for name, knob in KNOBS.items():
        if knob(base):
            values = search.knob(values, name)
    chosen, accuracies = search.confirm(finalists, confirm_seeds)
    return _write_recipe(out, base, trials.rows, chosen, accuracies)


def _write_recipe(out: Path, base: TrainConfig, rows: list, chosen: dict, accuracies: list) -> dict:
    setting = lambda run: run.rsplit("-s", 1)[0]  # noqa: E731  (a trial's folder without its seed)
    finalists = {setting(row["run"]) for row in rows if row["stage"] == "finalist"}
    for row in rows:
        row["finalist"] = setting(row["run"]) in finalists
        row["chosen"] = setting(row["run"]) == setting(trial_name(chosen, 0))
    write_trials(out / "trials.csv", rows)
    entry = {"values": chosen,
             "validation_acc": {"mean": statistics.fmean(accuracies), "per_seed": accuracies,
                                "sd": statistics.stdev(accuracies) if len(accuracies) > 1 else None},
             "tuned_with": {"epochs": base.epochs, "batch_size": base.batch_size, "limit_train": base.limit_train,
                            "validation": base.validation, "schedule": base.schedule, "trials": len(rows)},
             "evidence": str(out / "trials.csv")}
    key = recipe_key(base.dataset, base.model, base.rule)
    atomic_write(out / "recipe.json", json.dumps({"format": RECIPES_FORMAT, "recipes": {key: entry}},
                                                 indent=2, sort_keys=True) + "\n")
    return entry
