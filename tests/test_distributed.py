"""DistributedDataParallel through torchrun: two processes on CPU (gloo) keep identical replicas and learn
like one process; NCCL with one GPU per process where two GPUs exist; more processes than GPUs is a
one-line error."""

import subprocess
import sys

import pytest
import torch

from trainers import ConfigError, TrainConfig, train
from trainers.loop.distributed import check_gpu_count, replicas_from_environment
from trainers.store.runfiles import load_checkpoint, read_config, read_metrics

from bioplaus_analysis.commands.cli import main


def _torchrun(*argv, device="cpu"):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "bioplaus_analysis", "train", "--dataset", "digits", "--quiet", "--device", device, *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def _check_replicas_learn_like_one_process(tmp_path, rule, epochs, device):
    done = _torchrun("--rule", rule, "--epochs", str(epochs), "--out", str(tmp_path / "ddp"), device=device)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("run written to") == 1  # rank 0 reports, and writes
    state = load_checkpoint(tmp_path / "ddp")
    digests = state["replica_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]  # both ranks hold identical weights and buffers
    if rule == "dkp":
        assert "feedback.fc1" in state["model"]  # DKP's B is trained (and all-reduced) too
    assert read_config(tmp_path / "ddp")["processes"] == 2
    single = train(TrainConfig(rule=rule, dataset="digits", epochs=epochs, device=device), tmp_path / "one",
                   progress=False)
    ddp_acc, one_acc = read_metrics(tmp_path / "ddp")[-1]["test_acc"], read_metrics(single)[-1]["test_acc"]
    assert ddp_acc > 0.85 and abs(ddp_acc - one_acc) <= 0.01, (ddp_acc, one_acc)


@pytest.mark.parametrize("rule, epochs", [("dfa", 6), ("dkp", 8)])
def test_two_process_gloo_training_keeps_replicas_identical_and_matches_one_process(tmp_path, rule, epochs):
    _check_replicas_learn_like_one_process(tmp_path, rule, epochs, "cpu")


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_two_process_nccl_training_on_two_gpus(tmp_path):
    _check_replicas_learn_like_one_process(tmp_path, "dkp", 8, "cuda")


def test_batch_size_must_split_evenly_over_processes(monkeypatch, tmp_path, capsys):
    _pretend(monkeypatch, gpus=0, local_rank=0)  # rank 0 of 2 (every rank meets the same check)
    code = main(["train", "--dataset", "digits", "--device", "cpu", "--batch-size", "33", "--epochs", "1",
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1  # one line, before any process group or data
    assert "--batch-size 33 must be a multiple of the 2 processes; pass e.g. --batch-size 32" in err
    assert not (tmp_path / "r").exists()


def _pretend(monkeypatch, gpus, world=2, local_rank=1):
    """Rank `local_rank` of `world` torchrun processes on a machine that shows `gpus` GPUs."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    for name, value in {"WORLD_SIZE": world, "LOCAL_WORLD_SIZE": world, "RANK": local_rank,
                        "LOCAL_RANK": local_rank}.items():
        monkeypatch.setenv(name, str(value))


def test_more_processes_than_gpus_is_one_error_naming_both_counts_and_the_ways_out(monkeypatch, tmp_path, capsys):
    _pretend(monkeypatch, gpus=1)
    with pytest.raises(ConfigError, match=r"^2 training processes on this machine but 1 visible GPU; start at most 1 "
                                          r"\(torchrun --nproc_per_node 1\), or pass --device cpu"):
        replicas_from_environment(torch.device("cuda"))
    # --device auto picks CUDA when a GPU is visible, so it meets the same check, before any CUDA call
    assert main(["train", "--dataset", "digits", "--epochs", "1", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1 visible GPU" in err and "--device cpu" in err
    assert not (tmp_path / "r").exists()  # nothing written
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    check_gpu_count(2)  # one GPU each: accepted
    with pytest.raises(ConfigError, match="3 training processes on this machine but 2 visible GPUs"):
        check_gpu_count(3)
