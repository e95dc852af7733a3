"""The graphed training step (`--cuda-graph`): the same run as the eager loop, recorded once, replayed after.

On the CPU the graph's stand-in (`EagerReplay`) runs the recorded body at every replay, so the graphed loop's
bookkeeping (static indices, gradients the graph owns, sums it adds to, eager last batches) is checked here;
on a GPU the same tests record and replay a real CUDA graph. The stand-in's first replay plays the capture:
a host synchronisation there (`.item()`, `bool(tensor)`) raises, as it would while a graph records."""

import numpy as np
import pytest
import torch

import trainers.loop.steps as steps
import trainers.loop.training as training
from trainers import MODELS, RULES, ConfigError, TrainConfig, build_model, get_rule, is_spiking, train
from trainers.loop.optim import make_optimizers
from trainers.store.probes import read_dynamics
from trainers.store.runfiles import load_checkpoint, read_metrics

from bioplaus_analysis.commands.cli import main

SNN = {"hidden": "32", "time_steps": 6, "encoding": "poisson"}
# Every model, tiny, with each encoder somewhere; PAIRS: every (model, rule) the trainer accepts.
TINY = {"cnn": {"channels": "3,4", "fc_width": 8}, "mlp": {"hidden": "16"}, "resnet": {"depth": 8},
        "snn": {"hidden": "12", "time_steps": 4, "encoding": "poisson"},
        "csnn": {"channels": "3,4", "fc_width": 6, "time_steps": 4, "encoding": "latency"}}
PAIRS = [(model, rule) for model in MODELS for rule, r in RULES.items() if r.trains(is_spiking(model))]
# The fused scan's variants (BPTT; forward with membrane trace) on every spiking model
FUSED_PAIRS = [(model, rule) for model, rule in PAIRS if is_spiking(model) and rule in ("bp", "dfa")]
BATCH = 8


