"""FGSM and PGD: the hand-computed sign step, the three modes, and the sanity checks of Carlini et al."""

import warnings

import numpy as np
import pytest
import torch

from bioplaus_analysis import accuracy, fgsm, input_gradient, pgd, robustness_curves
from bioplaus_analysis.features import analysis_sample
from trainers import ConfigError, build_model, load_run


@pytest.fixture(scope="module")
def digits_eval():
    sample = analysis_sample("digits", 30, seed=1)
    return sample.images, sample.labels


def test_fgsm_is_the_hand_computed_sign_step_clamped_to_pixels(device):
    model = build_model("mlp", "bp", (1, 3, 3), 4, seed=0, hidden="6", mean=[0.4], std=[0.3]).double().eval()
    model = model.to(device)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 1, 3, 3, generator=g, dtype=torch.float64)
    x[0, 0, 0] = torch.tensor([0.0, 1.0, 0.99], dtype=torch.float64)  # pixels at and near the bounds
    x, y = x.to(device), torch.tensor([0, 1, 2, 3, 0], device=device)
    W1, b1 = model.blocks.fc1[1].weight, model.blocks.fc1[1].bias
    W2, b2 = model.blocks.out[0].weight, model.blocks.out[0].bias
    mean, std = model.norm.mean.item(), model.norm.std.item()  # 0.4 and 0.3 as float32
    a1 = ((x.flatten(1) - mean) / std) @ W1.T + b1
    logits = a1.clamp_min(0) @ W2.T + b2
    e = (torch.softmax(logits, 1) - torch.nn.functional.one_hot(y, 4).to(logits)) / len(y)
    grad = ((e @ W2) * (a1 > 0)) @ W1 / std  # dL/dx by hand
    eps = 0.05
    expected = (x + eps * grad.sign().view_as(x)).clamp(0, 1)
    adversarial = fgsm(model, x, y, eps)
    torch.testing.assert_close(adversarial, expected.detach(), rtol=0, atol=1e-15)
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert ((adversarial - x).abs() <= eps + 1e-12).all()
    torch.testing.assert_close(input_gradient(model, x, y), grad.view_as(x).detach(), rtol=1e-10, atol=1e-14)


def test_dfa_true_attack_differs_from_feedback_and_is_at_least_as_strong(digits_runs, digits_eval):
    model, _ = load_run(digits_runs["cnn-dfa"])
    x, y = digits_eval
    assert (input_gradient(model, x, y) != 0).any()  # the true input gradient is not masked
    for eps in (0.1, 0.2):
        true, feedback = fgsm(model, x, y, eps, "true"), fgsm(model, x, y, eps, "feedback")
        assert not torch.equal(true, feedback)
        assert accuracy(model, true, y) <= accuracy(model, feedback, y)
    # for BP the rule's own gradient is the true gradient
    bp, _ = load_run(digits_runs["cnn-bp"])
    torch.testing.assert_close(input_gradient(bp, x, y, "feedback"), input_gradient(bp, x, y, "true"))


def test_attack_sanity_checks(digits_runs, digits_eval, device):
    x, y = (t.to(device) for t in digits_eval)
    models = {name: load_run(digits_runs[name], device)[0] for name in ("cnn-bp", "cnn-dfa")}
    eps = [0.0, 0.05, 0.1, 0.2]
    curves, transfer = robustness_curves(models, x, y, eps, pgd_steps=5)
    for name, model in models.items():
        clean = accuracy(model, x, y)
        fgsm_true, pgd_true = curves[name]["fgsm"]["true"], curves[name]["pgd"]["true"]
        assert fgsm_true[0] == clean == pgd_true[0]  # ε = 0 is the clean accuracy
        assert all(a >= b for a, b in zip(pgd_true, pgd_true[1:]))  # falls with ε
        assert all(p <= f + 1e-9 for p, f in zip(pgd_true, fgsm_true))  # PGD at least as strong as FGSM
        assert pgd_true[-1] < clean - 0.2
    for attack_name, matrix in transfer.items():
        assert matrix.shape == (len(eps), 2, 2)
        for k in range(1, len(eps)):  # white box at least as strong as transfer from the other model
            assert matrix[k, 0, 0] <= matrix[k, 1, 0] and matrix[k, 1, 1] <= matrix[k, 0, 1], attack_name
        assert matrix[2, 1, 1] == curves["cnn-dfa"][attack_name]["true"][2]


def test_pgd_stays_in_the_ball_and_is_seeded(digits_runs, digits_eval, device):
    model, _ = load_run(digits_runs["cnn-dkp"], device)
    x, y = (t.to(device) for t in digits_eval)
    a = pgd(model, x, y, 0.1, steps=3, seed=4)
    assert torch.equal(a, pgd(model, x, y, 0.1, steps=3, seed=4))
    assert not torch.equal(a, pgd(model, x, y, 0.1, steps=3, seed=5))
    assert ((a - x).abs() <= 0.1 + 1e-6).all() and a.min() >= 0 and a.max() <= 1


