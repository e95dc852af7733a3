"""The cost of recording learning dynamics: what the probes add to a training epoch. Per epoch, training
measures the weight alignment (one backward pass per class over the probes) and the probes' RDMs (one
forward pass); this prints that time against the time of an epoch of steps on a training split of
`--train-images`, both measured here, and their ratio (target: at most 1.05).

    python benchmarks/dynamics.py [--train-images 54000] [--probes-per-class 10] [--batch-size 128]
                                  [--steps 20] [--repeats 5] [--device auto]
"""

import statistics

import torch

from trainers import build_model, resolve_device
from trainers.rules.alignment import weight_alignment
from trainers.store.probes import probe_rdms

from throughput import step_parser, steps_seconds, training_step
from timing import timed

MODELS = {"cnn 28x28": ("cnn", {}, ("fa", "dfa", "dkp")),
          "snn 784-1000-10 T=25": ("snn", {"hidden": "1000", "time_steps": 25}, ("dfa", "adfa", "dkp"))}


def dynamics_seconds(kind, options, rule, probes, device) -> float:
    """Seconds of one epoch's dynamics record: weight alignment and probe RDMs on `probes` images."""
    model = build_model(kind, rule, (1, 28, 28), 10, seed=0, **options).to(device).train()
    images = torch.rand(probes, 1, 28, 28, generator=torch.Generator().manual_seed(1)).to(device)
    return timed(lambda: (weight_alignment(model, images), probe_rdms(model, images)), device)[0]


def main(argv=None):
    parser = step_parser(__doc__)
    parser.add_argument("--train-images", type=int, default=54_000, help="Fashion-MNIST's after the validation slice")
    parser.add_argument("--probes-per-class", type=int, default=10)
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    steps_per_epoch = -(-args.train_images // args.batch_size)
    probes = 10 * args.probes_per_class
    print(f"device {device}, torch {torch.__version__}, {args.train_images} training images in batches of "
          f"{args.batch_size} ({steps_per_epoch} steps), {probes} probes; medians of {args.repeats} repeats")
    print(f"{'model':<22} {'rule':<5} {'epoch s':>9} {'dynamics s':>11} {'ratio':>7}")
    for label, (kind, options, rules) in MODELS.items():
        for rule in rules:
            step = training_step(kind, (1, 28, 28), options, rule, args.batch_size, device)
            steps_seconds(step, 2, device)  # warm-up
            step_s = statistics.median(steps_seconds(step, args.steps, device) / args.steps
                                       for _ in range(args.repeats))
            dynamics_seconds(kind, options, rule, probes, device)
            record_s = statistics.median(dynamics_seconds(kind, options, rule, probes, device)
                                         for _ in range(args.repeats))
            epoch_s = step_s * steps_per_epoch
            print(f"{label:<22} {rule:<5} {epoch_s:>9.2f} {record_s:>11.3f} {(epoch_s + record_s) / epoch_s:>7.3f}")


if __name__ == "__main__":
    main()
