"""The run folder's files: atomic writes, metrics written and read back, checkpoints on the CPU, the
names compare and reproduce share, and the finished-run check (an epoch counts once its checkpoint is written)."""

import json
import os

import pytest
import torch

from trainers import RunDirError
from trainers.store.runfiles import (atomic_write, check_finished, epochs_done, finished_run, on_cpu, read_metrics, run_name,
                               save_checkpoint, training_cosines, training_history, write_config, write_metrics)


def test_an_interrupted_atomic_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    atomic_write(path, "old\n")

    def fail(*_):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, "new\n")
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_metrics_are_written_and_read_back_exactly(tmp_path):
    rows = [{"epoch": 1, "train_loss": 0.1 + 0.2, "test_acc": 0.5, "cos_bp/fc1": 0.25},
            {"epoch": 2, "train_loss": 1 / 3, "test_acc": 0.75, "cos_bp/fc1": -0.5}]
    write_metrics(tmp_path, rows)
    assert read_metrics(tmp_path) == rows  # floats by repr: bit-exact
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0] == "epoch,train_loss,test_acc,cos_bp/fc1"
    assert training_cosines(tmp_path) == {"epoch": [1, 2], "fc1": [0.25, -0.5]}
    assert read_metrics(tmp_path / "absent") == []


def test_training_history_reads_the_five_columns(tmp_path):
    write_metrics(tmp_path, [{"epoch": 1, "train_loss": 2.0, "train_acc": 0.2, "test_loss": 1.5, "test_acc": 0.3,
                              "seconds": 4.0}])
    assert training_history(tmp_path) == {"epoch": [1], "train_loss": [2.0], "train_acc": [0.2],
                                          "test_loss": [1.5], "test_acc": [0.3]}


def test_on_cpu_moves_every_tensor_in_nested_state():
    state = {"a": torch.ones(2, requires_grad=True), "b": [torch.zeros(1), (torch.ones(1), 3)], "c": None}
    moved = on_cpu(state)
    assert moved["a"].device.type == "cpu" and not moved["a"].requires_grad
    assert isinstance(moved["b"][1], tuple) and moved["b"][1][1] == 3 and moved["c"] is None


def test_a_finished_run_is_recognised_and_one_of_other_options_refused(tmp_path):
    run = tmp_path / run_name("digits", "cnn", "dfa", 2)
    assert run.name == "digits-cnn-dfa-s2"
    expected = {"model": "cnn", "rule": "dfa", "dataset": "digits", "seed": 2, "epochs": 2}
    assert not finished_run(run, expected)  # nothing there yet
    run.mkdir()
    write_config(run, dict(expected, lr=1e-3))
    write_metrics(run, [{"epoch": 1, "test_acc": 0.5}])
    save_checkpoint(run, {"epoch": 1, "partial": None})
    assert not finished_run(run, expected) and epochs_done(run) == 1  # one of two epochs
    write_metrics(run, [{"epoch": 1, "test_acc": 0.5}, {"epoch": 2, "test_acc": 0.6}])
    assert not finished_run(run, expected) and epochs_done(run) == 1  # epoch 2's row, but not its checkpoint
    with pytest.raises(RunDirError, match=r"is unfinished \(1 of 2 epochs\); continue it with .*--resume"):
        check_finished(run)
    save_checkpoint(run, {"epoch": 2, "partial": None})
    assert finished_run(run, expected) and check_finished(run) == 2
    with pytest.raises(RunDirError, match=r"holds a run of other options \(seed 2 there, 3 now; lr 0.001 there, "
                                          r"0.01 now; a run without validation predates"):
        finished_run(run, dict(expected, seed=3, lr=1e-2))
    assert json.loads((run / "config.json").read_text())["lr"] == 1e-3