def tiny_steps(model_name, rule, graphed: bool = False):
    """(step, sums) of a tiny `model_name` trained by `rule` on BATCH random 8x8 images, on the CPU: eager, or
    recorded in the graph's stand-in (`step.graph`)."""
    from trainers.loop.training import EpochSums
    model = build_model(model_name, rule, (1, 8, 8), 10, seed=0, **TINY[model_name])
    config = TrainConfig(model=model_name, rule=rule, dataset="digits", model_options=TINY[model_name]).resolved()
    optimizers = make_optimizers(config, model, steps_per_epoch=10)
    x, y = torch.rand(BATCH, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(BATCH) % 10
    objective = lambda images, labels: get_rule(rule).objective(model, images, labels)  # noqa: E731
    step = (steps.GraphedSteps(objective, optimizers, x, y, BATCH, steps.EagerReplay(optimizers)) if graphed
            else steps.EagerSteps(objective, optimizers, x, y))
    return step, EpochSums(torch.zeros(()), torch.zeros(()), 0.0)


@pytest.fixture
def graphs(monkeypatch, device):
    """The graphs the runs record, counted: real CUDA graphs on a GPU, the eager stand-in on the CPU."""
    made = []

    class Counted(steps.CudaGraph if device.type == "cuda" else steps.EagerReplay):
        def __init__(self, *args):
            super().__init__(*args)
            self.captures = self.replays = 0
            made.append(self)

        def capture(self, body):
            self.captures += 1
            super().capture(body)

        def replay(self):
            self.replays += 1
            super().replay()

    monkeypatch.setattr(steps, "new_graph", lambda dev, optimizers: Counted(*([dev] if dev.type == "cuda"
                                                                               else [optimizers])))
    return made


def _config(device, **overrides):
    options = dict(dataset="digits", epochs=2, batch_size=64, device=device.type)
    return TrainConfig(**dict(options, **overrides))


def _same_run(a, b):
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(read_metrics(a)) == drop(read_metrics(b))
    x, y = load_checkpoint(a), load_checkpoint(b)
    assert x["model"].keys() == y["model"].keys()
    assert all(torch.equal(x["model"][k], y["model"][k]) for k in x["model"])
    moments = lambda state: [v for s in state["optimizer"]["state"].values() for v in s.values()]  # noqa: E731
    assert all(torch.equal(torch.as_tensor(u), torch.as_tensor(v)) for u, v in zip(moments(x), moments(y)))


@pytest.mark.parametrize("model, rule, options", [("cnn", "bp", {}), ("cnn", "dfa", {}), ("cnn", "fa", {}),
                                                  ("cnn", "dkp", {}), ("snn", "bp", SNN), ("snn", "adfa", SNN)])
def test_a_graphed_run_equals_the_eager_run_bit_for_bit(tmp_path, graphs, device, model, rule, options):
    eager = train(_config(device, model=model, rule=rule, model_options=options), tmp_path / "eager",
                  progress=False)
    graphed = train(_config(device, model=model, rule=rule, model_options=options, cuda_graph=True),
                    tmp_path / "graphed", progress=False)
    _same_run(eager, graphed)
    # digits: 1295 training images after the validation slice = 20 batches of 64 and one of 15 per epoch
    (graph,) = graphs
    assert graph.captures == 1 and graph.replays == 2 * 20 - steps.WARMUP_STEPS


def test_a_graphed_run_resumed_inside_an_epoch_equals_the_uninterrupted_eager_run(tmp_path, graphs, device,
                                                                                   monkeypatch):
    config = _config(device, rule="dkp", epochs=2, cuda_graph=True)
    full = train(TrainConfig(**dict(config.to_dict(), cuda_graph=False)), tmp_path / "full", progress=False)
    calls = {"n": 0}

    def step_counting(run_epoch):
        def wrapped(self, epoch, stop):  # the run's step, counted; a SIGTERM request after the 30th
            real = self.step

            def step(idx, sums):
                real(idx, sums)
                calls["n"] += 1
                if calls["n"] == 30:  # step 9 of epoch 2
                    stop.signum = 15
            self.step = step if epoch == 1 else self.step
            return run_epoch(self, epoch, stop)
        return wrapped
    with monkeypatch.context() as patch, pytest.raises(training.Interrupted):
        patch.setattr(training.TrainingRun, "run_epoch", step_counting(training.TrainingRun.run_epoch))
        train(config, tmp_path / "cut", progress=False)
    assert load_checkpoint(tmp_path / "cut")["partial"]["step"] == 9
    train(config, tmp_path / "cut", resume=True, progress=False)
    _same_run(full, tmp_path / "cut")
    a, b = read_dynamics(full), read_dynamics(tmp_path / "cut")
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_a_graphed_step_refuses_sums_it_was_not_recorded_with(graphs, device):
    from trainers.nets.build import build_model
    from trainers.loop.optim import make_optimizers
    from trainers.rules import get_rule
    from trainers.loop.training import EpochSums
    model = build_model("mlp", "dfa", (1, 8, 8), 10, seed=0, hidden="16").to(device)
    config = TrainConfig(model="mlp", rule="dfa", dataset="digits", cuda_graph=True).resolved()
    optimizers = make_optimizers(config, model, steps_per_epoch=10)
    x, y = torch.rand(32, 1, 8, 8, device=device), torch.randint(0, 10, (32,), device=device)
    objective = lambda images, labels: get_rule("dfa").objective(model, images, labels)  # noqa: E731
    step = steps.make_steps(config, objective, optimizers, x, y, device, distributed=False)
    sums = lambda: EpochSums(torch.zeros((), device=device), torch.zeros((), device=device), 0.0)  # noqa: E731
    kept = sums()
    for _ in range(steps.WARMUP_STEPS + 2):
        step(torch.arange(32, device=device), kept)
    assert kept.correct.item() > 0
    with pytest.raises(RuntimeError, match="sums it was recorded with"):
        step(torch.arange(32, device=device), sums())


def test_cuda_graph_is_refused_off_cuda_and_under_torchrun(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code = main(["train", "--out", str(tmp_path / "run"), "--dataset", "digits", "--device", "cpu", "--cuda-graph",
                 "--epochs", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "--cuda-graph records the training step as a CUDA graph, but this run is on cpu" in err
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="under torchrun leave it out"):
        steps.make_steps(TrainConfig(cuda_graph=True), None, None, torch.zeros(1), torch.zeros(1),
                         torch.device("cpu"), distributed=True)


def test_cuda_graph_must_be_a_bool():
    with pytest.raises(ConfigError, match="cuda_graph must be True or False"):
        TrainConfig(cuda_graph="yes").resolved()


def test_every_model_and_rule_is_covered():
    assert {m for m, _ in PAIRS} == set(MODELS) and {r for _, r in PAIRS} == set(RULES)


@pytest.mark.parametrize("model_name, rule, fused", [pytest.param(*pair, "0", id="-".join(pair)) for pair in PAIRS] +
                         [pytest.param(*pair, "1", id=f"{'-'.join(pair)}-fused") for pair in FUSED_PAIRS])
def test_the_recorded_step_of_every_model_and_rule_makes_no_host_sync(monkeypatch, model_name, rule, fused):
    monkeypatch.setenv("BIOPLAUS_FUSED_LIF", fused)  # "1": the Triton kernels, as a GPU graph records them
    step, sums = tiny_steps(model_name, rule, graphed=True)
    for _ in range(steps.WARMUP_STEPS + 1):  # the warm-up steps, then the capture: host syncs raise there
        step(torch.arange(BATCH), sums)
    assert step.graph.captured and sums.loss.item() > 0


@pytest.mark.parametrize("sync", [lambda t: t.item(), lambda t: bool(t > 0), lambda t: float(t), lambda t: t.tolist(),
                                  lambda t: t.cpu()], ids=["item", "bool", "float", "tolist", "cpu"])
def test_a_host_sync_in_the_recorded_step_fails_as_in_a_capture(sync):
    step, sums = tiny_steps("mlp", "dfa", graphed=True)
    real = step.eager.objective

    def syncing(images, labels):
        result = real(images, labels)
        sync(result.loss.detach())
        return result
    step.eager.objective = syncing
    for _ in range(steps.WARMUP_STEPS):  # eager warm-up steps may wait for the device
        step(torch.arange(BATCH), sums)
    with pytest.raises(RuntimeError, match="makes the host wait for the device, which a CUDA graph cannot record"):
        step(torch.arange(BATCH), sums)
