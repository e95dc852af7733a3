"""A lower bound on a spiking run's memory, checked before anything is allocated: a run that cannot fit
is refused with one line instead of failing minutes later in an allocation traceback."""

import math
from pathlib import Path

import torch

from trainers.errors import ConfigError
from trainers.loop.evaluation import EVAL_BATCH
from trainers.nets.base import block_output_shapes


def available_bytes(device: torch.device) -> int | None:
    """Free memory of the device: CUDA's free memory, or the CPU's MemAvailable (None when unknown)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def spiking_lower_bound(model, batch_size: int) -> int:
    """Bytes that the largest pass certainly needs: every hidden neuron's input current and spikes for
    all T steps of one batch (training) or of one evaluation batch, in the model's float size."""
    shapes = block_output_shapes(model)
    neurons = sum(math.prod(shapes[name]) for name in model.hidden_names)
    itemsize = next(model.parameters()).element_size()
    return 2 * model.time_steps * max(batch_size, EVAL_BATCH) * neurons * itemsize


def check_fits(model, batch_size: int, device: torch.device) -> None:
    """ConfigError when a spiking model's lower bound exceeds the device's free memory."""
    free = available_bytes(device)
    need = spiking_lower_bound(model, batch_size)
    if free is not None and need > free:
        raise ConfigError(f"this run needs at least {need / 2**30:.1f} GiB for the spikes and currents of one "
                          f"pass (T = {model.time_steps}, batch {max(batch_size, EVAL_BATCH)}), but {device.type} has "
                          f"{free / 2**30:.1f} GiB free; lower --time-steps, --hidden or --batch-size")
