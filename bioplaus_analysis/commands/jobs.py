"""Independent tasks (training runs, analyses) run up to N at once, each in its own worker process with its
share of the CPU threads (N × threads ≤ cores); several processes may share one GPU.

A task is a picklable callable and its arguments, seeded by itself. On the CPU a run's float results depend
on its number of intra-op threads (matrix products and reductions split their sums by thread), which
config.json records as `threads`; tasks run with `threads` each (default: the cores shared out), so
`--jobs 2` and `--jobs 1 --threads 1` write identical files, and on a GPU any N does. Ctrl-C reaches every worker (one process group): each running training run writes its
checkpoint and stops, then the pool closes and `KeyboardInterrupt` is raised here; a rerun continues.
"""

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from tqdm.auto import tqdm

from trainers import ConfigError


def check_jobs(jobs) -> int:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"--jobs must be a positive integer, got {jobs!r}")
    return jobs


def check_threads(threads) -> int | None:
    """`threads` (None: the cores shared out), or a ConfigError when it is not a positive integer."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"--threads must be a positive integer, got {threads!r}")
    return threads


def threads_per_job(jobs: int) -> int:
    """CPU threads of each of `jobs` workers: the cores shared out, at least one each, and no more than
    OMP_NUM_THREADS where it is set (the threads a process may use, e.g. under a scheduler or test runner)."""
    shared = max(1, (os.cpu_count() or 1) // jobs)
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return min(shared, int(limit)) if limit.isdigit() and int(limit) > 0 else shared


def _start_worker(threads: int) -> None:
    import torch
    from trainers import keep_freed_memory
    keep_freed_memory()
    torch.set_num_threads(threads)


def _in_this_process(tasks: dict, threads: int, bar) -> dict:
    import torch
    before, results = torch.get_num_threads(), {}
    torch.set_num_threads(threads)
    try:
        for name, (function, args) in tasks.items():
            bar.set_postfix_str(name)
            results[name] = function(*args)
            bar.update()
    finally:
        torch.set_num_threads(before)
        bar.close()
    return results


def run_tasks(tasks: dict, jobs: int = 1, desc: str = "", progress=None, threads: int | None = None) -> dict:
    """{name: result} of every task {name: (function, args)}: in this process one after another when `jobs`
    is 1, else in up to `jobs` worker processes, each with `threads` CPU threads (default: cores / jobs); a
    bar counts finished tasks and names the running ones. The first error of a task is raised once the
    tasks already running have stopped."""
    check_jobs(jobs)
    threads = check_threads(threads) or threads_per_job(jobs)
    bar = tqdm(total=len(tasks), desc=desc, unit="task", disable=None if progress is None else not progress)
    if jobs == 1 or len(tasks) <= 1:
        return _in_this_process(tasks, threads, bar)
    context = multiprocessing.get_context("spawn")  # no forked torch state; the same in every OS
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker, initargs=(threads,)) as pool:
        futures = {pool.submit(function, *args): name for name, (function, args) in tasks.items()}
        try:
            return _collect(futures, bar)
        except BaseException:
            for future in futures:
                future.cancel()  # those not started; running ones stop on the signal they received too
            raise
        finally:
            bar.close()


def _collect(futures: dict, bar) -> dict:
    results, pending, error = {}, set(futures), None
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            if future.cancelled():
                continue
            if future.exception() is not None:
                error = error or future.exception()
                for other in pending:
                    other.cancel()
                continue
            results[futures[future]] = future.result()
            bar.update()
        running = [futures[f] for f in pending if f.running()]
        bar.set_postfix_str(", ".join(sorted(running))[:80])
    if error is not None:
        raise error
    return results
