"""Analysis speed against straightforward implementations, in the same run:
gradient SNR (one backward of the rule on the batch + per-layer products) vs one backward per sample,
and batched FGSM vs a per-image loop. Both sides must agree: SNR within 1e-5 relative, FGSM images
identical except at sign ties (pixels whose input gradient is zero up to rounding, counted).

    python benchmarks/analysis.py [--samples 1000] [--rules bp,fa,dfa,dkp] [--repeats 3] [--device auto]
"""

import argparse

import torch

from bioplaus_analysis import fgsm, gradient_snr, gradient_snr_loop, input_gradient
from trainers import build_model
from trainers import resolve_device

from timing import median_seconds, timed

MODELS = {"cnn 28x28": ("cnn", {}), "mlp 784-1000-10": ("mlp", {"hidden": "1000"})}


def sign_ties(model, images, labels, fast, loop, tolerance=1e-5) -> int:
    """How many pixels the batched and per-image FGSM images differ in; AssertionError unless each is a
    sign tie: a pixel whose input gradient is below `tolerance` x the largest of its image."""
    differ = fast != loop
    if differ.any():
        gradient = input_gradient(model, images, labels).abs().flatten(1)
        scale = gradient.max(1, keepdim=True).values
        ties = gradient <= tolerance * scale
        assert ties[differ.flatten(1)].all(), "batched and per-image FGSM differ beyond sign ties"
    return int(differ.sum())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--rules", default="bp,fa,dfa,dkp")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the fast side (the loop runs once)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(args.samples, 1, 28, 28, generator=g).to(device)
    labels = torch.randint(0, 10, (args.samples,), generator=g).to(device)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, {args.samples} samples")

    print("\ngradient SNR: bioplaus vs one backward per sample")
    print(f"{'model':<16} {'rule':<4} {'bioplaus s':>10} {'loop s':>8} {'speed-up':>9} {'max rel diff':>12}")
    for label, (kind, options) in MODELS.items():
        for rule in args.rules.split(","):
            model = build_model(kind, rule, (1, 28, 28), 10, seed=0, **options).to(device)
            fast_s, fast = median_seconds(lambda: gradient_snr(model, images, labels), args.repeats, device)
            loop_s, loop = timed(lambda: gradient_snr_loop(model, images, labels), device)
            diff = max(abs(fast[k] - loop[k]) / abs(loop[k]) for k in fast)
            assert diff <= 1e-5, f"SNR batched vs per-sample loop differs by {diff:.1e} (> 1e-5)"
            print(f"{label:<16} {rule:<4} {fast_s:>10.3f} {loop_s:>8.2f} {loop_s / fast_s:>8.1f}x {diff:>12.1e}")

    print("\nFGSM (true gradient): batched vs one image at a time")
    print(f"{'model':<16} {'rule':<4} {'batched s':>10} {'loop s':>8} {'speed-up':>9} {'sign ties':>9}")
    for label, (kind, options) in MODELS.items():
        for rule in ("bp", "dfa"):
            model = build_model(kind, rule, (1, 28, 28), 10, seed=0, **options).to(device).eval()
            fast_s, fast = median_seconds(lambda: fgsm(model, images, labels, 0.1), args.repeats, device)

            def per_image():
                return torch.cat([fgsm(model, images[i:i + 1], labels[i:i + 1], 0.1) for i in range(len(images))])
            loop_s, loop = timed(per_image, device)
            ties = sign_ties(model, images, labels, fast, loop)
            print(f"{label:<16} {rule:<4} {fast_s:>10.3f} {loop_s:>8.2f} {loop_s / fast_s:>8.1f}x {ties:>9}")


if __name__ == "__main__":
    main()
