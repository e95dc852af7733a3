"""Recipes: the hyper-parameters chosen for each (dataset, model, rule) by `bioplaus tune` on the validation
split, shipped as data in `recipes.json` and used as the defaults of every run.

A value a user passes always wins; a value no recipe holds is the rule's default. `TrainConfig.resolved`
records in config.json where each value came from ("given", "recipe DATASET/MODEL/RULE", "rule default").
"""

import json
from functools import lru_cache
from pathlib import Path

from trainers.errors import ConfigError
from trainers.store.files import atomic_write

RECIPE_FILE = Path(__file__).with_name("recipes.json")
RECIPES_FORMAT = "bioplaus-recipes-1"
# Options a recipe may set: TrainConfig fields, and spiking model options (init_gain, g).
CONFIG_KEYS = ("optimizer", "lr", "feedback_lr")
MODEL_OPTION_KEYS = ("init_gain", "g")
RECIPE_KEYS = CONFIG_KEYS + MODEL_OPTION_KEYS


def recipe_key(dataset: str, model: str, rule: str) -> str:
    return f"{dataset}/{model}/{rule}"


def parse_recipes(data: dict, where) -> dict:
    """{key: entry} of a recipes file's contents; ConfigError naming `where` when it is malformed."""
    if not isinstance(data, dict) or data.get("format") != RECIPES_FORMAT or not isinstance(data.get("recipes"), dict):
        raise ConfigError(f"{where} is not a bioplaus recipes file (format {RECIPES_FORMAT})")
    for key, entry in data["recipes"].items():
        values = entry.get("values") if isinstance(entry, dict) else None
        if key.count("/") != 2 or not isinstance(values, dict) or set(values) - set(RECIPE_KEYS):
            raise ConfigError(f"{where}: recipe {key!r} must be DATASET/MODEL/RULE with values among "
                              f"{', '.join(RECIPE_KEYS)}")
        chosen = entry.get("epochs", {"chosen": 1})
        if not isinstance(chosen, dict) or not isinstance(chosen.get("chosen"), int) or chosen["chosen"] < 1:
            raise ConfigError(f"{where}: recipe {key!r} has epochs without a positive integer 'chosen'")
    return data["recipes"]


@lru_cache(maxsize=4)
def load_recipes(path=RECIPE_FILE) -> dict:
    """The recipes of `path` (default: the shipped file) as {"dataset/model/rule": entry}."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read the recipes file {path} ({exc})") from None
    return parse_recipes(data, path)


def recipe_values(dataset: str, model: str, rule: str) -> tuple[str | None, dict]:
    """(key, values) of the shipped recipe of (dataset, model, rule), or (None, {}) where there is none."""
    key = recipe_key(dataset, model, rule)
    entry = load_recipes(RECIPE_FILE).get(key)
    return (key, dict(entry["values"])) if entry else (None, {})


def recipe_epochs(dataset: str, model: str) -> int | None:
    """The epochs chosen for `model` on `dataset` where its validation curve plateaus: the most any of its
    rules' recipes records (one count per model keeps a comparison's runs alike); None where none records one."""
    chosen = [entry["epochs"]["chosen"] for key, entry in load_recipes(RECIPE_FILE).items()
              if key.startswith(f"{dataset}/{model}/") and "epochs" in entry]
    return max(chosen) if chosen else None


def merge_recipes(paths, target=RECIPE_FILE) -> list[str]:
    """Add (or replace) the recipes of the files `paths` (each written by `bioplaus tune`) in `target`;
    returns the keys merged. `make recipes` merges tuning/*/*/recipe.json into the shipped file."""
    merged = dict(load_recipes(target))
    for path in paths:
        for key, entry in load_recipes(path).items():  # a new search keeps the epochs its recipe had chosen
            kept = {"epochs": merged[key]["epochs"]} if "epochs" in merged.get(key, {}) else {}
            merged[key] = {**kept, **entry}
    atomic_write(target, json.dumps({"format": RECIPES_FORMAT, "recipes": dict(sorted(merged.items()))},
                                    indent=2, sort_keys=True) + "\n")
    load_recipes.cache_clear()
    return sorted(merged)
