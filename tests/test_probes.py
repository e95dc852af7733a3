"""dynamics.npz: the probe set's RDMs and the weight alignment at initialisation and after every epoch."""

import numpy as np
import pytest
import torch

from trainers import TrainConfig, build_model, load_dataset, load_run, train
from trainers.data.datasets import stratified_sample, validation_split
from trainers.store.probes import condensed, correlation_rdm, probe_rdms, read_dynamics, square
from trainers.store.runfiles import load_checkpoint, read_metrics

from bioplaus_analysis.rsa import rdm_matrix


def test_correlation_rdm_equals_the_analysis_rdm_and_condensed_round_trips():
    x = torch.randn(12, 30, dtype=torch.float64)
    x[3] = 0.5  # a constant pattern: dissimilarity 1 to everything else
    rdm = correlation_rdm(x).numpy()
    np.testing.assert_allclose(rdm, rdm_matrix(x.numpy(), "correlation"), atol=1e-12)
    assert np.allclose(rdm[3, [0, 1, 2, 4]], 1.0)
    np.testing.assert_array_equal(square(condensed(rdm)), rdm)
    assert len(condensed(rdm)) == 12 * 11 // 2


@pytest.mark.parametrize("model,options", [("cnn", {}), ("snn", {"hidden": "32", "time_steps": 5})])
def test_training_records_probe_rdms_and_alignment_from_initialisation_on(tmp_path, model, options, device):
    config = TrainConfig(model=model, rule="dfa", dataset="digits", epochs=2, batch_size=64, probes_per_class=4,
                         model_options=options, device=device.type)
    run = train(config, tmp_path / "run", progress=False)
    dynamics, rows = read_dynamics(run), read_metrics(run)
    blocks = build_model(model, "dfa", (1, 8, 8), 10, seed=0, **options).hidden_names
    assert list(dynamics["epochs"]) == [0, 1, 2] and str(dynamics["split"]) == "validation"
    assert sorted(dynamics["labels"].tolist()) == sorted(list(range(10)) * 4)
    for name in blocks:
        assert dynamics[f"rdm/{name}"].shape == (3, 40 * 39 // 2)
        assert dynamics[f"rdm/{name}"].dtype == np.float32
        assert [r[f"align/{name}"] for r in rows] == list(dynamics[f"align/{name}"][1:])
    # the last row is the trained model's RDM of the same probes, recomputed from the saved run
    x, y = load_dataset("digits", "train")
    _, held_out = validation_split(y, 0.1)
    rows = stratified_sample(y[held_out], 4, seed=0)  # the probes: a fixed stratified sample of the slice
    assert y[held_out][rows].tolist() == dynamics["labels"].tolist()
    recomputed = probe_rdms(load_run(run, device)[0], x[held_out][rows].to(device))
    for name in blocks:
        np.testing.assert_allclose(recomputed[name], dynamics[f"rdm/{name}"][-1], atol=1e-6)


def test_no_probes_means_no_dynamics_file_and_no_alignment_columns(tmp_path):
    config = TrainConfig(model="mlp", rule="fa", dataset="digits", epochs=1, probes_per_class=0)
    run = train(config, tmp_path / "run", progress=False)
    assert read_dynamics(run) is None
    assert not [key for key in read_metrics(run)[0] if key.startswith("align/")]


@pytest.mark.parametrize("value", [-1, 1.5, True])
def test_a_bad_probe_count_is_one_clear_error(value):
    from trainers import ConfigError
    with pytest.raises(ConfigError, match="--probes-per-class must be 0"):
        TrainConfig(dataset="digits", probes_per_class=value).resolved()


def test_recording_dynamics_leaves_training_bit_identical(tmp_path):
    """The record runs in eval mode with torch's RNG forked: the same seed trains the same weights with and
    without probes (Poisson encoding draws from that RNG)."""
    runs = {}
    for probes in (0, 5):
        config = TrainConfig(model="snn", rule="dkp", dataset="digits", epochs=2, batch_size=64,
                             probes_per_class=probes, model_options={"hidden": "32", "time_steps": 4, "encoding": "poisson"})
        runs[probes] = train(config, tmp_path / str(probes), progress=False)
    rows = [[{k: v for k, v in row.items() if k != "seconds" and not k.startswith("align/")} for row in read_metrics(r)]
            for r in runs.values()]
    assert rows[0] == rows[1]
    a, b = (load_checkpoint(r)["model"] for r in runs.values())
    assert all(torch.equal(a[k], b[k]) for k in a)
