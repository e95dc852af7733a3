"""Wall-clock timing shared by the benchmarks: CUDA work is waited for before the clock is read."""

import statistics
import time

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(function, device):
    """(seconds, result) of one call of `function`, with the device's queued work finished on both sides."""
    synchronize(device)
    start = time.perf_counter()
    result = function()
    synchronize(device)
    return time.perf_counter() - start, result


def median_seconds(function, repeats: int, device):
    """(median seconds over `repeats` calls, the last result)."""
    times, result = [], None
    for _ in range(repeats):
        seconds, result = timed(function, device)
        times.append(seconds)
    return statistics.median(times), result
