"""`TrainConfig`: validation with one clear message per bad option, the rule's defaults filled in, and
config.json's provenance keys ignored when a run is rebuilt from it."""

import pytest

from trainers import ConfigError, TrainConfig


@pytest.mark.parametrize("overrides, message", [
    ({"epochs": 0}, "--epochs must be a positive integer, got 0"),
    ({"batch_size": 2.5}, "--batch-size must be a positive integer, got 2.5"),
    ({"lr": -1.0}, "--lr must be a positive finite number, got -1.0"),
    ({"momentum": -0.1}, "--momentum must be zero or a positive finite number, got -0.1"),
    ({"lr": "0.01"}, "--lr must be a positive finite number, got '0.01'"),
    ({"lr": float("inf")}, "--lr must be a positive finite number, got inf"),
    ({"lr": 1e39}, r"--lr must be below 3.4e38 \(float32's largest\), got 1e\+39"),
    ({"weight_decay": float("nan")}, "--weight-decay must be zero or a positive finite number, got nan"),
    ({"limit_train": 50.5}, "--limit-train must be a positive integer, got 50.5"),
    ({"model_options": "bogus"}, r"model_options must be a dict of the model's options, e.g. \{'hidden': '64'\}, "
                                 r"got 'bogus'"),
    ({"optimizer": "lion"}, "unknown optimizer 'lion'; choose one of: adam, adamw, nesterov, sgd"),
    ({"schedule": "cosine"}, "unknown schedule 'cosine'; choose one of: constant, onecycle"),
    ({"device": "tpu"}, "unknown device 'tpu'; choose one of: auto, cpu, cuda"),
    ({"deterministic": 1}, "deterministic must be True or False, got 1"),
    ({"rule": "fa", "model": "snn"}, "rule 'fa' does not train model 'snn'"),
    ({"optimizer": "nesterov", "momentum": 0.0}, "the nesterov optimizer needs --momentum above 0"),
])
def test_each_bad_option_is_one_clear_error(overrides, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**overrides).resolved()


def test_the_rules_defaults_fill_what_the_user_left_open():
    assert (TrainConfig(rule="dkp").resolved().optimizer, TrainConfig(rule="dkp").resolved().lr) == ("nesterov", 1e-3)
    assert TrainConfig(rule="dfa", lr=5e-4).resolved().lr == 5e-4  # the user's value wins
    snn = TrainConfig(model="snn", rule="adfa").resolved()
    assert (snn.optimizer, snn.lr) == ("adam", 1e-2)
    assert snn.model_options["time_steps"] == 25 and snn.model_options["g"] == "lif_rate"  # recorded in full


def test_from_dict_ignores_the_provenance_written_beside_the_options():
    config = TrainConfig(rule="dfa", epochs=4).resolved()
    stored = dict(config.to_dict(), device_name="cpu", bioplaus_version="0.1.0", mean=[0.5], parameters=10)
    assert TrainConfig.from_dict(stored) == config
