"""Networks from factories (`--model package.module:function`): trained, killed, resumed and analysed in fresh
processes, equal to the uninterrupted run; a factory that fails is one line, exit 2, nothing written."""

import json
import signal
import subprocess
import sys

import pytest
import torch

from trainers import BioplausWarning, load_run
from trainers.store.runfiles import load_checkpoint, read_config, read_metrics

from bioplaus_analysis.commands.cli import main

from conftest import SELF_KILL

TINYNETS = '''
from collections import OrderedDict
from torch import nn

def small(input_shape, num_classes, width=4):
    net = nn.Sequential(OrderedDict(
        conv=nn.Sequential(nn.Conv2d(input_shape[0], width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()),
        fc=nn.Sequential(nn.Flatten(), nn.Linear(width * input_shape[1] * input_shape[2], 16), nn.ReLU()),
        out=nn.Linear(16, num_classes)))
    return net, ["conv", "fc", "out"]

def broken(input_shape, num_classes):
    return nn.Linear(3, num_classes)

def misnamed(input_shape, num_classes):
    return small(input_shape, num_classes)[0], ["conv", "fc2", "out"]
'''
TRAIN = ["train", "--model", "tinynets:small", "--model-options", '{"width": 3}', "--rule", "fa", "--dataset",
         "digits", "--epochs", "2", "--batch-size", "64", "--quiet"]


def _bioplaus(tmp_path, *argv, script=None):
    command = [sys.executable, "-c", script, *argv] if script else [sys.executable, "-m", "bioplaus_analysis", *argv]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)


def test_a_factory_run_killed_resumed_and_analysed_in_new_processes_equals_the_uninterrupted_run(tmp_path, monkeypatch):
    (tmp_path / "tinynets.py").write_text(TINYNETS)
    cut = _bioplaus(tmp_path, *TRAIN, "--out", "cut", script=SELF_KILL)
    assert cut.returncode == 128 + signal.SIGTERM and "stopped by SIGTERM in epoch 2 after step 9" in cut.stderr
    resumed = _bioplaus(tmp_path, *TRAIN, "--out", "cut", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    monkeypatch.chdir(tmp_path)
    assert main([*TRAIN, "--out", "full"]) == 0  # the uninterrupted run, here
    a, b = load_checkpoint(tmp_path / "cut"), load_checkpoint(tmp_path / "full")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in b["model"]) and "feedback.fc" in a["model"]
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(read_metrics(tmp_path / "cut")) == drop(read_metrics(tmp_path / "full"))
    config = read_config(tmp_path / "cut")
    assert config["model"] == "tinynets:small" and config["model_options"] == {"width": 3}
    assert len(config["model_source"]["sha256"]) == 64
    analysed = _bioplaus(tmp_path, "analyze", "cut", "--out", "an", "--per-class", "2", "--eval-per-class", "2",
                         "--eps", "0,0.1", "--attack", "fgsm", "--modes", "true,feedback", "--embeddings", "pca")
    assert analysed.returncode == 0, analysed.stderr
    results = json.loads((tmp_path / "an/results.json").read_text())
    assert results["runs"]["cut"]["model"] == "tinynets:small" and results["layers"]["cut"] == ["conv", "fc", "out"]
    assert set(results["cosine"]["cut"]["analysis"]) == {"conv", "fc", "out"}
    (tmp_path / "tinynets.py").write_text(TINYNETS + "\n# edited\n")
    with pytest.warns(BioplausWarning, match="tinynets.py changed since run 'tinynets:small' was trained"):
        load_run(tmp_path / "cut")


def test_a_factory_that_fails_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    (tmp_path / "badnets.py").write_text(TINYNETS)
    monkeypatch.chdir(tmp_path)  # the current folder is where a factory is searched
    cases = {"nosuchmodule:small": "cannot import nosuchmodule (ModuleNotFoundError: No module named 'nosuchmodule')",
             "badnets:absent": "badnets has no function absent",
             "badnets:broken": "the factory must return (module, block names) or (module, block names, output); "
                               "it returned Linear",
             "badnets:misnamed": "Sequential has no submodule 'fc2'; its children are conv, fc, out",
             "badnets": "unknown model 'badnets'"}
    for model, message in cases.items():
        code = main(["train", "--model", model, "--dataset", "digits", "--out", "run"])
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.count("\n") == 1, (model, err)
        assert not (tmp_path / "run").exists()
    with pytest.raises(SystemExit):
        main(["train", "--model", "badnets:small", "--model-options", "[3]", "--out", "run"])
    assert "must be a JSON object of keyword arguments" in capsys.readouterr().err
