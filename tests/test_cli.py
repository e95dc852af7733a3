"""The `bioplaus` command: bad input is one line on stderr and exit status 2, with nothing lost."""

import subprocess
import sys

import pytest
import torch

from bioplaus_analysis.commands.cli import build_parser, main



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
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["config.json", "dynamics.npz", "metrics.csv",
                                                                   "model.pt"]


@pytest.mark.parametrize("argv, message", [
    (["--optimizer", "lbfgs"], "unknown optimizer 'lbfgs'; choose one of: adam, adamw, nesterov, sgd"),
    (["--lr", "-0.1"], "--lr must be a positive finite number, got -0.1"),
    (["--limit-train", "0"], "--limit-train must be a positive integer, got 0"),
    (["--rule", "dkp", "--momentum", "0"], "the nesterov optimizer needs --momentum above 0"),
    (["--hidden", "10"], "model 'cnn' takes options ['channels', 'fc_width', 'norm'], not ['hidden']"),
])
def test_bad_options_are_one_line_and_exit_2(tmp_path, capsys, argv, message):
    """More cases, with the Python exception classes and file checks: test_bad_input.py."""
    code, out, err = _run(capsys, "train", "--dataset", "digits", "--out", str(tmp_path / "r"), *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("bioplaus train: error: ") and message in err, err
    assert "Traceback" not in err


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
    header, *_, last = (line.split(",") for line in (run / "metrics.csv").read_text().splitlines())
    row = dict(zip(header, last))
    assert code == 0 and "cnn-dfa-s0" in out and "2/2" in out
    assert f"{float(row['val_acc']):.2%}  {float(row['test_acc']):>7.2%}" in out
    code, out, err = _run(capsys, "summary", str(run), str(tmp_path), str(run))  # good, bad, good
    lines = out.splitlines()
    assert code == 2 and len(lines) == 4 and "cnn-dfa-s0" in lines[1] and "cnn-dfa-s0" in lines[3]
    assert "error:" in lines[2] and "config.json is missing" in lines[2]  # reported in place, and on it goes
    assert err == "bioplaus summary: 1 of 3 folders are not finished runs (see above)\n"


def test_command_defaults_are_the_dataclasses_defaults():
    from bioplaus_analysis.commands.cli import ANALYSIS_OPTIONS, COMPARE_OPTIONS, TRAIN_OPTIONS, build_parser
    from bioplaus_analysis.commands.cli_options import values_of
    from bioplaus_analysis.commands.compare import CompareOptions
    from bioplaus_analysis.options import AnalysisOptions
    from trainers import TrainConfig
    parser = build_parser()
    train_args = parser.parse_args(["train", "--out", "r"])
    assert TrainConfig(**values_of(train_args, TRAIN_OPTIONS)) == TrainConfig()
    assert AnalysisOptions(**values_of(parser.parse_args(["analyze", "r", "--out", "a"]), ANALYSIS_OPTIONS)) \
        == AnalysisOptions()
    assert CompareOptions(**values_of(parser.parse_args(["compare"]), COMPARE_OPTIONS)) == CompareOptions()
    flipped = parser.parse_args(["train", "--out", "r", "--nondeterministic", "--tf32", "--epochs", "7"])
    assert values_of(flipped, TRAIN_OPTIONS) == dict(values_of(train_args, TRAIN_OPTIONS), deterministic=False,
                                                     tf32=True, epochs=7)


def test_a_stopped_tune_says_to_rerun_it_not_to_resume(monkeypatch, tmp_path, capsys):
    import signal
    from bioplaus_analysis.commands import cli
    from trainers import Interrupted

    def stopped_trial(*args, **kwargs):  # what a trial's train() raises on SIGINT
        raise Interrupted("stopped by SIGINT after epoch 1; the checkpoint in r is saved, continue with --resume",
                          signal.SIGINT)
    monkeypatch.setattr(cli, "tune", stopped_trial)
    assert main(["tune", "--model", "mlp", "--rule", "bp", "--dataset", "digits", "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert err == "bioplaus tune: stopped by SIGINT; finished trials are kept; rerun the same command to continue\n"


@pytest.mark.parametrize("command, says", [("analyze", "nothing was written"), ("compare", "rerun the same command"),
                                           ("train", "continues with --resume; one without starts again")])
def test_ctrl_c_says_how_each_command_continues(monkeypatch, capsys, command, says):
    from bioplaus_analysis.commands import cli

    def interrupted(args):
        raise KeyboardInterrupt
    parser = cli.build_parser()
    argv = {"analyze": ["analyze", "r", "--out", "a"], "compare": ["compare"], "train": ["train", "--out", "r"]}[command]
    args = parser.parse_args(argv)
    monkeypatch.setattr(cli, "build_parser", lambda: type("P", (), {"parse_args": lambda self, a: args})())
    args.handler = interrupted
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and (command == "train" or "--resume" not in err)


def test_every_command_prints_its_help(capsys):
    commands = build_parser()._subparsers._group_actions[0].choices
    assert set(commands) == {"train", "tune", "summary", "analyze", "reproduce", "compare", "figures"}
    for command in commands:
        with pytest.raises(SystemExit) as exit_:
            main([command, "--help"])
        assert exit_.value.code == 0, command
        out = capsys.readouterr().out
        assert out.startswith(f"usage: bioplaus {command}") and "--help" in out, command


def test_the_eps_help_gives_the_grid_the_analysis_uses(capsys):
    from bioplaus_analysis.robustness import default_eps
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the help over lines
    assert f"default for MNIST-like data {', '.join(f'{e:g}' for e in default_eps('fashion-mnist'))}:" in text
    assert "0.03, 0.04, 0.05" in text


@pytest.mark.parametrize("argv, message", [
    (["train", "--lr", "-1"], "--lr must be a positive finite number, got -1.0"),
    (["tune", "--model", "cnn", "--rule", "bp", "--finalists", "-1"], "--finalists must be a positive integer"),
    (["compare", "--pgd-steps", "0"], "--pgd-steps and --bootstrap must be positive integers"),
    (["compare", "--jobs", "0"], "--jobs must be a positive integer, got 0"),
    (["reproduce", "--executor", "pbs"], "unknown executor 'pbs'; choose one of: local, slurm"),
    (["reproduce", "--seeds=-1"], "--seeds must be non-negative integers, got [-1]"),
])
def test_a_bad_option_is_reported_before_any_data_is_read(tmp_path, capsys, argv, message):
    empty = tmp_path / "no-data"  # reading any dataset from here fails: the option must be refused first
    empty.mkdir()
    dataset = [] if argv[0] == "reproduce" else ["--dataset", "mnist"]
    code = main([*argv, *dataset, "--data-dir", str(empty), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()  # nothing half-made


def test_a_full_disk_is_one_line_and_leaves_no_finished_looking_run(tmp_path, capsys, monkeypatch):
    import errno
    import trainers.loop.training
    from trainers.store.runfiles import epochs_done, read_metrics

    def full(run_dir, state):
        raise OSError(errno.ENOSPC, "No space left on device", str(run_dir / "model.pt"))
    monkeypatch.setattr(trainers.loop.training, "save_checkpoint", full)  # the epoch's metrics row is written first
    run = tmp_path / "run"
    code = main(["train", "--model", "mlp", "--hidden", "8", "--dataset", "digits", "--epochs", "1", "--quiet",
                 "--out", str(run)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "No space left on device" in err and "model.pt" in err, err
    assert len(read_metrics(run)) == 1 and epochs_done(run) == 0  # the row alone does not make a finished epoch
    assert main(["summary", str(run)]) == 2 and "has no finished epoch yet" in capsys.readouterr().out


def test_a_run_that_cannot_fit_on_the_disk_is_refused_up_front(tmp_path, capsys, monkeypatch):
    import shutil
    import trainers.store.files
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(trainers.store.files.shutil, "disk_usage", lambda path: usage._replace(free=10_000))
    run = tmp_path / "run"
    code = main(["train", "--model", "mlp", "--hidden", "64", "--dataset", "digits", "--epochs", "1", "--quiet",
                 "--out", str(run)])
    err = capsys.readouterr().err
    assert code == 2 and "has 0.0 MB free, but the run's checkpoint needs about 0.1 MB" in err, err
    assert not run.exists()
