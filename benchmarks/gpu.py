"""GPU speed in one run on the current device: the SNN against SpikingJelly and snnTorch (where they
import), where a CNN training step's time goes, and the trainer's own epoch throughput per rule.

    python benchmarks/gpu.py [--device auto] [--batch-size 1024] [--time-steps 25] [--repeats 10]
                             [--dataset fashion-mnist] [--data-dir DIR] [--cnn-batches 128,1024]

SNN 784-1000-250-100-10, direct encoding, `fast` LIF: forward (eval), the BPTT training step of
BP-SNN and the DFA-SNN step, each with Adam, as ms per batch (median of --repeats, after warm-up).
"bioplaus" runs the fused Triton scan on CUDA; "bioplaus graph" (CUDA only) replays its training steps
from a CUDA graph, as `train --cuda-graph` does; "torch scan" is the model with BIOPLAUS_FUSED_LIF=0.
The CNN throughput is the trainer's own epoch, eager and (on a GPU) with --cuda-graph.
SpikingJelly runs a multi-step LIFNode (its fastest backend present; τ = 5, θ = 0.5, hard reset,
no refractory period), snnTorch a per-step Leaky loop: the same layer sizes and T. The peers are
optional (`pip install spikingjelly snntorch`), never dependencies of bioplaus.
"""

import argparse
import os
import statistics
import tempfile
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from trainers import TrainConfig, build_model, train
from trainers.data.datasets import dataset_spec, load_dataset
from trainers.store.runfiles import read_config, read_metrics
from trainers import resolve_device

import peers
from throughput import graphed_training_step, steps_seconds, training_step

HIDDEN = (1000, 250, 100)


@contextmanager
def scan_path(fused: bool):
    """bioplaus's LIF scan: the fused kernels (the CUDA default) or the plain PyTorch loop."""
    saved = os.environ.get("BIOPLAUS_FUSED_LIF")
    os.environ["BIOPLAUS_FUSED_LIF"] = "auto" if fused else "0"
    try:
        yield
    finally:
        os.environ.pop("BIOPLAUS_FUSED_LIF") if saved is None else os.environ.__setitem__("BIOPLAUS_FUSED_LIF", saved)


def _ms(step, repeats, device) -> float:
    steps_seconds(step, 3, device)  # warm-up: kernel compilation, allocator, optimiser state
    return statistics.median(steps_seconds(step, 1, device) for _ in range(repeats)) * 1e3


def bioplaus_steps(batch, steps, device):
    """{forward, bptt, dfa}: callables that run one pass of bioplaus's SNN."""
    options = {"hidden": ",".join(map(str, HIDDEN)), "time_steps": steps}
    model = build_model("snn", "bp", (1, 28, 28), 10, seed=0, **options).to(device).eval()
    images = torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(0)).to(device)

    def forward():
        with torch.no_grad():
            model(images)
    return {"forward": forward,
            "bptt": training_step("snn", (1, 28, 28), options, "bp", batch, device),
            "dfa": training_step("snn", (1, 28, 28), options, "dfa", batch, device)}


def graphed_steps(batch, steps, device):
    """{bptt, dfa}: bioplaus's SNN training steps replayed from a CUDA graph (`--cuda-graph`), fused scan."""
    options = {"hidden": ",".join(map(str, HIDDEN)), "time_steps": steps}
    return {rule_row: graphed_training_step("snn", (1, 28, 28), options, rule, batch, device)
            for rule_row, rule in (("bptt", "bp"), ("dfa", "dfa"))}


def snn_table(batch, steps, repeats, device):
    """Rows forward / BPTT step / DFA step, columns bioplaus (eager; with a CUDA graph on a GPU), torch scan
    and each peer present: ms."""
    table = {}
    for label, fused in (("bioplaus", True), ("torch scan", False)):
        with scan_path(fused):
            table[label] = {name: _ms(step, repeats, device) for name, step in bioplaus_steps(batch, steps, device).items()}
    if device.type == "cuda":
        with scan_path(True):
            table["bioplaus graph"] = {name: _ms(step, repeats, device)
                                       for name, step in graphed_steps(batch, steps, device).items()}
    for label, build in peers.BUILDERS.items():
        steps_of = build(HIDDEN, batch, steps, device)
        table[label] = None if steps_of is None else {name: _ms(step, repeats, device) for name, step in steps_of.items()}
    return table


