"""The tuning summary: one markdown row per recipe with its chosen values, the finalists' validation accuracy
and the learning-rate scan it came from, read from the recipes and their trials.csv evidence.

`make recipes` writes it to tuning/summary.md, so the README's table is regenerated, never typed.
"""

import csv
import os
from pathlib import Path

from trainers.store.files import atomic_write
from trainers.tuning.recipes import RECIPE_FILE, load_recipes, merge_recipes

HEADER = ("| dataset | model | rule | chosen | validation accuracy, mean ± sd over seeds (%) | learning-rate scan, "
          "seed 0 (validation %) | trials |\n| --- | --- | --- | --- | --- | --- | --- |")
ORDER = ("optimizer", "lr", "feedback_lr", "g", "init_gain")


def _number(value) -> str:
    """1e-3, 3.2e-3, 6, lif_rate: the short form a table needs."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    if value == int(value) and abs(value) >= 1:
        return str(int(value))
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _lr_scan(evidence: Path) -> str:
    """'lr: accuracy' of the learning-rate stage in trials.csv, lowest lr first; the chosen lr in bold."""
    if not evidence.is_file():
        return "—"
    with evidence.open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["stage"] == "lr"]
    cells = []
    for row in sorted(rows, key=lambda r: float(r["lr"])):
        score = f"{100 * float(row['val_acc']):.2f}" if row["status"] == "ok" else row["status"]
        cells.append(f"{_number(row['lr'])}: {score}")
    return ", ".join(cells) or "—"


def recipe_rows(recipes: dict, root=".", links_from=".") -> list[str]:
    """One markdown row per recipe key, in key order; evidence paths are relative to `root`, and their links
    relative to the folder `links_from` (that of the file the table goes into)."""
    lines = []
    for key, entry in sorted(recipes.items()):
        dataset, model, rule = key.split("/")
        values = entry["values"]
        chosen = ", ".join(values[name] if name == "optimizer" else f"{name.replace('_', ' ')} {_number(values[name])}"
                           for name in ORDER if name in values)
        accuracy = entry.get("validation_acc") or {}
        seeds = accuracy.get("per_seed") or []
        score = f"{100 * accuracy['mean']:.2f} ± {100 * accuracy['sd']:.2f} ({len(seeds)})" if len(seeds) > 1 else \
            (f"{100 * accuracy['mean']:.2f} (1 seed)" if seeds else "—")
        evidence = entry.get("evidence", "")
        trials = (entry.get("tuned_with") or {}).get("trials", "—")
        link = f"[{trials}]({os.path.relpath(Path(root) / evidence, links_from)})" if evidence else str(trials)
        lines.append(f"| {dataset} | {model} | {rule} | {chosen} | {score} | "
                     f"{_lr_scan(Path(root) / evidence) if evidence else '—'} | {link} |")
    return lines


def recipes_table(path=RECIPE_FILE, root=".", links_from=".") -> str:
    """The markdown table of every recipe in `path` (default: the shipped recipes)."""
    return "\n".join([HEADER, *recipe_rows(load_recipes(path), root, links_from)]) + "\n"


def write_summary(recipe_paths, out="tuning/summary.md", target=RECIPE_FILE) -> list[str]:
    """`make recipes`: merge `recipe_paths` into `target`, then write the table of all its recipes to `out`;
    returns the keys merged."""
    keys = merge_recipes(recipe_paths, target)
    intro = ("# Tuned recipes\n\nWritten by `make recipes` from `trainers/tuning/recipes.json` and each recipe's trials.csv; "
             "the protocol is in the README (Tuning).\n\n")
    atomic_write(out, intro + recipes_table(target, links_from=Path(out).parent))
    return keys


if __name__ == "__main__":
    import sys
    print("recipes:", *write_summary(sys.argv[1:]))


__all__ = ["recipes_table", "recipe_rows", "write_summary"]
