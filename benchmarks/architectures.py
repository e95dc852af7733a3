"""Every rule on every architecture: test accuracy and seconds per epoch, one seed, as the README's table.

    python benchmarks/architectures.py [--dataset mnist-5k] [--epochs 3] [--out runs/architectures]
                                       [--device auto]

Trains (or reuses, if finished) one run per architecture × rule into --out and prints a Markdown table:
test accuracy after the last epoch and the median seconds per epoch (each epoch's training and held-out
evaluation, read from metrics.csv), and each rule's time relative to BP on the same architecture. Rerun the
same command to continue after an interruption.
"""

import argparse
import statistics
from pathlib import Path

from trainers import TrainConfig, train
from trainers.store.runfiles import epochs_done, read_metrics

ARCHITECTURES = {"CNN 2 conv": ("cnn", {}), "CNN 4 conv + BN": ("cnn", {"channels": "32,32,64,64", "norm": "batch"}),
                 "ResNet-20": ("resnet", {"depth": 20})}
RULES = ("bp", "fa", "dfa", "dkp")


def run(name, model, options, rule, args) -> Path:
    """The finished run of `rule` on architecture `name` (trained here if missing or unfinished)."""
    folder = Path(args.out) / f"{name.replace(' ', '').replace('+', '-')}-{rule}"
    config = TrainConfig(model=model, rule=rule, dataset=args.dataset, epochs=args.epochs, model_options=options,
                         device=args.device)
    if epochs_done(folder) < args.epochs:
        train(config, folder, resume=(folder / "config.json").exists(), progress=False)
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist-5k")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default="runs/architectures")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    print(f"| {args.dataset}, {args.epochs} epochs, seed 0 | " + " | ".join(r.upper() for r in RULES) + " |")
    print("| --- |" + " --- |" * len(RULES))
    for name, (model, options) in ARCHITECTURES.items():
        cells, bp_seconds = [], None
        for rule in RULES:
            rows = read_metrics(run(name, model, options, rule, args))
            seconds = statistics.median(row["seconds"] for row in rows)
            bp_seconds = bp_seconds or seconds
            cells.append(f"{rows[-1]['test_acc']:.1%}, {seconds:.1f} s ({seconds / bp_seconds:.2f}×)")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
