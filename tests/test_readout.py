"""The readout-only control: hidden blocks keep their initial weights bit for bit, the output block learns by
its true gradient, and the analysis measures it (SNR 0 where nothing is updated; no feedback path to attack)."""

import torch

from bioplaus_analysis import gradient_snr, robustness_curves
from trainers import TrainConfig, bp_gradient, build_model, load_dataset, load_run, rule_update, train
from trainers.store.runfiles import read_metrics


def test_readout_trains_only_the_output_block(tmp_path):
    for model, options in (("cnn", {}), ("snn", {"hidden": "32", "time_steps": 6})):
        run = train(TrainConfig(model=model, rule="readout", dataset="digits", epochs=2, model_options=options),
                    tmp_path / model, progress=False)
        trained, _ = load_run(run)
        initial = build_model(model, "readout", (1, 8, 8), 10, seed=0, **options).state_dict()
        weights = {k: v for k, v in trained.state_dict().items() if k.endswith(("weight", "bias"))}
        assert all(torch.equal(v, initial[k]) for k, v in weights.items() if not k.startswith("blocks.out."))
        assert not torch.equal(weights["blocks.out.0.weight"], initial["blocks.out.0.weight"])
        assert read_metrics(run)[-1]["test_acc"] > 0.3  # chance is 0.1: random features, a trained readout


def test_readouts_update_is_bps_gradient_for_the_output_and_nothing_else():
    model = build_model("mlp", "readout", (1, 8, 8), 10, seed=0, hidden="16").double()
    images, labels = load_dataset("digits", "train")
    images, labels = images[:32].double(), labels[:32]
    update, true = rule_update(model, images, labels), bp_gradient(model, images, labels)
    for name, value in true.items():
        expected = value if name.startswith("blocks.out.") else torch.zeros_like(value)
        torch.testing.assert_close(update[name], expected, rtol=1e-12, atol=0, msg=name)


def test_the_readout_control_is_analysed_with_zero_snr_and_no_feedback_attack():
    model = build_model("snn", "readout", (1, 8, 8), 10, seed=0, hidden="32", time_steps=6)
    images, labels = load_dataset("digits", "test")
    snr = gradient_snr(model, images[:20], labels[:20])
    assert snr["fc1"] == 0.0 and snr["out"] > 0
    curves, _ = robustness_curves({"readout": model}, images[:20], labels[:20], [0.0, 0.1], ("fgsm",),
                                  ("true", "feedback"))
    assert set(curves["readout"]["fgsm"]) == {"true"}
