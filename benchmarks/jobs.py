"""Concurrent runs: `bioplaus compare` with --jobs N against --jobs 1 on the same machine, in one run,
and whether --jobs N wrote the same files as --jobs 1 with the same threads per run.

    python benchmarks/jobs.py [--dataset digits] [--jobs 2] [--device auto] [--epochs N]

Prints the wall time of each and their ratio (below 1: --jobs N is faster), then the number of runs whose
metrics.csv (without wall-clock seconds) and analysis arrays are identical between --jobs N and
--jobs 1 --threads (cores / N). On a GPU run it as well with --device cuda.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bioplaus_analysis import CompareOptions, compare
from bioplaus_analysis.commands.jobs import threads_per_job
from trainers.store.runfiles import read_metrics


def _timed(out, **options) -> float:
    start = time.perf_counter()
    compare(out, CompareOptions(**options), progress=False, log=lambda line: None)
    return time.perf_counter() - start


def _identical(a: Path, b: Path) -> tuple[int, int, int, int]:
    """(runs with identical metrics, runs, identical arrays, arrays) between two compare folders."""
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    runs = sorted(p.name for p in (a / "runs").iterdir())
    same_runs = sum(drop(read_metrics(a / "runs" / r)) == drop(read_metrics(b / "runs" / r)) for r in runs)
    same_arrays = total = 0
    for folder in sorted((a / "analysis").iterdir()):
        x, y = np.load(folder / "arrays.npz"), np.load(b / "analysis" / folder.name / "arrays.npz")
        total += len(x.files)
        same_arrays += sum(np.array_equal(x[k], y[k]) for k in x.files)
    return same_runs, len(runs), same_arrays, total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    common = dict(dataset=args.dataset, epochs=args.epochs, device=args.device)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        one = _timed(tmp / "one", jobs=1, **common)
        many = _timed(tmp / "many", jobs=args.jobs, **common)
        _timed(tmp / "same", jobs=1, threads=threads_per_job(args.jobs), **common)
        same_runs, runs, same_arrays, arrays = _identical(tmp / "many", tmp / "same")
    print(f"compare --dataset {args.dataset} on {os.cpu_count()} cores, device {args.device}")
    print(f"--jobs 1: {one:.1f} s; --jobs {args.jobs}: {many:.1f} s; ratio {many / one:.2f}")
    print(f"--jobs {args.jobs} vs --jobs 1 --threads {threads_per_job(args.jobs)}: metrics identical in "
          f"{same_runs} of {runs} runs, arrays identical {same_arrays} of {arrays}")


if __name__ == "__main__":
    main()
