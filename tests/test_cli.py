"""The `bioplaus` command: bad input is one line on stderr and exit status 2, with nothing lost."""

import subprocess
import sys

import pytest
import torch

from bioplaus_analysis.cli import main

from conftest import write_idx


def _run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _fails(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    captured = capsys.readouterr()
    return exit_info.value.code, captured.err


def test_train_writes_a_run(tmp_path, capsys):
    code, out, _ = _run(capsys, "train", "--dataset", "digits", "--rule", "dfa", "--epochs", "1",
                        "--out", str(tmp_path / "r"))
    assert code == 0
    assert "epoch 1/1" in out and f"run written to {tmp_path / 'r'}" in out
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["config.json", "metrics.csv", "model.pt"]


@pytest.mark.parametrize("argv, message", [
    (["--rule", "hebb"], "unknown rule 'hebb'; choose one of: adfa, bp, dfa, dkp, fa"),
    (["--dataset", "imagenet"], "unknown dataset 'imagenet'; choose one of: cifar10, digits, fashion-mnist"),
    (["--model", "vgg"], "unknown model 'vgg'; choose one of: cnn, csnn, mlp, snn"),
    (["--optimizer", "lbfgs"], "unknown optimizer 'lbfgs'; choose one of: adam, adamw, nesterov, sgd"),
    (["--epochs", "0"], "--epochs must be a positive integer, got 0"),
    (["--batch-size", "-4"], "--batch-size must be a positive integer, got -4"),
    (["--lr", "-0.1"], "--lr must be a positive number, got -0.1"),
    (["--limit-train", "0"], "--limit-train must be a positive integer, got 0"),
    (["--rule", "dkp", "--momentum", "0"], "the nesterov optimizer needs --momentum above 0"),
    (["--hidden", "10"], "model 'cnn' takes options ['channels', 'fc_width'], not ['hidden']"),
    (["--dataset", "mnist", "--data-dir", "EMPTY"], "train-images-idx3-ubyte[.gz] not found in"),
])
def test_bad_options_are_one_line_and_exit_2(tmp_path, capsys, argv, message):
    argv = [str(tmp_path) if a == "EMPTY" else a for a in argv]
    code, out, err = _run(capsys, "train", "--dataset", "digits", "--out", str(tmp_path / "r"), *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("bioplaus train: error: ") and message in err, err
    assert "Traceback" not in err


def test_corrupt_data_file(tmp_path, capsys):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", torch.zeros(2, 28, 28, dtype=torch.uint8).numpy())
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip, not idx")
    code, _, err = _run(capsys, "train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--out",
                        str(tmp_path / "r"))
    assert code == 2 and "is not an IDX file (bad magic number)" in err and err.count("\n") == 1


def test_existing_out_is_kept_intact(tmp_path, capsys):
    run = tmp_path / "r"
    assert _run(capsys, "train", "--dataset", "digits", "--epochs", "1", "--out", str(run))[0] == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    code, _, err = _run(capsys, "train", "--dataset", "digits", "--epochs", "1", "--rule", "fa", "--out", str(run))
    assert code == 2 and "pass --resume to continue it or --force to overwrite it" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_out_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("keep me")
    code, _, err = _run(capsys, "train", "--dataset", "digits", "--out", str(target))
    assert code == 2 and "is a file, not a folder" in err and target.read_text() == "keep me"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_cuda_without_gpu(tmp_path, capsys):
    code, _, err = _run(capsys, "train", "--dataset", "digits", "--device", "cuda", "--out", str(tmp_path / "r"))
    assert code == 2 and "no CUDA GPU is available; pass --device cpu" in err


def test_usage_errors_are_one_line(capsys):
    code, err = _fails(capsys, "train", "--epochs", "three", "--out", "x")
    assert code == 2 and err.count("\n") == 1 and "invalid int value: 'three'" in err
    code, err = _fails(capsys, "train")
    assert code == 2 and "the following arguments are required: --out" in err


def test_python_dash_m_runs_the_same_command(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bioplaus_analysis", "train", "--dataset", "digits",
                           "--rule", "bogus", "--out", str(tmp_path / "r")], capture_output=True, text=True)
    assert done.returncode == 2 and "unknown rule 'bogus'" in done.stderr and "Traceback" not in done.stderr


def test_summary_prints_final_accuracy(tmp_path, capsys):
    run = tmp_path / "cnn-dfa-s0"
    assert _run(capsys, "train", "--dataset", "digits", "--rule", "dfa", "--epochs", "2", "--out", str(run))[0] == 0
    code, out, _ = _run(capsys, "summary", str(run))
    last = (run / "metrics.csv").read_text().splitlines()[-1].split(",")
    assert code == 0 and "cnn-dfa-s0" in out and f"{float(last[4]):.2%}" in out and "2/2" in out
    code, _, err = _run(capsys, "summary", str(tmp_path))
    assert code == 2 and "config.json is missing" in err
