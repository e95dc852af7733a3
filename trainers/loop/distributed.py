"""Training on several processes with PyTorch's own engine: `torchrun … -m bioplaus_analysis train …`.

Under torchrun (WORLD_SIZE > 1) every process trains a replica wrapped in DistributedDataParallel
(gloo on CPU, NCCL on GPUs). DDP wraps the rule's *objective*, so one backward of the surrogate
yields the rule's update and DDP averages it over processes: DKP's feedback parameters are
all-reduced exactly like the forward weights. Each global batch of `batch_size` images is split
evenly, so the averaged update is the single-process update; only rank 0 writes run files.
"""

import os
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from trainers.errors import BioplausError, ConfigError
from trainers.store.runfiles import state_digest


class ObjectiveModule(nn.Module):
    """A model and its rule as one module whose forward is the rule's objective (what DDP wraps)."""

    def __init__(self, model, rule):
        super().__init__()
        self.model, self.rule = model, rule

    def forward(self, images, labels):
        return self.rule.objective(self.model, images, labels)


class Replicas:
    """This process's place among the training processes: one (rank 0 of 1) unless under torchrun."""

    def __init__(self, rank: int = 0, world: int = 1, local_rank: int = 0):
        self.rank, self.world, self.local_rank = rank, world, local_rank

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def device(self, device: torch.device) -> torch.device:
        """Each process's own GPU (its LOCAL_RANK) when training on CUDA."""
        return torch.device("cuda", self.local_rank) if self.distributed and device.type == "cuda" else device

    def objective(self, model, rule):
        """A callable (images, labels) -> Objective: DDP-wrapped when distributed."""
        if not self.distributed:
            return lambda images, labels: rule.objective(model, images, labels)
        device_ids = [model_device.index] if (model_device := next(model.parameters()).device).type == "cuda" else None
        return DistributedDataParallel(ObjectiveModule(model, rule), device_ids=device_ids)

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """This process's equal share of a global batch of indices."""
        return idx.chunk(self.world)[self.rank] if self.distributed else idx

    def check_batch(self, batch_size: int) -> None:
        if self.distributed and batch_size % self.world:
            raise ConfigError(f"--batch-size {batch_size} must be a multiple of the {self.world} processes; "
                              f"pass e.g. --batch-size {batch_size - batch_size % self.world or self.world}")

    def total(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of `tensor` over processes."""
        if self.distributed:
            tensor = tensor.clone()
            dist.all_reduce(tensor)
        return tensor

    def stop_signal(self, signum: int | None) -> int | None:
        """The signal any process received (all processes must stop at the same step)."""
        if not self.distributed:
            return signum
        flag = torch.tensor([signum or 0], device=self._collective_device())
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item()) or None

    def on_main(self, action):
        """`action()` run on rank 0 only and its result given to every process; a BioplausError raised
        there is raised on every process (so that none waits for rank 0 forever)."""
        if not self.distributed:
            return action()
        box = [None]
        if self.main:
            try:
                box = [("ok", action())]
            except BioplausError as exc:
                box = [("error", type(exc), str(exc))]
        dist.broadcast_object_list(box, src=0)
        if box[0][0] == "error":
            raise box[0][1](box[0][2])
        return box[0][1]

    def sync_buffers(self, model) -> None:
        """Give every process rank 0's buffers (BatchNorm statistics drift apart within an epoch: each
        process normalises its own share of the batch)."""
        if self.distributed:
            for buffer in model.buffers():
                dist.broadcast(buffer, src=0)

    def digests(self, model) -> list[str]:
        """A SHA-256 of every process's model state (weights, feedback, buffers), gathered on all."""
        mine = state_digest(model.state_dict())
        if not self.distributed:
            return [mine]
        everyone = [None] * self.world
        dist.all_gather_object(everyone, mine)
        return everyone

    def _collective_device(self):
        return torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


def check_gpu_count(processes: int) -> None:
    """ConfigError unless every training process on this machine has a GPU of its own (NCCL needs one each)."""
    gpus = torch.cuda.device_count()
    if processes > gpus:
        raise ConfigError(f"{processes} training processes on this machine but {gpus} visible GPU"
                          f"{'' if gpus == 1 else 's'}; start at most {gpus} (torchrun --nproc_per_node {gpus}), "
                          "or pass --device cpu to train every process on the CPU (gloo)")


def replicas_from_environment(device: torch.device, batch_size: int | None = None) -> Replicas:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK), or a single process; a
    `batch_size` that does not split evenly over the processes is refused first."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Replicas()
    replicas = Replicas(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if batch_size is not None:
        replicas.check_batch(batch_size)
    if device.type == "cuda":
        check_gpu_count(int(os.environ.get("LOCAL_WORLD_SIZE", world)))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(replicas.local_rank)
        dist.init_process_group(backend, timeout=timedelta(minutes=30))
    return replicas