def print_snn_table(table, batch, steps):
    print(f"SNN 784-{'-'.join(map(str, HIDDEN))}-10, T = {steps}, batch {batch}, direct encoding: ms per batch")
    print(f"{'':<22}" + "".join(f"{label:>16}" for label in table))
    for row, name in (("forward", "forward"), ("bptt", "BPTT step (BP-SNN)"), ("dfa", "DFA-SNN step")):
        cells = [("not installed" if t is None else "—" if row not in t else f"{t[row]:.2f}") for t in table.values()]
        print(f"{name:<22}" + "".join(f"{c:>16}" for c in cells))
    jelly = table.get("SpikingJelly")
    for label in [name for name in ("bioplaus", "bioplaus graph") if name in table]:
        ours = dict(table["bioplaus"], **table[label])  # the graph column has no forward: the eager one
        print(f"\n{label}: DFA-SNN step vs our BP-SNN step: {ours['bptt'] / ours['dfa']:.2f}x faster (target >= 1.5)")
        if jelly:
            print(f"{label} vs SpikingJelly (its time / ours, target >= 1.0): forward "
                  f"{jelly['forward'] / ours['forward']:.2f}, BPTT {jelly['bptt'] / ours['bptt']:.2f}; "
                  f"its BPTT / our DFA step {jelly['bptt'] / ours['dfa']:.2f}")


def cnn_step_breakdown(dataset, data_dir, batch, repeats, device):
    """Where a CNN step's time goes: the trainer's step, its kernel launches, evaluation and cos_bp."""
    from trainers.rules.alignment import block_cosines
    from trainers import evaluate
    shape = dataset_spec(dataset).input_shape
    x_test, y_test = (t.to(device) for t in load_dataset(dataset, "test", data_dir))
    step = training_step("cnn", shape, {}, "bp", batch, device)
    step_ms = _ms(step, repeats, device)
    launches = "n/a"
    if device.type == "cuda":
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            steps_seconds(step, 10, device)
        launches = f"{sum(e.count for e in prof.key_averages() if e.device_type.name == 'CUDA') / 10:.0f}"
    graphed = (f", {_ms(graphed_training_step('cnn', shape, {}, 'bp', batch, device), repeats, device):.2f} ms "
               "replayed from a CUDA graph" if device.type == "cuda" else "")
    model = build_model("cnn", "bp", shape, 10, seed=0).to(device)
    eval_ms = _ms(lambda: evaluate(model, x_test, y_test), 3, device)
    cos_ms = _ms(lambda: block_cosines(model, x_test[:256], y_test[:256]), 3, device)
    print(f"\nCNN, BP, batch {batch}: one training step {step_ms:.2f} ms ({launches} GPU kernels per step){graphed}; "
          f"per epoch: evaluation of {len(x_test)} test images {eval_ms:.1f} ms, cos_bp {cos_ms:.1f} ms")


def epoch_rate(rule, dataset, data_dir, batch, device, cuda_graph=False) -> float:
    """Training images per second of the trainer's epoch 2 (its steps, evaluation and cos_bp)."""
    with tempfile.TemporaryDirectory() as folder:
        config = TrainConfig(model="cnn", rule=rule, dataset=dataset, data_dir=data_dir, epochs=2, batch_size=batch,
                             device=device.type, cuda_graph=cuda_graph)
        run = train(config, f"{folder}/run", progress=False)
        return read_config(run)["train_images"] / read_metrics(run)[-1]["seconds"]


def cnn_throughput(dataset, data_dir, batches, device):
    """The trainer's own epoch per rule and batch size: eager, and with --cuda-graph on a GPU."""
    print(f"\nCNN on {dataset}, the trainer's epoch 2 (steps, evaluation, cos_bp): training images/s "
          "(time vs BP)")
    for batch in batches:
        for graph in (False, True) if device.type == "cuda" else (False,):
            rates = {rule: epoch_rate(rule, dataset, data_dir, batch, device, graph)
                     for rule in ("bp", "fa", "dfa", "dkp")}
            cells = "  ".join(f"{rule} {rate:,.0f} ({rates['bp'] / rate:.2f})" for rule, rate in rates.items())
            print(f"batch {batch:>5}{' --cuda-graph' if graph else '':>13}: {cells}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--time-steps", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--cnn-batches", default="128,1024")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {device} ({name}), torch {torch.__version__}, {peers.versions()}\n")
    print_snn_table(snn_table(args.batch_size, args.time_steps, args.repeats, device), args.batch_size,
                    args.time_steps)
    cnn_step_breakdown(args.dataset, args.data_dir, 128, args.repeats, device)
    cnn_throughput(args.dataset, args.data_dir, [int(b) for b in args.cnn_batches.split(",")], device)


if __name__ == "__main__":
    main()
