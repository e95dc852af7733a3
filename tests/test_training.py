"""Training end to end on `digits`: learning, run files, reload, resume, divergence."""

import json

import numpy as np
import pytest
import torch

import trainers.loop.training as training
from trainers import DivergenceError, RunDirError, TrainConfig, evaluate, load_dataset, load_run, train
from trainers.rules import RULES
from trainers.store.probes import read_dynamics
from trainers.store.runfiles import load_checkpoint, read_metrics

from conftest import write_cifar_like


def _config(**overrides):
    return TrainConfig(**dict(dict(dataset="digits", epochs=2, batch_size=64), **overrides))


@pytest.mark.parametrize("rule", ["bp", "fa", "dfa", "dkp"])
def test_every_rule_learns_digits_with_its_defaults(tmp_path, rule):
    run = train(_config(rule=rule, epochs=6, batch_size=32), tmp_path / rule, progress=False)
    rows = read_metrics(run)
    assert [r["epoch"] for r in rows] == list(range(1, 7))
    assert rows[-1]["test_acc"] > 0.8, rows[-1]  # chance is 0.1
    assert rows[-1]["cos_bp/out"] == pytest.approx(1.0, abs=1e-5)  # every rule trains the output layer by BP
    if rule != "bp":
        assert rows[-1]["cos_bp/conv1"] < 0.99


def test_run_files_and_reload_give_identical_predictions(tmp_path, device):
    run = train(_config(rule="dkp", device=device.type), tmp_path / "run", progress=False)
    config = json.loads((run / "config.json").read_text())
    assert config["rule"] == "dkp" and config["optimizer"] == "nesterov" and config["lr"] == 1e-3
    assert config["input_shape"] == [1, 8, 8] and config["device_used"] == device.type
    assert config["deterministic"] is True and config["tf32"] is False
    assert config["cuda_version"] == torch.version.cuda
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    assert config["device_name"] == name
    header = (run / "metrics.csv").read_text().splitlines()[0]
    assert header == ("epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,seconds,"
                      "cos_bp/conv1,cos_bp/conv2,cos_bp/fc1,cos_bp/out,align/conv1,align/conv2,align/fc1")
    model, loaded = load_run(run, device)
    assert loaded == config and not model.training
    x, y = (t.to(device) for t in load_dataset("digits", "test"))
    loss, acc = evaluate(model, x, y)
    last = read_metrics(run)[-1]
    assert (loss, acc) == (last["test_loss"], last["test_acc"])  # bit-identical reload
    assert "feedback.conv1" in dict(model.named_parameters())
    assert not list(run.glob(".*.tmp"))


