"""Numerical settings: measurements in full float32 (TF32 off inside, restored after), training with
PyTorch's deterministic algorithms (recorded in config.json), and a seed that fixes a run on each device."""

import json
import os
import subprocess
import sys

import pytest
import torch

from bioplaus_analysis import bp_cosines, gradient_snr, input_gradient
from bioplaus_analysis.commands.cli import main
from bioplaus_analysis.features import record_features
from trainers import ConfigError, RunDirError, TrainConfig, build_model, load_run, train
import trainers.precision as precision
from trainers.precision import (deterministic_algorithms, determinism_state, float32_precision, fp32_precisions,
                                full_precision)
from trainers.store.runfiles import load_checkpoint, read_metrics

from conftest import requires_cuda

FULL = {"cuda.matmul": "ieee", "cudnn.conv": "ieee", "cudnn.rnn": "ieee",
        "mkldnn.matmul": "ieee", "mkldnn.conv": "ieee", "mkldnn.rnn": "ieee"}
needs_new_api = pytest.mark.skipif(not hasattr(torch.backends, "fp32_precision"),
                                   reason="torch < 2.9 has the legacy TF32 switches only")


@needs_new_api
def test_full_precision_turns_tf32_off_inside_and_restores_the_settings_after():
    before = fp32_precisions()
    with float32_precision(tf32=True):
        tf32 = fp32_precisions()
        assert tf32 == dict(FULL, **{"cuda.matmul": "tf32", "cudnn.conv": "tf32", "cudnn.rnn": "tf32"})
        with full_precision():
            assert fp32_precisions() == FULL
        assert fp32_precisions() == tf32
    assert fp32_precisions() == before


def test_full_precision_restores_the_settings_after_an_error():
    before = fp32_precisions()
    with pytest.raises(ValueError), full_precision():
        raise ValueError
    assert fp32_precisions() == before


