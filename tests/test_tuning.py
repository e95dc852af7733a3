"""`bioplaus tune`: the protocol's choices on a synthetic score, and a real tune on digits that never reads
the test split, writes its evidence and recipe, and continues when rerun."""

import csv
import json
import math
import re
import shutil

import pytest

import trainers.loop.training as training
from trainers import ConfigError, TrainConfig, train
from trainers.tuning.recipes import load_recipes, merge_recipes, parse_recipes
from trainers.tuning.search import Search, learning_rate, trial_name, tune

from bioplaus_analysis.commands.cli import main


def _peaked(best_lr, knob=None):
    """A synthetic validation accuracy peaked at `best_lr` (and, optionally, at knob (name, value))."""
    calls = []

    def score(values, seed, stage):
        calls.append((dict(values), seed, stage))
        bonus = 0.05 if knob and values.get(knob[0]) == knob[1] else 0.0
        return 0.9 - 0.1 * abs(math.log10(values["lr"] / best_lr)) + bonus + 0.001 * seed
    return score, calls


def test_learning_rate_grid_is_half_decades_around_the_default():
    assert [learning_rate(1e-3, s) for s in (-2, -1, 0, 1)] == [1e-4, 3.2e-4, 1e-3, 3.2e-3]


def test_search_extends_the_grid_past_a_winning_edge_at_most_twice():
    score, calls = _peaked(1e-3)
    assert Search(score).learning_rates({"lr": 1e-2})["lr"] == 1e-3  # BP-SNN: the default 1e-2 is 10x too high
    assert [c[0]["lr"] for c in calls] == [1e-3, 3.2e-3, 1e-2, 3.2e-2, 3.2e-4]  # one step past the edge
    score, calls = _peaked(1e-7)
    assert Search(score).learning_rates({"lr": 1e-2})["lr"] == 1e-4 and len(calls) == 6  # 4 + 2 extensions


def test_knobs_are_searched_one_at_a_time_and_finalists_decide_by_the_mean_over_seeds():
    score, calls = _peaked(1e-3, knob=("feedback_lr", 1e-3))
    search = Search(score)
    values = search.knob(search.learning_rates({"lr": 1e-3, "feedback_lr": 1e-4}), "feedback_lr")
    assert values == {"lr": 1e-3, "feedback_lr": 1e-3}
    chosen, accuracies = search.confirm(finalists=2, confirm_seeds=2)
    assert chosen == values and len(accuracies) == 3 and accuracies == sorted(accuracies)
    finalists = {tuple(sorted(c[0].items())) for c in calls if c[2] == "finalist"}
    assert len(finalists) == 2 and {c[1] for c in calls if c[2] == "finalist"} == {1, 2}
    assert len(calls) == len({(tuple(sorted(c[0].items())), c[1]) for c in calls})  # nothing scored twice


def test_the_feedback_learning_rate_is_a_knob_only_where_feedback_has_its_own_optimiser():
    """DKP's B steps in an optimiser of its own; KP's in W's, where feedback_lr would change nothing."""
    from trainers.tuning.search import starting_values
    dkp, kp = (starting_values(TrainConfig(model="cnn", rule=rule, dataset="digits")) for rule in ("dkp", "kp"))
    assert "feedback_lr" in dkp and "feedback_lr" not in kp
    assert trial_name(kp, 0) == "lr0.01-s0"


def test_a_diverged_trial_scores_minus_infinity():
    search = Search(lambda values, seed, stage: math.nan if values["lr"] > 2e-3 else values["lr"])
    assert search.learning_rates({"lr": 1e-3})["lr"] == 1e-3 and search({"lr": 3.2e-3}) == -math.inf


