"""Concurrent runs (`--jobs`) give the files of runs trained one after another; a cluster sweep through
submitit's local executor trains, tabulates, and resubmits a killed job, which resumes."""

import json
import os
import signal
import sys
import time

import pytest
import torch

from trainers import ConfigError, TrainConfig, train
from trainers.store.runfiles import load_checkpoint, read_metrics

from bioplaus_analysis.commands.accuracy_table import table
from bioplaus_analysis.commands.cli import main
from bioplaus_analysis.commands.compare import train_task
from bioplaus_analysis.commands.jobs import run_tasks, threads_per_job


def _config(rule, seed, epochs=1, **options):
    return TrainConfig(model="mlp", rule=rule, dataset="digits", epochs=epochs, seed=seed, device="cpu",
                       model_options={"hidden": "32"}, **options)


def _same_run(a, b):
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(read_metrics(a)) == drop(read_metrics(b))
    x, y = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    assert all(torch.equal(x[k], y[k]) for k in x)


def _failing(message):
    raise ConfigError(message)


def test_two_jobs_write_the_runs_of_one_job(tmp_path):
    tasks = {f"{rule}-s{seed}": (train_task, (_config(rule, seed), tmp_path / "two" / f"{rule}-s{seed}"))
             for rule in ("bp", "dfa") for seed in (0, 1)}
    assert sorted(run_tasks(tasks, jobs=2, progress=False)) == sorted(tasks)
    one = {name: (train_task, (config, tmp_path / "one" / name)) for name, (_, (config, _)) in tasks.items()}
    before = torch.get_num_threads()
    run_tasks(one, jobs=1, progress=False, threads=threads_per_job(2))  # --jobs 1 --threads (cores / 2)
    assert torch.get_num_threads() == before  # restored
    for name in tasks:
        _same_run(tmp_path / "one" / name, tmp_path / "two" / name)
        assert json.loads((tmp_path / "two" / name / "config.json").read_text())["threads"] == threads_per_job(2)
    assert threads_per_job(2) == min(max(1, (os.cpu_count() or 1) // 2), int(os.environ.get("OMP_NUM_THREADS") or 999))


def test_threads_per_job_honour_omp_num_threads(monkeypatch):
    cores = os.cpu_count() or 1
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads_per_job(1) == cores and threads_per_job(cores * 2) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads_per_job(1) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert threads_per_job(1) == cores


def test_an_error_in_one_job_is_raised_once_the_others_stop(tmp_path):
    tasks = {"good": (train_task, (_config("bp", 0), tmp_path / "good")), "bad": (_failing, ("bad options",))}
    with pytest.raises(ConfigError, match="bad options"):
        run_tasks(tasks, jobs=2, progress=False)
    with pytest.raises(ConfigError, match="--jobs must be a positive integer, got 0"):
        run_tasks(tasks, jobs=0)
    with pytest.raises(ConfigError, match="--threads must be a positive integer, got 0"):
        run_tasks(tasks, jobs=1, threads=0)


def test_a_local_sweep_of_two_seeds_trains_and_tabulates(tmp_path):
    pytest.importorskip("submitit")
    from bioplaus_analysis.commands.cluster import sweep
    out = tmp_path / "sweep"
    tasks = {f"digits-mlp-dfa-s{seed}": (train_task, (_config("dfa", seed, epochs=2), out / f"digits-mlp-dfa-s{seed}"))
             for seed in (0, 1)}  # a job per run, each its own process (a process start is most of a job's time)
    lines = []
    ids = sweep(tasks, out, executor="local", progress=False, log=lines.append)
    assert sorted(ids) == sorted(tasks) and (out / "sweep.json").is_file()
    assert lines == [f"sweep: 2 jobs submitted to local (logs in {out / 'submitit'})"]
    rows = table(out)
    assert [(r["rule"], r["n"], r["seeds"]) for r in rows] == [("dfa", 2, "0 1")]
    for name in list(tasks)[-1:]:  # a job trained its run as one process here would (the last-submitted one)
        _, (config, _) = tasks[name]
        train(config, tmp_path / "here" / name, progress=False)
        _same_run(tmp_path / "here" / name, out / name)


def _stops_after_first_epoch(job_class):
    """A job class that, once epoch 1's checkpoint is written (in its first try), writes RUN.waiting and waits
    for a stop signal: a SIGTERM sent then lands inside training, however fast the machine."""
    class StopsAfterFirstEpoch(job_class):
        def __call__(self):
            from trainers.loop.training import TrainingRun
            save = TrainingRun.save

            def save_then_wait(run, epoch, partial=None, replica_digests=None):
                save(run, epoch, partial, replica_digests)
                if epoch == 1 and partial is None and run.first_epoch == 1:
                    request = signal.getsignal(signal.SIGTERM).__self__  # training's StopRequest
                    run.run_dir.with_suffix(".waiting").touch()
                    while request.signum is None:
                        time.sleep(0.05)
            TrainingRun.save = save_then_wait
            return super().__call__()
    return StopsAfterFirstEpoch


def test_a_killed_job_is_resubmitted_and_resumes(tmp_path):
    pytest.importorskip("submitit")
    import cloudpickle
    from bioplaus_analysis.commands.cluster import RunJob, make_executor, submit, wait_for
    out = tmp_path / "sweep"
    config = TrainConfig(model="snn", rule="dfa", dataset="digits", epochs=3, seed=0, device="cpu", batch_size=16,
                         model_options={"hidden": "64", "time_steps": 8})
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the job class below travels with the job
    jobs = {"run": _stops_after_first_epoch(RunJob)(config, out / "run")}
    pool = make_executor(out, "local")
    submitted = submit(pool, jobs, out)
    deadline = time.monotonic() + 300
    while not (out / "run.waiting").is_file() and time.monotonic() < deadline:
        time.sleep(0.1)  # epoch 1's checkpoint is written and the job waits for the signal
    os.kill(submitted["run"]._process.pid, signal.SIGTERM)  # pre-empted: checkpoints and stops
    lines = []
    wait_for(pool, submitted, jobs, poll=0.5, progress=False, log=lines.append)
    assert len(lines) == 1 and "resubmitted as job" in lines[0] and "resumes from its checkpoint" in lines[0]
    assert len(read_metrics(out / "run")) == 3
    train(config, tmp_path / "whole", progress=False)
    _same_run(tmp_path / "whole", out / "run")


def test_reproduce_refuses_an_unknown_executor(tmp_path, capsys):
    pytest.importorskip("submitit")
    code = main(["reproduce", "--out", str(tmp_path / "r"), "--executor", "pbs", "--models", "cnn", "--seeds", "0"])
    assert code == 2 and "unknown executor 'pbs'; choose one of: local, slurm" in capsys.readouterr().err
