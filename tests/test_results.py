"""The analysis folder: results.json + arrays.npz written and read back, refused without --force, and the
`Analysis` the figures read (runs grouped by model and rule, in the registry's order, with colours)."""

import json

import numpy as np
import pytest

from bioplaus_analysis.results import (OTHER_RULE_COLORS, Analysis, prepare_out, read_results, rule_color,
                                       write_results)
from trainers import RULES, RunDirError


def test_results_and_arrays_are_written_and_read_back(tmp_path):
    results = {"snr": {"run": np.float32(0.5)}, "nan": float("nan"), "list": np.arange(3)}
    write_results(tmp_path, results, {"rdm/run": np.eye(3)})
    read, arrays = read_results(tmp_path)
    assert read == {"snr": {"run": 0.5}, "nan": None, "list": [0, 1, 2], "format": "bioplaus-analysis-1"}
    np.testing.assert_array_equal(arrays["rdm/run"], np.eye(3))


def test_an_existing_analysis_is_kept_unless_forced_and_a_foreign_file_is_refused(tmp_path):
    write_results(tmp_path, {}, {})
    with pytest.raises(RunDirError, match="already holds analysis results .* pass --force"):
        prepare_out(tmp_path, force=False)
    assert prepare_out(tmp_path, force=True) == tmp_path
    (tmp_path / "results.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(RunDirError, match="was not written by `bioplaus analyze`"):
        read_results(tmp_path)


def _run(model, rule, seed):
    return {"model": model, "rule": rule, "seed": seed}


def test_groups_follow_the_registry_order_with_each_rules_label_and_colour():
    runs = {"c": _run("cnn", "adfa", 1), "a": _run("cnn", "dfa", 1), "b": _run("cnn", "bp", 0),
            "d": _run("cnn", "dfa", 0), "e": _run("cnn", "gone", 0), "f": _run("Net", "mine", 0)}
    groups = Analysis({"runs": runs}, {}).groups()
    assert [(g.rule, g.runs, g.seeds, g.label) for g in groups] == [
        ("mine", ["f"], [0], "mine"), ("bp", ["b"], [0], "cnn BP"), ("dfa", ["d", "a"], [0, 1], "cnn DFA"),
        ("adfa", ["c"], [1], "cnn aDFA"), ("gone", ["e"], [0], "gone")]  # rules outside the registry: their name
    assert [g.color for g in groups] == [OTHER_RULE_COLORS[1], RULES["bp"].color, RULES["dfa"].color,
                                         RULES["adfa"].color, OTHER_RULE_COLORS[0]]  # one colour per other rule
    assert rule_color("dkp") == "#009E73"
