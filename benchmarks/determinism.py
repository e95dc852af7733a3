"""The cost of a seed that fixes a GPU run: training-step time with PyTorch's deterministic algorithms
(bioplaus's default) against the same step with them off, and with TF32 on top (`--nondeterministic
--tf32`), on the same models, batches and device, interleaved; the median over repeats.

    python benchmarks/determinism.py [--batch-size 128] [--steps 20] [--repeats 5] [--device auto]

Ratios are time / time of the deterministic step: below 1 means the opt-out is faster. On the CPU
all three run the same kernels (ratios ~1); the numbers that matter are CUDA's.
"""

import statistics

import torch

from trainers.precision import run_numerics
from trainers import resolve_device

from throughput import step_parser, steps_seconds, training_step

SETTINGS = {"deterministic": dict(deterministic=True, tf32=False),
            "nondeterministic": dict(deterministic=False, tf32=False),
            "nondeterministic+tf32": dict(deterministic=False, tf32=True)}
MODELS = {"cnn 28x28": ("cnn", {}), "mlp 784-1000-10": ("mlp", {"hidden": "1000"}),
          "snn 784-1000-10 T=25": ("snn", {"hidden": "1000", "time_steps": 25})}


def _seconds(step, steps, device, setting):
    with run_numerics(**SETTINGS[setting]):
        return steps_seconds(step, steps, device)


def main(argv=None):
    parser = step_parser(__doc__)
    parser.add_argument("--rules", default="bp,dfa")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {device} ({name}), torch {torch.__version__}, batch {args.batch_size}, "
          f"{args.steps} steps x {args.repeats} repeats (median)")
    print(f"{'model':<22} {'rule':<4} {'deterministic ms':>16} " + " ".join(f"{s:>22}" for s in list(SETTINGS)[1:]))
    for label, (kind, options) in MODELS.items():
        for rule in args.rules.split(","):
            step = training_step(kind, (1, 28, 28), options, rule, args.batch_size, device)
            for setting in SETTINGS:
                _seconds(step, 3, device, setting)  # warm-up: allocator, cuDNN plans of each setting
            times = {s: [] for s in SETTINGS}
            for repeat in range(args.repeats):
                order = list(SETTINGS)[repeat % 3:] + list(SETTINGS)[:repeat % 3]
                for setting in order:
                    times[setting].append(_seconds(step, args.steps, device, setting))
            median = {s: statistics.median(t) / args.steps for s, t in times.items()}
            base = median["deterministic"]
            ratios = " ".join(f"{median[s] / base:>22.2f}" for s in list(SETTINGS)[1:])
            print(f"{label:<22} {rule:<4} {base * 1e3:>16.2f} {ratios}")


if __name__ == "__main__":
    main()
