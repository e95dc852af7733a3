"""A signal mid-epoch finishes the step, writes a checkpoint and exits; --resume reproduces the
uninterrupted run bit for bit (metrics.csv without wall-clock seconds, and every weight)."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import torch

from trainers import TrainConfig, train
from trainers.store.probes import read_dynamics
from trainers.store.runfiles import load_checkpoint, read_metrics

from bioplaus_analysis.commands.cli import main

from conftest import SELF_KILL

SNN = ["--model", "snn", "--rule", "dfa", "--hidden", "32", "--time-steps", "6", "--encoding", "poisson"]
CNN = ["--model", "cnn", "--rule", "dkp", "--batch-size", "8"]


def _config(argv, epochs, device="auto"):
    options = dict(zip(argv[::2], argv[1::2]))
    model_options = {k: options[f"--{k.replace('_', '-')}"] for k in ("hidden", "time_steps", "encoding")
                     if f"--{k.replace('_', '-')}" in options}
    if "time_steps" in model_options:
        model_options["time_steps"] = int(model_options["time_steps"])
    return TrainConfig(model=options["--model"], rule=options["--rule"], dataset="digits", epochs=epochs,
                       batch_size=int(options.get("--batch-size", 32)), model_options=model_options, device=device)


def _assert_same_run(a, b):
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(read_metrics(a)) == drop(read_metrics(b))
    x, y = load_checkpoint(a), load_checkpoint(b)
    assert x["partial"] is None and y["partial"] is None
    assert all(torch.equal(x["model"][k], y["model"][k]) for k in x["model"])
    moments = lambda state: [v for s in state["optimizer"]["state"].values() for v in s.values()]  # noqa: E731
    assert all(torch.equal(torch.as_tensor(u), torch.as_tensor(v)) for u, v in zip(moments(x), moments(y)))
    x, y = read_dynamics(a), read_dynamics(b)
    assert x.keys() == y.keys() and list(x["epochs"]) == list(range(len(read_metrics(a)) + 1))
    assert all(np.array_equal(x[k], y[k]) for k in x)


def _cli(*argv):
    return [sys.executable, "-m", "bioplaus_analysis", "train", "--dataset", "digits", "--quiet", *argv]


def test_sigterm_inside_a_step_checkpoints_mid_epoch_and_resume_is_exact(tmp_path):
    argv = [*SNN, "--batch-size", "64", "--epochs", "3"]
    run = tmp_path / "cut"
    done = subprocess.run([sys.executable, "-c", SELF_KILL, "train", "--dataset", "digits", "--quiet", *argv,
                           "--out", str(run)], capture_output=True, text=True)
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    assert "stopped by SIGTERM in epoch 2 after step 9" in done.stderr and "Traceback" not in done.stderr
    state = load_checkpoint(run)
    assert state["epoch"] == 1 and state["partial"]["step"] == 9
    assert [r["epoch"] for r in read_metrics(run)] == [1]
    assert main(["train", "--dataset", "digits", "--quiet", *argv, "--out", str(run), "--resume"]) == 0
    full = train(_config(argv, 3), tmp_path / "full", progress=False)
    _assert_same_run(run, full)


def test_sigint_from_outside_at_any_moment_then_resume_is_exact(tmp_path, device):
    argv = [*CNN, "--epochs", "3", "--device", device.type]  # 2 epochs left when the signal is sent
    run = tmp_path / "cut"
    process = subprocess.Popen(_cli(*argv, "--out", str(run)), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run / "metrics.csv").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGINT, err
    assert "stopped by SIGINT" in err and "continue with --resume" in err and err.count("\n") == 1
    epochs_done = len(read_metrics(run))
    assert 1 <= epochs_done < 3
    assert main(["train", "--dataset", "digits", "--quiet", *argv, "--out", str(run), "--resume"]) == 0
    full = train(_config(argv, 3, device.type), tmp_path / "full", progress=False)
    _assert_same_run(run, full)
    assert not list(run.glob(".*.tmp"))


def test_signal_handlers_are_restored_after_training(tmp_path):
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    train(TrainConfig(dataset="digits", epochs=1, model="mlp", model_options={"hidden": "8"}), tmp_path / "r",
          progress=False)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    assert os.getpid()  # the test process was not stopped