def test_tune_never_reads_the_test_split_and_writes_trials_and_recipe(tmp_path, monkeypatch):
    read, load = [], training.load_dataset

    def recording(name, split, data_dir=None):
        read.append(split)
        if split == "test":
            raise AssertionError("tune read the test split")
        return load(name, split, data_dir)
    monkeypatch.setattr(training, "load_dataset", recording)
    base = TrainConfig(model="mlp", rule="dkp", dataset="digits", epochs=1, model_options={"hidden": "32"})
    entry = tune(base, tmp_path / "tune", finalists=2, confirm_seeds=1, progress=False)
    assert set(read) == {"train"}
    with open(tmp_path / "tune" / "trials.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    stages = [row["stage"] for row in rows]
    assert stages[:4] == ["lr"] * 4 and stages.count("feedback_lr") == 2 and stages[-2:] == ["finalist"] * 2
    chosen = [row for row in rows if row["chosen"] == "True"]
    assert {row["seed"] for row in chosen} == {"0", "1"}
    mean = sum(float(row["val_acc"]) for row in chosen) / 2
    assert entry["validation_acc"]["mean"] == pytest.approx(mean)
    assert all(mean >= sum(float(r["val_acc"]) for r in rows if r["finalist"] == "True" and r["run"][:-3] == f)
               / 2 for f in {r["run"][:-3] for r in rows if r["finalist"] == "True"})
    recipes = load_recipes(tmp_path / "tune" / "recipe.json")
    assert recipes["digits/mlp/dkp"]["values"] == entry["values"] and entry["tuned_with"]["trials"] == len(rows)
    for row in rows:  # every trial is an ordinary run that held out the validation slice and saw no test split
        config = json.loads((tmp_path / "tune" / "trials" / row["run"] / "config.json").read_text())
        assert config["evaluate_test"] is False and config["validation_images"] == 142


def test_a_rerun_reuses_every_finished_trial(tmp_path, monkeypatch):
    base = TrainConfig(model="mlp", rule="bp", dataset="digits", epochs=1, limit_train=300,
                       model_options={"hidden": "16"})
    first = tune(base, tmp_path / "t", finalists=1, confirm_seeds=1, progress=False)
    epochs = []
    monkeypatch.setattr(training.TrainingRun, "run_epoch", lambda self, epoch, stop: epochs.append(epoch))
    assert tune(base, tmp_path / "t", finalists=1, confirm_seeds=1, progress=False) == first and epochs == []


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(text.splitlines()))


def test_a_rerun_without_the_trial_runs_continues_from_trials_csv(tmp_path, monkeypatch):
    base = TrainConfig(model="mlp", rule="dkp", dataset="digits", epochs=1, limit_train=300,
                       model_options={"hidden": "16"})
    first = tune(base, tmp_path / "t", tmp_path / "runs", finalists=1, confirm_seeds=1, progress=False)
    table = (tmp_path / "t" / "trials.csv").read_text()
    assert json.loads((tmp_path / "t" / "search.json").read_text())["model_options"] == {"hidden": "16"}
    lines = table.splitlines()
    (tmp_path / "t" / "trials.csv").write_text("\n".join(lines[:-2]) + "\n")  # cut off while confirming
    shutil.rmtree(tmp_path / "runs")  # the runs are gone (a fresh clone), the evidence is not
    trained = []
    original = training.TrainingRun.fit
    monkeypatch.setattr(training.TrainingRun, "fit", lambda self: (trained.append(self.run_dir.name), original(self)))
    assert tune(base, tmp_path / "t", tmp_path / "runs", finalists=1, confirm_seeds=1, progress=False) == first
    lost = [row["run"] for row in _rows(table)[-2:]]
    assert trained == lost  # only the two trials the table lost trained again
    drop = lambda rows: [dict(row, seconds="") for row in rows]  # noqa: E731  (a retrained trial's time differs)
    assert drop(_rows((tmp_path / "t" / "trials.csv").read_text())) == drop(_rows(table))
    changed = dict(base.to_dict(), epochs=2)
    with pytest.raises(ConfigError, match=r"holds a search with other options \(epochs: 1 there, 2 now\)"):
        tune(TrainConfig(**changed), tmp_path / "t", tmp_path / "runs", finalists=1, confirm_seeds=1, progress=False)


def test_tune_refuses_values_it_chooses_itself(tmp_path):
    with pytest.raises(ConfigError, match="tune chooses lr, init_gain itself; leave them out"):
        tune(TrainConfig(model="snn", lr=1e-3, model_options={"init_gain": 2.0}), tmp_path / "t")
    assert not (tmp_path / "t").exists()


