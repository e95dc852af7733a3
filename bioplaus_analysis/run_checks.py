"""Which runs one analysis may put side by side: each given once, each finished (unless asked), and all
sharing what the cross-run quantities assume (test images, classes, probe images).

A difference is refused with one line naming the setting and the runs, never averaged over silently.
"""

from pathlib import Path

from trainers import ConfigError
from trainers.store.runfiles import check_finished, read_config

# config.json keys the runs of one analysis must share, and what a difference would break.
SHARED = (
    (("dataset", "num_classes", "input_shape", "test_images", "data_dir"),
     "they are not evaluated on the same test images and classes; analyse one dataset at a time"),
    (("validation", "validation_seed", "probes_per_class", "limit_train"),
     "their probe images differ, and learning dynamics compare the runs on them; analyse runs trained with "
     "the same value"),
)


def _distinct(run_dirs) -> None:
    if not run_dirs:
        raise ConfigError("no run folders given; pass the folders written by `bioplaus train`")
    seen = set()
    for run_dir in run_dirs:  # one run twice would count as two seeds
        if Path(run_dir).resolve() in seen:
            raise ConfigError(f"run {run_dir} is given twice; pass each run once")
        seen.add(Path(run_dir).resolve())


def _shared(configs: dict) -> None:
    """ConfigError naming the first setting of `SHARED` the runs {folder: config} do not share."""
    for keys, why in SHARED:
        for key in keys:
            values = {repr(config.get(key)) for config in configs.values()}
            if len(values) > 1:
                detail = ", ".join(f"{Path(r).name}: {config.get(key)}" for r, config in configs.items())
                what = "runs come from different datasets" if key == "dataset" else f"runs differ in {key}"
                raise ConfigError(f"{what} ({detail}): {why}")


def check_runs(run_dirs) -> str:
    """The dataset of `run_dirs` once they are distinct and comparable (from their config.json alone)."""
    _distinct(run_dirs)
    configs = {str(r): read_config(r) for r in run_dirs}
    _shared(configs)
    return next(iter(configs.values()))["dataset"]


def check_finished_runs(run_dirs, done, allow_unfinished: bool = False) -> None:
    """RunDirError for the first run that has not finished every epoch (`done`: each run's `epochs_done`),
    unless `allow_unfinished`."""
    if not allow_unfinished:
        for run_dir, epochs in zip(run_dirs, done):
            check_finished(run_dir, epochs)
