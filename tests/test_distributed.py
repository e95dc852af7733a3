"""Two-process DistributedDataParallel on CPU (gloo) through torchrun: replicas stay identical and
learn like one process."""

import subprocess
import sys

import pytest

from trainers import TrainConfig, train
from trainers.runfiles import load_checkpoint, read_config, read_metrics


def _torchrun(*argv):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "bioplaus_analysis", "train", "--dataset", "digits", "--quiet", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("rule, epochs", [("dfa", 6), ("dkp", 8)])
def test_two_process_gloo_training_keeps_replicas_identical_and_matches_one_process(tmp_path, rule, epochs):
    done = _torchrun("--rule", rule, "--epochs", str(epochs), "--out", str(tmp_path / "ddp"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("run written to") == 1  # rank 0 reports, and writes
    state = load_checkpoint(tmp_path / "ddp")
    digests = state["replica_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]  # both ranks hold identical weights and buffers
    if rule == "dkp":
        assert "feedback.fc1" in state["model"]  # DKP's B is trained (and all-reduced) too
    assert read_config(tmp_path / "ddp")["processes"] == 2
    single = train(TrainConfig(rule=rule, dataset="digits", epochs=epochs), tmp_path / "one", progress=False)
    ddp_acc, one_acc = read_metrics(tmp_path / "ddp")[-1]["test_acc"], read_metrics(single)[-1]["test_acc"]
    assert ddp_acc > 0.85 and abs(ddp_acc - one_acc) <= 0.01, (ddp_acc, one_acc)


def test_batch_size_must_split_evenly_over_processes(tmp_path):
    done = _torchrun("--batch-size", "33", "--epochs", "1", "--out", str(tmp_path / "r"))
    assert done.returncode != 0
    assert "--batch-size 33 must be a multiple of the 2 processes; pass e.g. --batch-size 32" in done.stderr
    assert "exitcode  : 2" in done.stderr  # each worker exits 2 with one line (torchrun then reports)