def test_recipes_are_the_defaults_flags_win_and_config_records_the_source(tmp_path, monkeypatch):
    recipes = {"format": "bioplaus-recipes-1", "recipes": {"digits/snn/adfa": {
        "values": {"lr": 3.2e-3, "g": "ones", "init_gain": 3.0}}}}
    (tmp_path / "recipes.json").write_text(json.dumps(recipes))
    monkeypatch.setattr("trainers.tuning.recipes.RECIPE_FILE", tmp_path / "recipes.json")
    config = TrainConfig(model="snn", rule="adfa", dataset="digits", model_options={"init_gain": 5.0}).resolved()
    assert (config.lr, config.optimizer, config.model_options["g"], config.model_options["init_gain"]) == \
        (3.2e-3, "adam", "ones", 5.0)
    assert config.sources == {"lr": "recipe digits/snn/adfa", "optimizer": "rule default",
                              "feedback_lr": "rule default", "g": "recipe digits/snn/adfa", "init_gain": "given"}
    assert TrainConfig(model="snn", rule="adfa", dataset="mnist-5k").resolved().lr == 1e-2  # no recipe there
    run = train(TrainConfig(model="snn", rule="adfa", dataset="digits", epochs=1, lr=1e-3, limit_train=64,
                            model_options={"hidden": "16", "time_steps": 4}), tmp_path / "run", progress=False)
    stored = json.loads((run / "config.json").read_text())
    assert stored["lr"] == 1e-3 and stored["sources"]["lr"] == "given" and stored["model_options"]["g"] == "ones"


def test_merge_recipes_adds_and_replaces_entries(tmp_path):
    target = tmp_path / "recipes.json"
    target.write_text(json.dumps({"format": "bioplaus-recipes-1", "recipes": {"a/cnn/bp": {"values": {"lr": 1.0}}}}))
    new = tmp_path / "recipe.json"
    new.write_text(json.dumps({"format": "bioplaus-recipes-1", "recipes": {"a/cnn/bp": {"values": {"lr": 2.0}},
                                                                           "a/cnn/fa": {"values": {"lr": 3.0}}}}))
    assert merge_recipes([new], target) == ["a/cnn/bp", "a/cnn/fa"]
    assert load_recipes(target)["a/cnn/bp"]["values"]["lr"] == 2.0


def test_a_new_search_keeps_the_epochs_a_recipe_chose(tmp_path):
    target = tmp_path / "recipes.json"
    target.write_text(json.dumps({"format": "bioplaus-recipes-1", "recipes": {
        "a/snn/bp": {"values": {"lr": 1.0}, "epochs": {"chosen": 15, "evidence": "curve.csv"}}}}))
    new = tmp_path / "recipe.json"
    new.write_text(json.dumps({"format": "bioplaus-recipes-1", "recipes": {"a/snn/bp": {"values": {"lr": 2.0}}}}))
    merge_recipes([new], target)
    assert load_recipes(target)["a/snn/bp"] == {"values": {"lr": 2.0}, "epochs": {"chosen": 15, "evidence": "curve.csv"}}
    with pytest.raises(ConfigError, match="has epochs without a positive integer 'chosen'"):
        parse_recipes({"format": "bioplaus-recipes-1", "recipes": {"a/snn/bp": {"values": {}, "epochs": {}}}}, "f")


