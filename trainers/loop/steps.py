"""The training loop's steps: run eagerly, or replayed from one CUDA graph (`--cuda-graph`).

On a GPU a small network's step is launch-bound: forward, the rule's surrogate objective and backward are
about a hundred small kernels, each costing more to launch than to run. `GraphedSteps` records them once
and replays them per batch: the batch's indices are copied into a static buffer, and the graph gathers the
images, evaluates the objective, runs backward and adds the batch's loss and correct count to the epoch's
sums on the device. The optimisers then step eagerly (fused: one kernel), because the one-cycle schedule
changes their learning rate and momentum between steps, which a captured step would freeze. The graph runs
the kernels the eager step runs, on the same batches, so it trains the same network; a batch of another
size (an epoch's last) runs eagerly.
"""

from contextlib import contextmanager, nullcontext

import torch
from torch.overrides import TorchFunctionMode

from trainers.config import TrainConfig
from trainers.devices import require_cuda_graph_device
from trainers.errors import ConfigError
from trainers.loop.optim import make_optimizers

WARMUP_STEPS = 3  # eager steps on the capture stream before recording: lazy set-up, optimiser state
# Tensor methods that wait for the device (copy a value to the host): a CUDA graph's capture fails on them.
HOST_SYNCS = frozenset({torch.Tensor.item, torch.Tensor.__bool__, torch.Tensor.__int__, torch.Tensor.__float__,
                        torch.Tensor.__index__, torch.Tensor.tolist, torch.Tensor.numpy, torch.Tensor.cpu})


def train_step(objective, optimizers, images, labels, set_to_none: bool = True):
    """One update: the rule's surrogate objective (a callable (images, labels) -> Objective), one
    backward, a step of every optimiser."""
    result = objective(images, labels)
    optimizers.zero_grad(set_to_none)
    result.surrogate.backward()
    optimizers.step()
    return result


def training_step(model, config, steps: int = 1):
    """A callable (images, labels) -> Objective that updates `model` as a run of `config` (a TrainConfig or its
    config.json dict) does: the rule's objective, one backward, a step of the run's optimisers (its one-cycle
    schedule sized for `steps` calls)."""
    config = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    config = config.resolved()  # what a partial config leaves unset: the recipe's or the rule's
    optimizers = make_optimizers(config, model, steps_per_epoch=max(1, -(-steps // config.epochs)))
    return lambda images, labels: train_step(lambda x, y: model.rule.objective(model, x, y), optimizers, images, labels)


def add_to_sums(sums, result, labels) -> None:
    """The batch's summed loss and correct count, added on the device (no synchronisation)."""
    sums.loss += result.loss.detach() * len(labels)
    sums.correct += (result.logits.detach().argmax(1) == labels).sum()


class EagerSteps:
    """A step as PyTorch runs it: gather the batch, `train_step`, add to the epoch's sums."""

    def __init__(self, objective, optimizers, images, labels):
        self.objective, self.optimizers, self.images, self.labels = objective, optimizers, images, labels
        self.set_to_none = True  # False once a graph owns the gradient tensors: they are zeroed in place

    def __call__(self, idx, sums) -> None:
        images, labels = self.images[idx], self.labels[idx]
        add_to_sums(sums, train_step(self.objective, self.optimizers, images, labels, self.set_to_none), labels)


class GraphedSteps:
    """Steps of `batch` images replayed from one graph (module docstring); other batch sizes run eagerly.

    The first WARMUP_STEPS steps run eagerly inside `graph.warmup()`, the next is recorded and replayed.
    The graph adds to the sums it was recorded with, so the loop keeps one pair of sums for the run."""

    def __init__(self, objective, optimizers, images, labels, batch: int, graph):
        self.eager = EagerSteps(objective, optimizers, images, labels)
        self.graph, self.calls, self.sums = graph, 0, None
        self.idx = torch.zeros(batch, dtype=torch.long, device=images.device)

    def __call__(self, idx, sums) -> None:
        if len(idx) != len(self.idx):
            return self.eager(idx, sums)
        if self.sums is None and self.calls < WARMUP_STEPS:
            self.calls += 1
            with self.graph.warmup():
                return self.eager(idx, sums)
        if self.sums is None:
            self._record(sums)
        if sums.loss is not self.sums.loss or sums.correct is not self.sums.correct:
            raise RuntimeError("a graphed step adds to the sums it was recorded with; pass the same tensors")
        self.idx.copy_(idx)
        self.graph.replay()
        self.eager.optimizers.step()

    def _record(self, sums) -> None:
        eager = self.eager

        def body():
            images, labels = eager.images[self.idx], eager.labels[self.idx]
            result = eager.objective(images, labels)
            result.surrogate.backward()
            add_to_sums(sums, result, labels)
        eager.optimizers.zero_grad(set_to_none=True)  # the recorded backward then writes fresh gradients
        self.graph.capture(body)
        eager.set_to_none, self.sums = False, sums  # the gradients are the graph's now: never dropped


class CudaGraph:
    """A `torch.cuda.CUDAGraph` and the side stream it is recorded on; warm-up steps run on that stream
    too, so cuBLAS and cuDNN have set themselves up there before recording."""

    def __init__(self, device):
        self.device, self.stream, self.graph = device, torch.cuda.Stream(device), torch.cuda.CUDAGraph()

    @contextmanager
    def warmup(self):
        current = torch.cuda.current_stream(self.device)
        self.stream.wait_stream(current)
        with torch.cuda.stream(self.stream):
            yield
        current.wait_stream(self.stream)

    def capture(self, body) -> None:
        current = torch.cuda.current_stream(self.device)
        self.stream.wait_stream(current)
        with torch.cuda.graph(self.graph, stream=self.stream):
            body()
        current.wait_stream(self.stream)

    def replay(self) -> None:
        self.graph.replay()


class NoHostSync(TorchFunctionMode):
    """Inside it, a `HOST_SYNCS` call (`.item()`, `bool(tensor)`, ...) raises, as it would in a graph's capture."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in HOST_SYNCS:
            raise RuntimeError(f"Tensor.{func.__name__} makes the host wait for the device, which a CUDA graph "
                               "cannot record; keep it out of the graphed step")
        return func(*args, **(kwargs or {}))


class EagerReplay:
    """The graph's stand-in off the GPU: `capture` keeps the body, `replay` runs it with fresh gradients,
    as a recorded backward writes them; the first replay stands for the capture, so host synchronisations
    raise in it (`NoHostSync`). It lets the graphed loop's bookkeeping be tested on a CPU."""

    def __init__(self, optimizers):
        self.optimizers, self.body, self.captured = optimizers, None, False

    def warmup(self):
        return nullcontext()

    def capture(self, body) -> None:
        self.body = body

    def replay(self) -> None:
        self.optimizers.zero_grad(set_to_none=True)
        with nullcontext() if self.captured else NoHostSync():
            self.body()
        self.captured = True


def new_graph(device, optimizers):
    """The graph `--cuda-graph` records on `device`; a ConfigError off CUDA. (`optimizers` is for a stand-in
    such as `EagerReplay`, which tests put in its place.)"""
    require_cuda_graph_device(device)
    return CudaGraph(device)


def make_steps(config, objective, optimizers, images, labels, device, distributed: bool):
    """The loop's step for `config`: GraphedSteps with --cuda-graph (one process only), else EagerSteps."""
    if not config.cuda_graph:
        return EagerSteps(objective, optimizers, images, labels)
    if distributed:
        raise ConfigError("--cuda-graph trains in one process; under torchrun leave it out")
    return GraphedSteps(objective, optimizers, images, labels, config.batch_size, new_graph(device, optimizers))
