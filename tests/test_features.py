"""Layer features: block outputs in eval mode (CNN), spike counts (SNN), independent of batching."""

import numpy as np
import torch

from bioplaus_analysis import record_features
from bioplaus_analysis.features import analysis_sample
from trainers import load_run


def test_features_are_block_outputs_in_eval_mode_and_independent_of_batching(digits_runs):
    model, _ = load_run(digits_runs["cnn-bp"])
    model.train()
    sample = analysis_sample("digits", 4)
    features = record_features(model, sample.images, sample.labels, batch_size=7)
    assert model.training  # mode restored
    assert list(features.layers) == ["input", "conv1", "conv2", "fc1", "out"]
    model.eval()
    with torch.no_grad():
        h, expected = model.norm(sample.images), {}
        for name, block in model.blocks.items():
            h = block(h)
            expected[name] = h.flatten(1)
    for name in ("conv1", "conv2", "fc1"):
        np.testing.assert_allclose(features.layers[name], expected[name].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(features.layers["out"], torch.softmax(expected["out"], 1).numpy(), atol=1e-6)
    np.testing.assert_array_equal(features.layers["input"], sample.images.flatten(1).numpy())
    again = record_features(model, sample.images, sample.labels, batch_size=500)
    for name in features.layers:
        np.testing.assert_allclose(features.layers[name], again.layers[name], rtol=1e-5, atol=1e-6)


def test_spiking_features_are_spike_counts(digits_runs):
    model, _ = load_run(digits_runs["snn-dfa"])
    sample = analysis_sample("digits", 3)
    features = record_features(model, sample.images, sample.labels)
    assert features.measure == "spike count"
    counts = model.record(sample.images).counts["fc1"]
    np.testing.assert_array_equal(features.layers["fc1"], counts.numpy())
    assert features.layers["fc1"].max() <= model.time_steps
