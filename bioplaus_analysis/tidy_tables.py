"""Long-format CSV tables beside results.json, one row per measurement, so that `pandas.read_csv` gives
a frame to group and plot in one call (no four-level loop over nested JSON):

- robustness.csv: model, rule, seed, run, attack, mode, source, eps, accuracy ("transfer" rows: images
  crafted on `source` with its true gradient; "true"/"feedback" rows: source = run)
- snr.csv: model, rule, seed, run, layer, snr
- cosine.csv: model, rule, seed, run, layer, when ("analysis" or "training"), epoch, cosine, sem, n_batches
- embedding.csv: run ("input" for the pixels), layer, method, score_name, score
- dynamics.csv: model, rule, seed, run, block, epoch, alignment (degrees), label_similarity, bp_similarity
  (the probe RDM's similarity to the label RDM and to BP's of the same seed); empty where not recorded
- cost.csv: model, rule, seed, run, phase, layer, quantity, value, relative_to_bp ("training step" rows: one
  step's time, peak memory, multiply-accumulates and spike-driven accumulates per image; "inference" rows per weight layer: the
  accumulates of its spike inputs and the multiply-accumulates of its analog inputs per image, and the mean
  firing rate of the layer's own neurons; relative_to_bp: over the same seed's BP run, empty without one)
"""

import csv
import io
from pathlib import Path

from trainers.store.runfiles import atomic_write

from .embedding import QUALITY
from .robustness import transfer_eps_measured

TABLES = ("robustness", "snr", "cosine", "embedding", "dynamics", "cost")


def _who(results: dict, run: str) -> dict:
    info = results["runs"][run]
    return {"model": info["model"], "rule": info["rule"], "seed": info["seed"], "run": run}


def robustness_rows(results: dict, arrays: dict) -> list[dict]:
    section = results.get("robustness", {})
    eps, order, rows = section.get("eps", []), section.get("transfer_order", []), []
    for run, attacks in section.get("curves", {}).items():
        for attack, modes in attacks.items():
            for mode, accuracies in modes.items():
                rows += [dict(_who(results, run), attack=attack, mode=mode, source=run, eps=e, accuracy=a)
                         for e, a in zip(eps, accuracies)]
    measured = transfer_eps_measured(section)
    for attack in section.get("attacks", []):
        matrix = arrays.get(f"transfer/{attack}")  # [ε, source, target]
        if matrix is None:
            continue
        for t, target in enumerate(order):
            rows += [dict(_who(results, target), attack=attack, mode="transfer", source=source, eps=e,
                          accuracy=float(matrix[k, s, t]))
                     for s, source in enumerate(order) if s != t for k, e in enumerate(measured)]
    return rows


def snr_rows(results: dict, arrays: dict) -> list[dict]:
    return [dict(_who(results, run), layer=layer, snr=value)
            for run, layers in results.get("snr", {}).items() for layer, value in layers.items()]


def cosine_rows(results: dict, arrays: dict) -> list[dict]:
    rows = []
    for run, both in results.get("cosine", {}).items():
        for layer, value in both["analysis"].items():
            rows.append(dict(_who(results, run), layer=layer, when="analysis", epoch=None, cosine=value["mean"],
                             sem=value["sem"], n_batches=value["n_batches"]))
        training = both["training"]
        for layer in [key for key in training if key != "epoch"]:
            rows += [dict(_who(results, run), layer=layer, when="training", epoch=epoch, cosine=value, sem=None,
                          n_batches=1) for epoch, value in zip(training["epoch"], training[layer])]
    return rows


def embedding_rows(results: dict, arrays: dict) -> list[dict]:
    rows = []
    for run, layers in results.get("embeddings", {}).items():
        for layer, methods in layers.items():
            owner = "input" if layer == "input" else run  # the pixels are embedded once, for every run
            rows += [{"run": owner, "layer": layer, "method": method, "score_name": QUALITY[method], "score": score}
                     for method, score in methods.items()]
    unique = {tuple(row.values()): row for row in rows}  # the input's row is listed under every run
    return list(unique.values())