def test_make_recipes_merges_and_writes_the_summary_table(tmp_path):
    from trainers.tuning.table import write_summary
    folder = tmp_path / "tuning" / "digits" / "snn-dkp"
    folder.mkdir(parents=True)
    fields = "trial,stage,seed,lr,status,val_acc\n"
    (folder / "trials.csv").write_text(fields + "1,lr,0,0.01,ok,0.8\n2,lr,0,0.001,ok,0.9\n3,lr,0,0.1,diverged,-inf\n"
                                       "4,feedback_lr,0,0.001,ok,0.95\n5,finalist,1,0.001,ok,0.97\n")
    entry = {"values": {"lr": 0.001, "optimizer": "adam", "feedback_lr": 3.2e-5, "init_gain": 12.0},
             "validation_acc": {"mean": 0.96, "sd": 0.01, "per_seed": [0.95, 0.97]},
             "evidence": str(folder / "trials.csv"), "tuned_with": {"trials": 5}}
    recipes = lambda entries: json.dumps({"format": "bioplaus-recipes-1", "recipes": entries})  # noqa: E731
    (folder / "recipe.json").write_text(recipes({"digits/snn/dkp": entry}))
    target, out = tmp_path / "recipes.json", tmp_path / "tuning" / "summary.md"
    target.write_text(recipes({"digits/cnn/bp": {"values": {"lr": 0.5}}}))
    assert write_summary([folder / "recipe.json"], out, target) == ["digits/cnn/bp", "digits/snn/dkp"]
    rows = [line for line in out.read_text().splitlines() if line.startswith("| digits")]
    assert rows == ["| digits | cnn | bp | lr 5e-1 | — | — | — |",
                    "| digits | snn | dkp | adam, lr 1e-3, feedback lr 3.2e-5, init gain 12 | 96.00 ± 1.00 (2) | "
                    "1e-3: 90.00, 1e-2: 80.00, 1e-1: diverged | [5](digits/snn-dkp/trials.csv) |"]


def test_a_malformed_recipe_is_one_clear_error():
    with pytest.raises(ConfigError, match="recipe 'x/cnn' must be DATASET/MODEL/RULE with values among"):
        parse_recipes({"format": "bioplaus-recipes-1", "recipes": {"x/cnn": {"values": {}}}}, "f.json")
    with pytest.raises(ConfigError, match="f.json is not a bioplaus recipes file"):
        parse_recipes({"recipes": {}}, "f.json")


def test_the_tune_command_prints_the_choice(tmp_path, capsys):
    code = main(["tune", "--dataset", "digits", "--model", "mlp", "--rule", "fa", "--epochs", "1", "--hidden", "16",
                 "--limit-train", "200", "--finalists", "1", "--confirm-seeds", "0", "--quiet",
                 "--out", str(tmp_path / "t")])
    out = capsys.readouterr().out
    assert code == 0 and "chosen: {" in out and re.search(r"over 1 seed \([4-6] trials\)", out)
    assert main(["tune", "--dataset", "digits", "--rule", "fa", "--out", str(tmp_path / "u"),
                 "--finalists", "0"]) == 2
    assert "--finalists must be a positive integer, got 0" in capsys.readouterr().err
    assert trial_name({"lr": 1e-3, "g": "fast_sigmoid:10", "init_gain": 6.0}, 2) == "lr0.001-gfast_sigmoid_10-gain6-s2"


def test_the_shipped_snn_epochs_come_from_the_validation_curve_they_cite():
    """Fashion-MNIST SNN runs take the epochs their recipes chose from a validation curve (tuning/…/snn-epochs.csv):
    each recipe's recorded accuracy is that curve's last value, and the default epochs follow the recipes."""
    import csv
    from pathlib import Path
    from trainers import default_epochs
    from trainers.tuning.recipes import recipe_epochs
    recipes = load_recipes()
    root = Path(__file__).resolve().parents[1]
    for rule in ("bp", "dfa", "dkp", "adfa"):
        entry = recipes[f"fashion-mnist/snn/{rule}"]["epochs"]
        curve = [float(r["val_acc"]) for r in csv.DictReader(open(root / entry["evidence"])) if r["rule"] == rule]
        assert entry["validation_acc"][f"{len(curve)} epochs"] == curve[-1]
    assert default_epochs("fashion-mnist", "snn") == recipe_epochs("fashion-mnist", "snn") == max(
        recipes[f"fashion-mnist/snn/{rule}"]["epochs"]["chosen"] for rule in ("bp", "dfa", "dkp", "adfa"))
    assert default_epochs("mnist-5k", "snn") == 3 and default_epochs("fashion-mnist", "cnn") == 10  # no curve there