def test_resume_reproduces_the_uninterrupted_run(tmp_path, monkeypatch, device):
    config = _config(rule="dfa", epochs=3, device=device.type)
    full = train(config, tmp_path / "full", progress=False)

    calls = {"n": 0}
    original = training.block_cosines

    def interrupt_in_epoch_3(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(training, "block_cosines", interrupt_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "cut", progress=False)
    assert [r["epoch"] for r in read_metrics(tmp_path / "cut")] == [1, 2]
    monkeypatch.undo()

    train(config, tmp_path / "cut", resume=True, progress=False)
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(read_metrics(tmp_path / "cut")) == drop(read_metrics(full))
    a, b = load_checkpoint(full)["model"], load_checkpoint(tmp_path / "cut")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    a, b = read_dynamics(full), read_dynamics(tmp_path / "cut")
    assert list(a["epochs"]) == [0, 1, 2, 3] and a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_resume_refuses_different_options(tmp_path):
    train(_config(epochs=1), tmp_path / "run", progress=False)
    expected = r"cannot resume .* with different options \(lr: 0.001 in the run, 0.01 now\)"
    with pytest.raises(RunDirError, match=expected):
        train(_config(epochs=1, lr=0.01), tmp_path / "run", resume=True, progress=False)


def test_existing_run_is_not_overwritten_without_force(tmp_path):
    run = train(_config(epochs=1), tmp_path / "run", progress=False)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    with pytest.raises(RunDirError, match="already holds a run .*pass --resume to continue it or --force"):
        train(_config(epochs=1, rule="fa"), run, progress=False)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    train(_config(epochs=1, rule="fa"), run, force=True, progress=False)
    assert json.loads((run / "config.json").read_text())["rule"] == "fa"


def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    rule = RULES["bp"]
    calls = {"n": 0}
    original = rule.objective

    def nan_in_epoch_2(model, images, labels):
        calls["n"] += 1
        objective = original(model, images, labels)
        if calls["n"] > 23:  # digits: 23 batches of 64 per epoch
            return objective._replace(surrogate=objective.surrogate * float("nan"),
                                      loss=objective.loss * float("nan"))
        return objective

    monkeypatch.setattr(rule, "objective", nan_in_epoch_2)
    with pytest.raises(DivergenceError, match=r"loss became nan in epoch 2 .*checkpoint of epoch 1 is kept"):
        train(_config(epochs=3), tmp_path / "run", progress=False)
    assert load_checkpoint(tmp_path / "run")["epoch"] == 1
    assert [r["epoch"] for r in read_metrics(tmp_path / "run")] == [1]


def test_load_run_errors(tmp_path):
    with pytest.raises(RunDirError, match="config.json is missing"):
        load_run(tmp_path)
    run = train(_config(epochs=1), tmp_path / "run", progress=False)
    data = (run / "model.pt").read_bytes()
    (run / "model.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(RunDirError, match="truncated or not a checkpoint"):
        load_run(run)
    other = train(_config(epochs=1, model="mlp"), tmp_path / "mlp", progress=False)
    (run / "model.pt").write_bytes((other / "model.pt").read_bytes())
    with pytest.raises(RunDirError, match="does not match its config.json .*another model or rule"):
        load_run(run)
    torch.save({"weights": torch.zeros(3)}, run / "model.pt")
    with pytest.raises(RunDirError, match="not written by bioplaus"):
        load_run(run)


def test_limit_train_and_mlp(tmp_path):
    run = train(_config(model="mlp", rule="dfa", limit_train=200, model_options={"hidden": "64"}),
                tmp_path / "run", progress=False)
    model, config = load_run(run)
    assert config["limit_train"] == 200 and list(model.blocks) == ["fc1", "out"]


def test_cifar10_files_train_the_cnn_sized_for_32x32(tmp_path):
    write_cifar_like(tmp_path / "cifar-10-batches-py", per_batch=8)
    run = train(_config(dataset="cifar10", data_dir=str(tmp_path), epochs=1, rule="fa"), tmp_path / "run",
                progress=False)
    model, config = load_run(run)
    assert config["input_shape"] == [3, 32, 32] and len(config["mean"]) == 3
    assert model.blocks.fc1[1].in_features == 32 * 14 * 14


@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "adam", "adamw"])
def test_optimisers_are_fused_on_cuda_and_plain_on_the_cpu(device, optimizer):
    from trainers.loop.optim import make_optimizer
    weights = [torch.nn.Parameter(torch.zeros(3, device=device))]
    made = make_optimizer(optimizer, weights, lr=0.1)
    assert bool(made.defaults.get("fused")) == (device.type == "cuda")


def test_a_start_that_failed_before_its_first_checkpoint_is_replaced_without_force(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"rule": "fa", "seed": 99}\n')  # what a crashed start leaves
    train(_config(rule="dfa", epochs=1), run, progress=False)
    assert json.loads((run / "config.json").read_text())["rule"] == "dfa" and len(read_metrics(run)) == 1
    with pytest.raises(RunDirError, match="already holds a run"):  # a run with a checkpoint is never replaced
        train(_config(rule="dfa", epochs=1), run, progress=False)


def test_bad_widths_are_refused_before_any_folder_is_made(tmp_path):
    from trainers import ConfigError
    with pytest.raises(ConfigError, match="--channels must be comma-separated positive integers"):
        train(_config(model_options={"channels": "8,x"}), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_limit_train_and_batch_size_beyond_the_data_warn_and_record_what_was_used(tmp_path):
    from trainers import BioplausWarning
    with pytest.warns(BioplausWarning) as caught:
        run = train(_config(limit_train=100_000, batch_size=100_000, epochs=1), tmp_path / "run", progress=False)
    messages = [str(w.message) for w in caught]
    # digits: 1437 training images, of which 142 (10 % of each class, rounded) are the validation slice
    assert any("--limit-train 100000 is more than the 1295 training images of digits" in m for m in messages)
    assert any("--batch-size 100000 is more than the 1295 training images" in m for m in messages)
    config = json.loads((run / "config.json").read_text())
    assert (config["train_images"], config["batch_images"], config["limit_train"]) == (1295, 1295, 100_000)
    assert (config["validation"], config["validation_images"], config["validation_seed"]) == (0.1, 142, 0)


def test_resume_with_more_epochs_extends_a_constant_rate_run_and_refuses_a_one_cycle_one(tmp_path):
    short = train(_config(rule="dfa", epochs=2, schedule="constant"), tmp_path / "short", progress=False)
    train(_config(rule="dfa", epochs=3, schedule="constant"), short, resume=True, progress=False)
    full = train(_config(rule="dfa", epochs=3, schedule="constant"), tmp_path / "full", progress=False)
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(read_metrics(short)) == drop(read_metrics(full))  # as if it had asked for 3 from the start
    assert json.loads((short / "config.json").read_text())["epochs"] == 3
    cycled = train(_config(rule="dfa", epochs=1), tmp_path / "cycled", progress=False)
    with pytest.raises(RunDirError, match="cannot extend .* from 1 to 2 epochs: its one-cycle learning-rate schedule"):
        train(_config(rule="dfa", epochs=2), cycled, resume=True, progress=False)