def dynamics_rows(results: dict, arrays: dict) -> list[dict]:
    """One row per (run, block, epoch) of the weight alignment and the probe-RDM similarities."""
    cells = {}
    for run, table in results.get("alignment", {}).items():
        for block in [key for key in table if key != "epoch"]:
            for epoch, value in zip(table["epoch"], table[block]):
                cells.setdefault((run, block, epoch), {})["alignment"] = value
    for run, part in results.get("dynamics", {}).get("per_run", {}).items():
        for key in ("label_similarity", "bp_similarity"):
            for block, values in part[key].items():
                for epoch, value in zip(part["epoch"], values):
                    cells.setdefault((run, block, epoch), {})[key] = value
    return [dict(_who(results, run), block=block, epoch=epoch, **values)
            for (run, block, epoch), values in sorted(cells.items())]


STEP_QUANTITIES = {"ms": "time (ms)", "peak_bytes": "peak memory (MiB)",
                   "macs_per_image": "multiply-accumulates per image", "accumulates_per_image": "accumulates per image"}
LAYER_QUANTITIES = {"accumulates": "accumulates per image", "multiply_accumulates": "multiply-accumulates per image",
                    "firing_rate": "firing rate (spikes per neuron and step)"}


def bp_run_of(runs: dict, run: str) -> str | None:
    """The BP run of the same model and seed as `run` among `runs` {name: {"rule", "model", "seed", …}} (results.json's
    runs, or run configs); None when there is none."""
    info = runs[run]
    return next((name for name, r in runs.items() if r["rule"] == "bp" and r["model"] == info["model"]
                 and r["seed"] == info["seed"]), None)


def _cost_cells(results: dict) -> dict:
    """{(run, phase, layer, quantity): value} of the cost section, in cost.csv's units."""
    section, cells = results.get("cost", {}), {}
    for run, step in section.get("step", {}).items():
        for key, quantity in STEP_QUANTITIES.items():
            if key in step:  # analyses before the step's accumulates lack them
                cells[(run, "training step", "", quantity)] = step[key] / 2**20 if key == "peak_bytes" else step[key]
    for run, layers in section.get("layers", {}).items():
        for layer, values in layers.items():
            for key, value in values.items():
                cells[(run, "inference", layer, LAYER_QUANTITIES[key])] = value
    return cells


def cost_rows(results: dict, arrays: dict) -> list[dict]:
    cells, rows = _cost_cells(results), []
    for (run, phase, layer, quantity), value in cells.items():
        bp = bp_run_of(results["runs"], run)
        reference = cells.get((bp, phase, layer, quantity)) if bp else None
        rows.append(dict(_who(results, run), phase=phase, layer=layer, quantity=quantity, value=value,
                         relative_to_bp=value / reference if reference else None))
    return rows


def _csv(rows: list[dict], columns) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    return buffer.getvalue()


COLUMNS = {"robustness": ("model", "rule", "seed", "run", "attack", "mode", "source", "eps", "accuracy"),
           "snr": ("model", "rule", "seed", "run", "layer", "snr"),
           "cosine": ("model", "rule", "seed", "run", "layer", "when", "epoch", "cosine", "sem", "n_batches"),
           "embedding": ("run", "layer", "method", "score_name", "score"),
           "dynamics": ("model", "rule", "seed", "run", "block", "epoch", "alignment", "label_similarity",
                        "bp_similarity"),
           "cost": ("model", "rule", "seed", "run", "phase", "layer", "quantity", "value", "relative_to_bp")}
ROWS = {"robustness": robustness_rows, "snr": snr_rows, "cosine": cosine_rows, "embedding": embedding_rows,
        "dynamics": dynamics_rows, "cost": cost_rows}


def write_tidy_tables(out, results: dict, arrays: dict) -> list[Path]:
    """NAME.csv for every table in `TABLES` into the analysis folder `out`, atomically; returns the paths."""
    paths = []
    for name in TABLES:
        path = Path(out) / f"{name}.csv"
        atomic_write(path, _csv(ROWS[name](results, arrays), COLUMNS[name]))
        paths.append(path)
    return paths