def _legacy_switches():
    """Every legacy TF32 getter of torch, read (torch >= 2.9 raises on one that contradicts the new settings)."""
    return {"cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
            "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "mkldnn.allow_tf32": torch.backends.mkldnn.allow_tf32}


def test_the_legacy_tf32_switches_agree_with_the_settings_inside_and_after():
    before = _legacy_switches()
    for tf32 in (True, False):
        with float32_precision(tf32=tf32):
            inside = _legacy_switches()
            assert (inside["cudnn.allow_tf32"], inside["cuda.matmul.allow_tf32"]) == (tf32, tf32)
            assert inside["float32_matmul_precision"] == ("high" if tf32 else "highest")
            with full_precision():
                assert _legacy_switches()["cuda.matmul.allow_tf32"] is False
            assert _legacy_switches() == inside
        assert _legacy_switches() == before


def _recording_precision(model):
    """A forward hook on the first weight layer that records the float32 settings of every call."""
    seen = []
    first = next(m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
    first.register_forward_hook(lambda *_: seen.append(fp32_precisions()))
    return seen


@needs_new_api
@pytest.mark.parametrize("measure", ["snr", "cosine", "input_gradient", "features"])
def test_every_measurement_runs_in_full_float32_even_when_the_caller_allows_tf32(measure):
    model = build_model("cnn", "dfa", (1, 8, 8), 10, seed=0, channels="3,4", fc_width=8)
    x, y = torch.rand(12, 1, 8, 8), torch.arange(12) % 10
    calls = {"snr": lambda: gradient_snr(model, x, y), "cosine": lambda: bp_cosines(model, x, y, batch_size=6),
             "input_gradient": lambda: input_gradient(model, x, y),
             "features": lambda: record_features(model, x, y)}
    seen = _recording_precision(model)
    with float32_precision(tf32=True):
        outside = fp32_precisions()
        calls[measure]()
        assert fp32_precisions() == outside  # restored
    assert seen and all(settings == FULL for settings in seen)


def test_deterministic_algorithms_set_torch_and_cublas_and_restore_them(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = determinism_state()
    with deterministic_algorithms():
        assert determinism_state() == {"deterministic_algorithms": True, "warn_only": False,
                                       "fill_uninitialized_memory": False,
                                       "cudnn_deterministic": True, "cudnn_benchmark": False}
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert determinism_state() == before
    with deterministic_algorithms(False):
        assert determinism_state() == before  # opting out leaves the caller's settings alone


def test_a_nondeterministic_cublas_workspace_is_refused(monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":0:0")
    with pytest.raises(ConfigError, match="CUBLAS_WORKSPACE_CONFIG=:0:0 makes cuBLAS nondeterministic; unset it"):
        with deterministic_algorithms():
            pass
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    with deterministic_algorithms():
        assert torch.are_deterministic_algorithms_enabled()


def test_importing_trainers_sets_a_deterministic_cublas_workspace_before_any_cuda_work():
    env = {k: v for k, v in os.environ.items() if k != "CUBLAS_WORKSPACE_CONFIG"}
    code = ("import os, torch, trainers; from trainers.precision import CUBLAS_DETERMINISTIC_FROM_START as early; "
            "print(os.environ['CUBLAS_WORKSPACE_CONFIG'], torch.cuda.is_initialized(), early)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == [":4096:8", "False", "True"]


def test_a_users_cublas_workspace_is_kept(monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    assert precision.fix_cublas_workspace() and os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":0:0")  # kept too; a deterministic run refuses it
    assert not precision.fix_cublas_workspace() and os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":0:0"


def test_determinism_is_refused_once_cuda_started_before_the_cublas_workspace_was_set(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    assert not precision.fix_cublas_workspace()  # set now, but CUDA ran before: too late
    monkeypatch.setattr(precision, "CUBLAS_DETERMINISTIC_FROM_START", False)
    with pytest.raises(ConfigError, match="^CUDA was initialised before CUBLAS_WORKSPACE_CONFIG was deterministic, "
                                          "so cuBLAS cannot be deterministic in this process; import trainers"):
        with deterministic_algorithms():
            pass
    assert not torch.are_deterministic_algorithms_enabled()
    with deterministic_algorithms(False):  # --nondeterministic runs on
        pass
    monkeypatch.setattr(precision, "CUBLAS_DETERMINISTIC_FROM_START", True)  # set before CUDA started: fine
    with deterministic_algorithms():
        assert torch.are_deterministic_algorithms_enabled()


def _digits(device, **overrides):
    options = dict(model="cnn", rule="dfa", dataset="digits", epochs=2, batch_size=64, device=device.type)
    return TrainConfig(**dict(options, **overrides))


def test_training_runs_with_deterministic_algorithms_and_records_its_numerics(tmp_path, monkeypatch):
    import trainers.loop.steps as steps
    seen, original = [], steps.train_step

    def step(*args):
        seen.append((determinism_state()["deterministic_algorithms"], fp32_precisions()))
        return original(*args)
    monkeypatch.setattr(steps, "train_step", step)
    before = (determinism_state(), fp32_precisions())
    run = train(_digits(torch.device("cpu"), epochs=1), tmp_path / "run", progress=False)
    assert seen and all(deterministic for deterministic, _ in seen)
    if hasattr(torch.backends, "fp32_precision"):
        assert all(settings == FULL for _, settings in seen)  # no TF32 unless asked
    assert (determinism_state(), fp32_precisions()) == before  # the caller's settings are back
    config = json.loads((run / "config.json").read_text())
    assert (config["deterministic"], config["tf32"], config["device_name"]) == (True, False, "cpu")
    assert "cuda_version" in config and "cudnn_version" in config


def test_opt_outs_are_recorded_and_a_resume_must_keep_them(tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["train", "--dataset", "digits", "--model", "mlp", "--hidden", "8", "--epochs", "1", "--quiet",
            "--device", "cpu", "--out", str(run)]
    assert main([*argv, "--nondeterministic", "--tf32"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["deterministic"] is False and config["tf32"] is True
    with pytest.raises(RunDirError, match="deterministic: False in the run, True now; tf32: True in the run, False now"):
        train(TrainConfig.from_dict(dict(config, epochs=2, deterministic=True, tf32=False)), run, resume=True,
              progress=False)
    with pytest.raises(ConfigError, match="tf32 must be True or False, got 'yes'"):
        TrainConfig(tf32="yes").validate()


def _drop_seconds(run):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in read_metrics(run)]


@pytest.mark.parametrize("model, options", [("cnn", {}), ("snn", {"hidden": "32", "time_steps": 6,
                                                                  "encoding": "poisson"})])
def test_one_seed_twice_gives_identical_metrics_and_weights(tmp_path, device, model, options):
    config = _digits(device, model=model, model_options=options)
    a, b = (train(config, tmp_path / name, progress=False) for name in ("a", "b"))
    assert _drop_seconds(a) == _drop_seconds(b)
    x, y = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    assert all(torch.equal(x[k], y[k]) for k in x)


def test_a_checkpoint_holds_cpu_tensors_only_and_a_moved_run_predicts_the_same_on_every_device(tmp_path, device):
    run = train(_digits(device, rule="dkp", epochs=1), tmp_path / "trained", progress=False)
    state = torch.load(run / "model.pt", weights_only=True)  # no map_location: must load on a CPU-only machine

    def tensors(value):
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from tensors(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from tensors(item)
    assert all(t.device.type == "cpu" for t in tensors(state))
    moved = run.rename(tmp_path / "moved")
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    reference = load_run(moved, "cpu")[0](x)
    for target in ("cpu", *(["cuda"] if torch.cuda.is_available() else [])):
        model, _ = load_run(moved, target)
        torch.testing.assert_close(model(x.to(target)).cpu(), reference, rtol=1e-5, atol=1e-6)


@requires_cuda
@pytest.mark.parametrize("rule", ["bp", "fa", "dfa", "dkp"])
def test_snr_and_cosine_on_cuda_equal_the_cpu_values(digits_runs, rule):
    x = torch.rand(60, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    y = torch.arange(60) % 10
    cpu, _ = load_run(digits_runs[f"cnn-{rule}"], "cpu")
    gpu, _ = load_run(digits_runs[f"cnn-{rule}"], "cuda")
    snr_cpu, snr_gpu = gradient_snr(cpu, x, y), gradient_snr(gpu, x.cuda(), y.cuda())
    cos_cpu, cos_gpu = bp_cosines(cpu, x, y, batch_size=20), bp_cosines(gpu, x.cuda(), y.cuda(), batch_size=20)
    for layer in snr_cpu:
        assert snr_gpu[layer] == pytest.approx(snr_cpu[layer], rel=1e-4), layer
        assert cos_gpu[layer]["mean"] == pytest.approx(cos_cpu[layer]["mean"], rel=1e-4, abs=1e-6), layer
