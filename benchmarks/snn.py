"""SNN forward throughput against a straightforward per-step loop, and training-step memory vs T.

Forward: the 784-1000-250-100-10 SNN at T = 25, batch 128, as `SpikingNetwork` runs it (each
layer's current for all T steps in one product, an in-place elementwise LIF scan) against a loop
that, at every step, runs each layer's matmul and an out-of-place LIF update. Both give the same
logits (checked); the median over interleaved repeats is reported.

Memory: peak memory added by one training step (BP-SNN: BPTT; DFA-SNN: local pass) for several T,
each in a fresh process (resident memory on the CPU, allocated GPU memory on CUDA), and the bytes
autograd saves for the backward pass.

    python benchmarks/snn.py [--batch-size 128] [--steps 25] [--repeats 7] [--memory-steps 10,25,50,100]
                             [--device auto]
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys

import torch
import torch.nn.functional as F

from trainers import build_model
from trainers.rules import get_rule
from trainers import resolve_device

from timing import timed

HIDDEN = "1000,250,100"


def per_step_forward(model, images):
    """The straightforward SNN: for t in T, for each layer, a matmul then the LIF update."""
    neuron, steps = model.neuron, model.time_steps
    layers = [model.blocks[name][-1] for name in model.blocks]
    encoded = model.encode(images)
    zeros = lambda width: torch.zeros(images.shape[0], width, device=images.device)  # noqa: E731
    state = [(zeros(layer.out_features), zeros(layer.out_features)) for layer in layers[:-1]]
    total = zeros(layers[-1].out_features)
    for t in range(steps):
        h = (encoded.values if encoded.constant else encoded.values[t].float()).flatten(1)
        for i, layer in enumerate(layers[:-1]):
            v, countdown = state[i]
            active = (countdown <= 0).float()
            v = (neuron.decay * v + neuron.gain * F.linear(h, layer.weight, layer.bias)) * active
            s = (v >= neuron.threshold).float()
            v = v * (1 - s)
            countdown = (countdown - 1).clamp(min=0) + neuron.refractory_steps * s
            state[i] = (v, countdown)
            h = s
        total = total + F.linear(h, layers[-1].weight, layers[-1].bias)
    return total / steps


def forward_benchmark(batch_size, steps, repeats, encoding, device):
    model = build_model("snn", "bp", (1, 28, 28), 10, hidden=HIDDEN, time_steps=steps, encoding=encoding)
    model = model.to(device).eval()
    images = torch.rand(batch_size, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    images = (images * (images > 0.6)).to(device)  # MNIST-like: most pixels dark
    with torch.no_grad():
        ours, loop = model(images), per_step_forward(model, images)
        torch.testing.assert_close(ours, loop, rtol=1e-5, atol=1e-5)
        times = {"layer-batched (bioplaus)": [], "per-step loop": []}
        for _ in range(repeats):
            for name, fn in (("layer-batched (bioplaus)", model),
                             ("per-step loop", lambda x: per_step_forward(model, x))):
                times[name].append(timed(lambda: fn(images), device)[0])
    return {name: statistics.median(t) for name, t in times.items()}


def _peak_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _memory_child(rule, steps, batch_size, device):
    """Run in a fresh process: peak memory added by one training step, and autograd's saved bytes."""
    device = torch.device(device)
    model = build_model("snn", rule, (1, 28, 28), 10, hidden=HIDDEN, time_steps=steps).to(device).train()
    images = torch.rand(batch_size, 1, 28, 28, generator=torch.Generator().manual_seed(0)).to(device)
    labels = torch.arange(batch_size, device=device) % 10
    objective = get_rule(rule).objective
    before = _peak_mb(device)
    seen, saved = set(), [0]

    def pack(t):
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        if key not in seen:
            seen.add(key)
            saved[0] += key[1]
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = objective(model, images, labels)
    out.surrogate.backward()
    print(json.dumps({"peak_mb": _peak_mb(device) - before, "saved_mb": saved[0] / 2**20}))


def memory_benchmark(steps_list, batch_size, device):
    rows = []
    for steps in steps_list:
        for rule in ("bp", "dfa"):
            child = ["--child", rule, str(steps), str(batch_size), str(device)]
            out = subprocess.run([sys.executable, __file__, *child],
                                 capture_output=True, text=True, check=True)
            rows.append((rule, steps, json.loads(out.stdout.strip().splitlines()[-1])))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=25, help="time steps T of the forward benchmark")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--memory-steps", default="10,25,50,100")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _memory_child(args.child[0], int(args.child[1]), int(args.child[2]), args.child[3])
    device = resolve_device(args.device)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"SNN 784-{HIDDEN.replace(',', '-')}-10, "
          f"T={args.steps}, batch {args.batch_size}, median of {args.repeats}")
    print(f"{'encoding':<9} {'implementation':<26} {'ms/batch':>9} {'samples/s':>10} {'speed-up':>9}")
    for encoding in ("direct", "poisson"):
        times = forward_benchmark(args.batch_size, args.steps, args.repeats, encoding, device)
        base = times["per-step loop"]
        for name, seconds in times.items():
            print(f"{encoding:<9} {name:<26} {seconds * 1e3:9.1f} {args.batch_size / seconds:10.0f} "
                  f"{base / seconds:8.2f}x")
    peak = "peak GPU memory allocated" if device.type == "cuda" else "peak RSS added"
    print(f"\none training step, batch {args.batch_size}: {peak} and bytes autograd saves")
    print(f"{'rule':<5} {'T':>4} {'peak MB':>8} {'saved MB':>9}")
    for rule, steps, result in memory_benchmark([int(s) for s in args.memory_steps.split(",")], args.batch_size,
                                                device):
        print(f"{rule:<5} {steps:>4} {result['peak_mb']:8.1f} {result['saved_mb']:9.1f}")


if __name__ == "__main__":
    main()