def test_transfer_uses_the_source_model(digits_runs, digits_eval):
    target, _ = load_run(digits_runs["cnn-dfa"])
    source, _ = load_run(digits_runs["cnn-bp"])
    x, y = digits_eval
    torch.testing.assert_close(fgsm(target, x, y, 0.1, "transfer", source=source), fgsm(source, x, y, 0.1))
    with pytest.raises(ConfigError, match="needs source="):
        fgsm(target, x, y, 0.1, "transfer")
    with pytest.raises(ConfigError, match="mode 'transfer' only"):
        fgsm(target, x, y, 0.1, "true", source=source)


@pytest.mark.parametrize("call, message", [
    (lambda m, x, y: fgsm(m, x, y, 1.5), r"eps must lie in \[0, 1\]"),
    (lambda m, x, y: fgsm(m, x, y, -0.1), r"eps must lie in \[0, 1\]"),
    (lambda m, x, y: fgsm(m, x, y, 0.1, mode="sideways"), "unknown attack mode 'sideways'; choose one of: "
                                                          "feedback, transfer, true"),
    (lambda m, x, y: pgd(m, x, y, 0.1, steps=0), "at least 1 step"),
])
def test_bad_attack_arguments(call, message):
    model = build_model("mlp", "bp", (1, 3, 3), 4, seed=0, hidden="6")
    with pytest.raises(ConfigError, match=message):
        call(model, torch.rand(2, 1, 3, 3), torch.tensor([0, 1]))


def test_spiking_networks_are_attacked_through_their_direct_input(digits_runs, digits_eval):
    model, _ = load_run(digits_runs["snn-dfa"])
    x, y = digits_eval
    true, feedback = fgsm(model, x, y, 0.2), fgsm(model, x, y, 0.2, "feedback")
    assert accuracy(model, true, y) < accuracy(model, x, y)
    assert not torch.equal(true, feedback)
    poisson = build_model("snn", "dfa", (1, 8, 8), 10, seed=0, hidden="8", encoding="poisson")
    with pytest.raises(ConfigError, match="has no input gradient; attacks need a differentiable input"):
        fgsm(poisson, x, y, 0.1)


def test_each_attack_step_reports_its_label_and_the_passes_it_made(digits_runs, digits_eval):
    from bioplaus_analysis.robustness import attack_passes
    x, y = digits_eval
    models = {name: load_run(digits_runs[name])[0] for name in ("cnn-bp", "cnn-dfa")}
    steps = []
    robustness_curves(models, x[:20], y[:20], [0.0, 0.1], ("pgd",), pgd_steps=3,
                      step=lambda label, gradients, forwards: steps.append((label, gradients, forwards)))
    assert steps == [("cnn-bp: pgd ε=0 (1/2)", 0, 1), ("cnn-bp: pgd ε=0.1 (2/2)", 3, 2),  # BP: no separate feedback
                     ("cnn-dfa: pgd ε=0 (1/2)", 0, 1), ("cnn-dfa: pgd ε=0.1 (2/2)", 6, 3)]
    assert attack_passes("fgsm", 0.1, 10, 4, "dfa", ("true", "feedback")) == (2, 2)
    assert attack_passes("pgd", 0.1, 10, 4, "bp", ("true", "feedback", "transfer")) == (10, 4)


def test_clean_accuracy_is_computed_once_per_run_and_fills_every_eps_zero_cell(digits_runs, digits_eval, monkeypatch):
    import bioplaus_analysis.robustness as robustness
    x, y = digits_eval
    models = {name: load_run(digits_runs[name])[0] for name in ("cnn-bp", "cnn-dfa", "cnn-fa")}
    scored, original = [], robustness.accuracy
    monkeypatch.setattr(robustness, "accuracy", lambda m, images, labels: scored.append((m, images)) or
                        original(m, images, labels))
    curves, transfer = robustness_curves(models, x[:30], y[:30], [0.0, 0.1], ("fgsm", "pgd"), pgd_steps=2)
    assert sorted(id(m) for m, images in scored if torch.equal(images, x[:30])) == \
        sorted(id(m) for m in models.values())  # three clean evaluations for 2 attacks × 3 sources × 3 targets
    for name, matrix in transfer.items():
        clean = [original(models[run], x[:30], y[:30]) for run in models]
        assert (matrix[0] == np.array(clean, dtype=np.float32)[None, :]).all()  # every source's ε = 0 row: the targets' clean accuracy
        assert [curves[run][name]["feedback"][0] for run in models] == clean


