"""Training throughput per learning rule, as a ratio to BP on the same model and batch.

Every rule that trains these networks (all but the spiking-only aDFA; `--rules` picks some) runs the
trainer's own `train_step` with Adam on the forward weights (DKP adds its feedback optimiser, KP's B steps
with W, both part of their cost); rules are interleaved in each repeat so that machine load affects them
alike, and the median over repeats is reported.

    python benchmarks/throughput.py [--batch-size 128] [--steps 20] [--repeats 5] [--rules bp,fa] [--device auto]
"""

import argparse
import statistics

import torch

from trainers import TrainConfig, build_model
from trainers.loop.optim import make_optimizers
from trainers.rules import RULES, get_rule
from trainers import resolve_device
from trainers.loop.steps import GraphedSteps, new_graph, train_step
from trainers.loop.training import EpochSums

from timing import timed

RULE_NAMES = tuple(name for name, rule in RULES.items() if rule.trains(spiking=False))
MODELS = {"cnn 28x28": ("cnn", (1, 28, 28), {}), "mlp 784-1000-10": ("mlp", (1, 28, 28), {"hidden": "1000"})}


def step_parts(kind, shape, options, rule_name, batch_size, device):
    """(objective, optimisers, images, labels) of one rule's step on a fixed random batch (Adam for every rule)."""
    model = build_model(kind, rule_name, shape, 10, seed=0, **options).to(device).train()
    rule = get_rule(rule_name)
    # One forward optimiser for every rule, so that the ratios measure the rules, not the optimisers.
    config = TrainConfig(model=kind, rule=rule_name, optimizer="adam", lr=1e-3, schedule="constant").resolved()
    optimizers = make_optimizers(config, model, steps_per_epoch=1)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(batch_size, *shape, generator=g).to(device)
    labels = torch.randint(0, 10, (batch_size,), generator=g).to(device)
    return (lambda x, y: rule.objective(model, x, y)), optimizers, images, labels


def training_step(kind, shape, options, rule_name, batch_size, device):
    """A callable that runs one `train_step` of `rule_name` on a fixed random batch."""
    objective, optimizers, images, labels = step_parts(kind, shape, options, rule_name, batch_size, device)
    return lambda: train_step(objective, optimizers, images, labels)


def graphed_training_step(kind, shape, options, rule_name, batch_size, device):
    """The same step as the trainer's `--cuda-graph` runs it: recorded once as a CUDA graph, then replayed."""
    objective, optimizers, images, labels = step_parts(kind, shape, options, rule_name, batch_size, device)
    steps = GraphedSteps(objective, optimizers, images, labels, batch_size, new_graph(device, optimizers))
    sums = EpochSums(torch.zeros((), device=device), torch.zeros((), device=device), 0.0)
    idx = torch.arange(batch_size, device=device)
    return lambda: steps(idx, sums)


def steps_seconds(step, steps, device):
    """Seconds for `steps` calls of `step`, the device's queued work finished on both sides."""
    def run():
        for _ in range(steps):
            step()
    return timed(run, device)[0]


def step_parser(doc: str) -> argparse.ArgumentParser:
    """The options of a training-step benchmark: batch size, steps per timing, repeats, device."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto")
    return parser


def main(argv=None):
    parser = step_parser(__doc__)
    parser.add_argument("--rules", default=",".join(RULE_NAMES), help="comma list; BP is always measured")
    args = parser.parse_args(argv)
    rules = ("bp",) + tuple(r for r in args.rules.split(",") if r != "bp")
    unknown = [r for r in rules if r not in RULE_NAMES]
    if unknown:
        parser.error(f"--rules: {', '.join(unknown)} not among {', '.join(RULE_NAMES)}")
    device = resolve_device(args.device)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"batch {args.batch_size}, {args.steps} steps x {args.repeats} repeats (median)")
    print(f"{'model':<16} {'rule':<7} {'samples/s':>10} {'time vs BP':>10}")
    for label, (kind, shape, options) in MODELS.items():
        steps = {r: training_step(kind, shape, options, r, args.batch_size, device) for r in rules}
        for step in steps.values():
            steps_seconds(step, 3, device)  # warm-up: allocator, optimiser state
        times = {r: [] for r in rules}
        for repeat in range(args.repeats):
            shift = repeat % len(rules)
            for rule in rules[shift:] + rules[:shift]:
                times[rule].append(steps_seconds(steps[rule], args.steps, device))
        median = {r: statistics.median(t) for r, t in times.items()}
        for rule in rules:
            rate = args.batch_size * args.steps / median[rule]
            print(f"{label:<16} {rule:<7} {rate:>10.0f} {median[rule] / median['bp']:>10.2f}")


if __name__ == "__main__":
    main()
