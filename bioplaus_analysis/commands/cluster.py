"""Sweeps through submitit (`pip install bioplaus[cluster]`): one job per run on SLURM, or on this machine
with the `local` executor (the same path; the tests use it).

Every job trains its run with `--resume`, so a job that is pre-empted (SLURM sends USR2 first: submitit
requeues it through `RunJob.checkpoint`), killed or timed out continues from its last checkpoint when it
runs again; `wait_for` resubmits a failed job whose run is not finished, up to `RETRIES` times.
OUT/submitit holds each job's logs; OUT/sweep.json the job ids.
"""

import json
import time
from pathlib import Path

from tqdm.auto import tqdm

from trainers import BioplausError, ConfigError, TrainConfig
from trainers.store.runfiles import atomic_write, finished_run

from .compare import train_task

EXECUTORS = ("local", "slurm")
RETRIES = 3


def _submitit():
    try:
        import submitit
    except ImportError:
        raise ConfigError("cluster sweeps need submitit: pip install 'bioplaus[cluster]'") from None
    return submitit


class RunJob:
    """One training run as a submitit job: trains (or continues) the run; requeued as itself on pre-emption."""

    def __init__(self, config: TrainConfig, run_dir: Path):
        self.config, self.run_dir = config, Path(run_dir)

    def __call__(self) -> str:
        return train_task(self.config, self.run_dir)

    def checkpoint(self, *args, **kwargs):
        """submitit calls this on pre-emption or timeout: run again; the run resumes from its checkpoint."""
        return _submitit().helpers.DelayedSubmission(RunJob(self.config, self.run_dir))


def check_cluster(executor: str, time_min: int = 60):
    """The submitit module, once the executor's name and time limit are valid (ConfigError otherwise)."""
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; choose one of: {', '.join(EXECUTORS)}")
    if isinstance(time_min, bool) or not isinstance(time_min, int) or time_min < 1:
        raise ConfigError(f"--time must be a positive number of minutes, got {time_min!r}")
    return _submitit()


def make_executor(out: Path, executor: str = "local", partition: str | None = None, time_min: int = 60,
                  cpus: int = 2, gpus: int = 0):
    """A submitit executor writing its logs into OUT/submitit."""
    submitit = check_cluster(executor, time_min)
    pool = submitit.AutoExecutor(folder=Path(out) / "submitit", cluster=executor)
    parameters = {"timeout_min": time_min, "name": "bioplaus", "cpus_per_task": cpus}
    if executor == "slurm":
        parameters.update(gpus_per_node=gpus, slurm_signal_delay_s=120,
                          **({"slurm_partition": partition} if partition else {}))
    pool.update_parameters(**parameters)
    return pool


def submit(pool, jobs: dict, out: Path) -> dict:
    """Submit every {name: RunJob}; returns {name: submitit job} and records the ids in OUT/sweep.json."""
    submitted = {name: pool.submit(job) for name, job in jobs.items()}
    atomic_write(Path(out) / "sweep.json", json.dumps({name: job.job_id for name, job in submitted.items()},
                                                       indent=2) + "\n")
    return submitted


def wait_for(pool, submitted: dict, jobs: dict, poll: float = 2.0, progress=None, log=print) -> None:
    """Wait until every run is finished, resubmitting a failed job (it resumes) up to `RETRIES` times."""
    tries = dict.fromkeys(submitted, 0)
    pending = dict(submitted)
    bar = tqdm(total=len(pending), desc="sweep", unit="run", disable=None if progress is None else not progress)
    while pending:
        for name, job in list(pending.items()):
            if not job.done():
                continue
            try:
                job.result()
            except Exception as exc:  # submitit wraps the job's error; its log says more
                if finished_run(jobs[name].run_dir, jobs[name].config.resolved().identity()):
                    pass
                elif tries[name] < RETRIES:
                    tries[name] += 1
                    pending[name] = pool.submit(jobs[name])
                    log(f"sweep: {name} stopped ({str(exc).strip().splitlines()[-1][:120]}); resubmitted as job "
                        f"{pending[name].job_id}, it resumes from its checkpoint (try {tries[name]} of {RETRIES})")
                    continue
                else:
                    raise BioplausError(f"run {name} failed {RETRIES + 1} times; see {job.paths.stderr}") from None
            del pending[name]
            bar.update()
        time.sleep(poll if pending else 0)
    bar.close()


def sweep(tasks: dict, out, executor: str = "local", partition: str | None = None, time_min: int = 60,
          wait: bool = True, progress=None, log=print) -> dict:
    """Run the training tasks {name: (train_task, (config, run dir))} as one job each; with `wait`, return
    when all are finished. Returns {name: job id}."""
    gpus = int(any(args[0].device == "cuda" for _, args in tasks.values()))
    pool = make_executor(Path(out), executor, partition, time_min, gpus=gpus)
    jobs = {name: RunJob(*args) for name, (_, args) in tasks.items()}
    submitted = submit(pool, jobs, Path(out))
    log(f"sweep: {len(submitted)} jobs submitted to {executor} (logs in {Path(out) / 'submitit'})")
    if wait:
        wait_for(pool, submitted, jobs, progress=progress, log=log)
    return {name: job.job_id for name, job in submitted.items()}