def test_fgsm_curves_take_one_gradient_pass_per_model_and_mode_and_equal_per_eps_attacks(digits_runs, digits_eval,
                                                                                        monkeypatch):
    import bioplaus_analysis.robustness as robustness
    from bioplaus_analysis.robustness import attack_passes
    x, y = digits_eval
    models = {name: load_run(digits_runs[name])[0] for name in ("cnn-bp", "cnn-dfa")}
    calls, original = [], robustness.input_gradient
    monkeypatch.setattr(robustness, "input_gradient", lambda *a: calls.append(a[3]) or original(*a))
    grid = [0.0, 0.05, 0.1, 0.2]
    curves, _ = robustness_curves(models, x[:40], y[:40], grid, ("fgsm",), modes=("true", "feedback"))
    assert calls == ["true", "true", "feedback"]  # BP once; DFA once per mode, not once per ε
    for run, model in models.items():  # the same numbers as an FGSM computed afresh for every ε
        for mode in ("true", "feedback"):
            expected = [accuracy(model, fgsm(model, x[:40], y[:40], eps, mode), y[:40]) if eps else
                        accuracy(model, x[:40], y[:40]) for eps in grid]
            assert curves[run]["fgsm"][mode] == expected
    assert [attack_passes("fgsm", eps, 10, 2, "dfa", ("true", "feedback"), grid)[0] for eps in grid] == [0, 2, 0, 0]


def test_an_eps_grid_is_sorted_and_deduplicated_and_says_so():
    from bioplaus_analysis.options import AnalysisOptions
    from bioplaus_analysis.robustness import sorted_eps
    from trainers import BioplausWarning
    with pytest.warns(BioplausWarning, match=r"ε grid 0.2,0,0.1,0.1 sorted and de-duplicated to 0,0.1,0.2"):
        assert AnalysisOptions(eps=[0.2, 0, 0.1, 0.1], eval_per_class=5).resolved("digits").eps == (0.0, 0.1, 0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an ordered grid passes silently
        assert sorted_eps([0, 0.05, 0.1]) == (0.0, 0.05, 0.1)
    with pytest.raises(ConfigError, match="the ε grid is empty"):
        sorted_eps([])
    with pytest.raises(ConfigError, match=r"eps must be a number in \[0, 1\] \(pixel units\), got 'x'"):
        sorted_eps(["x"])


def test_attacks_refuse_a_bad_batch_in_one_line():
    model = build_model("mlp", "bp", (1, 3, 3), 4, seed=0, hidden="6", mean=[0.4], std=[0.3]).eval()
    images, labels = torch.rand(5, 1, 3, 3), torch.tensor([0, 1, 2, 3, 0])
    cases = [((images, torch.tensor([0, 1, 2, 3, 4])), {}, r"labels must be integer classes 0\.\.3, got 0\.\.4"),
             ((torch.rand(5, 1, 4, 4), labels), {}, r"images of shape \(1, 4, 4\), but the model takes \(1, 3, 3\)"),
             ((images, labels), {"batch_size": 0}, "batch_size must be a positive integer, got 0"),
             ((images[:0], labels[:0]), {}, "must be one non-empty batch"),
             ((images, labels.float()), {}, "labels must be integer classes")]
    for (x, y), options, message in cases:
        with pytest.raises(ConfigError, match=message):
            fgsm(model, x, y, 0.1, **options)
        with pytest.raises(ConfigError, match=message):
            pgd(model, x, y, 0.1, steps=1, **options)


def test_the_transfer_at_one_eps_equals_the_full_matrix_there_and_its_diagonal_the_white_box_curve(digits_runs,
                                                                                                 digits_eval):
    from bioplaus_analysis.robustness import transfer_eps_of, transfer_matrices
    x, y = digits_eval
    models = {name: load_run(digits_runs[name])[0] for name in ("cnn-bp", "cnn-dfa", "cnn-dkp")}
    grid = [0.0, 0.05, 0.1, 0.2]
    curves, full = robustness_curves(models, x[:40], y[:40], grid, ("fgsm", "pgd"), pgd_steps=2)
    eps = transfer_eps_of(curves, grid, "fgsm")
    mean = np.mean([c["fgsm"]["true"] for c in curves.values()], axis=0)  # by hand: nearest half the clean one
    assert eps == grid[1 + int(np.argmin(np.abs(mean[1:] - mean[0] / 2)))]
    steps = []
    one = transfer_matrices(models, x[:40], y[:40], [eps], ("fgsm", "pgd"), pgd_steps=2,
                            step=lambda label, gradients, forwards: steps.append((label, gradients, forwards)))
    for attack_name in ("fgsm", "pgd"):
        assert one[attack_name].shape == (1, 3, 3)
        np.testing.assert_array_equal(one[attack_name][0], full[attack_name][grid.index(eps)])
        assert [one[attack_name][0, k, k] for k in range(3)] == [
            np.float32(curves[run][attack_name]["true"][grid.index(eps)]) for run in models]
    assert steps[0] == (f"cnn-bp: fgsm transfer ε={eps:g}", 1, 3) and steps[-1][1:] == (2, 3)
