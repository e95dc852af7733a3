"""The reproduction grid: the rules on full datasets, 5 seeds, next to the numbers papers publish.

`reproduce()` trains every run of the grid that is not finished yet (so it resumes), then writes
`reproduction.csv` and `reproduction.md` (see `accuracy_table`): per dataset, model and rule, the
final test accuracy as mean ± sd over seeds and the best seed, beside the published anchor.
"""

from dataclasses import dataclass
from pathlib import Path

from trainers import DEFAULT_DEVICE, ConfigError, DataError, TrainConfig, default_epochs, load_dataset, resolve_device
from trainers.store.runfiles import finished_run, run_name

from .accuracy_table import table, write_table
from .compare import train_task
from .jobs import check_jobs, check_threads, run_tasks

# every rule beside the readout-only control (hidden layers at initialisation): what training the readout alone gives
GRID = {"cnn": (("bp", "fa", "dfa", "dkp", "usf", "frsf", "brsf", "kp", "readout"),
                default_epochs("fashion-mnist", "cnn")),
        "snn": (("bp", "dfa", "adfa", "dkp", "readout"), default_epochs("fashion-mnist", "snn"))}
MNIST_LIKE = ("fashion-mnist", "mnist")


@dataclass(frozen=True)
class Run:
    dataset: str
    model: str
    rule: str
    seed: int
    epochs: int

    @property
    def name(self) -> str:
        return run_name(self.dataset, self.model, self.rule, self.seed)


def available_datasets(data_dir=None) -> dict:
    """{dataset: the data_dir to read it from}: fashion-mnist always (from `data_dir`, else Debian's
    package), mnist and cifar10 when their files are in `data_dir`."""
    found = {}
    for name in ("fashion-mnist", "mnist", "cifar10"):
        for folder in (data_dir, None) if name == "fashion-mnist" and data_dir is not None else (data_dir,):
            try:
                load_dataset(name, "test", folder)
                found[name] = None if folder is None else str(folder)
                break
            except DataError:
                if name == "fashion-mnist" and folder is None:
                    raise
    return found


SEEDS = (0, 1, 2, 3, 4)  # five: a paired test over three seeds has two degrees of freedom and little power


def grid(datasets, seeds=SEEDS, models=("cnn", "snn"), rules=None) -> list[Run]:
    """The CNN × its rules of `GRID` and, on MNIST-like data, SNN 784-1000-10 × its rules (T = 25, direct
    encoding), each at the epochs `GRID` gives and for every seed; only `rules` where given."""
    return [Run(d, m, r, s, GRID[m][1]) for s in seeds for d in datasets for m in models
            if m == "cnn" or d in MNIST_LIKE for r in GRID[m][0]
            if rules is None or r in rules]  # seed outermost: a cut sweep stays balanced


def grid_tasks(runs, out, data_dirs: dict, device=DEFAULT_DEVICE) -> dict:
    """{run name: (train_task, (config, run dir))} of every run of the grid that is not finished."""
    tasks = {}
    for run in runs:
        run_dir = Path(out) / run.name
        config = TrainConfig(model=run.model, rule=run.rule, dataset=run.dataset, epochs=run.epochs, seed=run.seed,
                             data_dir=data_dirs.get(run.dataset), device=device)
        if not finished_run(run_dir, config.resolved().identity()):
            tasks[run.name] = (train_task, (config, run_dir))
    return tasks


def train_grid(runs, out, data_dirs: dict, device=DEFAULT_DEVICE, progress=None, jobs: int = 1, threads=None) -> None:
    """Train each run into out/NAME unless it is finished (an interrupted one continues, --resume), up to
    `jobs` at once; `data_dirs` maps each dataset to its folder (None: the default location)."""
    run_tasks(grid_tasks(runs, out, data_dirs, device), jobs, "reproduce", progress, threads)


def check_options(seeds, models, device, jobs, threads, cluster: dict | None, rules=None) -> None:
    """A ConfigError naming the first bad option of `reproduce`; reads no data and writes nothing."""
    for model in models:
        if model not in GRID:
            raise ConfigError(f"unknown model {model!r} for the reproduction grid; choose one of: {', '.join(GRID)}")
    in_grid = list(dict.fromkeys(r for m in models for r in GRID[m][0]))
    for rule in rules or ():
        if rule not in in_grid:
            raise ConfigError(f"rule {rule!r} is not in the reproduction grid of {', '.join(models)}; "
                              f"choose from: {', '.join(in_grid)}")
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ConfigError(f"--seeds must be non-negative integers, got {list(seeds)!r}")
    check_jobs(jobs)
    check_threads(threads)
    resolve_device(device)
    if cluster is not None:
        from .cluster import check_cluster
        check_cluster(cluster["executor"], cluster.get("time_min", 60))


def reproduce(out, data_dir=None, seeds=SEEDS, models=("cnn", "snn"), device=DEFAULT_DEVICE, progress=None, jobs=1,
              cluster: dict | None = None, threads: int | None = None, rules=None):
    """Train the grid for every dataset available and write the table; returns (csv, md) paths, or None when
    the runs were submitted to a cluster without waiting. Runs train here, up to `jobs` at once, or, with
    `cluster` ({"executor", "partition", "time_min", "wait"}), one submitit job each (`cluster.sweep`); `rules`
    (default all) trains part of the grid, e.g. the rules whose recipe is final. The table shows every finished run."""
    check_options(seeds, models, device, jobs, threads, cluster, rules)  # before any data is read or folder made
    Path(out).mkdir(parents=True, exist_ok=True)
    datasets = available_datasets(data_dir)
    runs = grid(list(datasets), seeds, models, rules)
    if cluster is None:
        train_grid(runs, out, datasets, device, progress, jobs, threads)
    else:
        from .cluster import sweep
        sweep(grid_tasks(runs, out, datasets, device), out, progress=progress, **cluster)
        if not cluster.get("wait", True):
            return None
    return write_table(table(out), out)
