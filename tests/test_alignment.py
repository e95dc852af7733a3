"""Weight alignment: the angle between each block's feedback and the forward path it stands in for
(FA: the block's weight; DFA family: the transpose of the mean Jacobian from the block to the logits)."""

import pytest
import torch

from trainers import build_model, load_dataset
from trainers.rules.alignment import angle_degrees, weight_alignment
from trainers.rules.jacobians import mean_jacobians

IMAGES = load_dataset("digits", "train")[0][:60]


def _model(kind, rule, **options):
    return build_model(kind, rule, (1, 8, 8), 10, seed=0, **options)


def _hand_jacobians(model, images):
    """Mean over images of ∂logits/∂h_l by torch.func.jacrev on each image alone, through the blocks."""
    names = model.hidden_names

    def logits_from(name, h):
        for later in list(model.blocks)[list(model.blocks).index(name) + 1:]:
            h = model.blocks[later](h)
        return h[0]
    outputs = model.block_outputs(images)[1]
    return {name: torch.stack([torch.func.jacrev(lambda h: logits_from(name, h))(outputs[name][i:i + 1].detach())
                               .flatten(1) for i in range(len(images))]).mean(0) for name in names}


def test_mean_jacobians_equal_per_image_jacobians_of_a_cnn():
    model = _model("cnn", "dfa").eval()
    got, hand = mean_jacobians(model, IMAGES[:8]), _hand_jacobians(model, IMAGES[:8])
    for name in model.hidden_names:
        torch.testing.assert_close(got[name], hand[name], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind,rule,options", [("mlp", "dfa", {"hidden": "32,16"}), ("cnn", "dkp", {}),
                                               ("snn", "dfa", {"hidden": "24", "time_steps": 5}),
                                               ("snn", "adfa", {"hidden": "24,12", "time_steps": 5})])
def test_feedback_set_to_the_true_transpose_is_0_degrees_and_an_orthogonal_one_90(kind, rule, options, device):
    model = _model(kind, rule, **options).to(device).eval()
    images = IMAGES.to(device)
    before = weight_alignment(model, images)
    assert set(before) == set(model.hidden_names) and all(60 < a < 120 for a in before.values()), before
    targets = {name: j.T for name, j in mean_jacobians(model, images).items()}
    with torch.no_grad():
        for name, target in targets.items():
            model.feedback[name].copy_(target)
    assert all(a < 1e-3 for a in weight_alignment(model, images).values())
    with torch.no_grad():
        for name, target in targets.items():
            b = torch.randn_like(target)
            model.feedback[name].copy_(b - (b * target).sum() / (target * target).sum() * target)
    assert weight_alignment(model, images) == pytest.approx({n: 90.0 for n in targets}, abs=1e-4)


def test_a_spiking_readout_jacobian_is_the_readout_weight():
    """logits = W_out mean_t(s_t) + b, so ∂logits/∂rate = Σ_t ∂logits/∂s_t = W_out exactly."""
    model = _model("snn", "dkp", hidden="24", time_steps=4).eval()
    torch.testing.assert_close(mean_jacobians(model, IMAGES)["fc1"], model.weight_layers()["out"].weight.detach())


def test_fa_feedback_equal_to_the_forward_weight_is_0_degrees_and_a_random_one_about_90():
    model = _model("cnn", "fa")
    random = weight_alignment(model, IMAGES)
    assert set(random) == {"conv2", "fc1", "out"}  # the first block's input is the image: no feedback
    assert all(80 < a < 100 for a in random.values()), random
    with torch.no_grad():
        for name in random:
            model.feedback[name].copy_(model.weight_layers()[name].weight)
    assert all(a < 1e-3 for a in weight_alignment(model, IMAGES).values())


def test_bp_has_no_feedback_to_align_and_the_angle_is_in_degrees():
    assert weight_alignment(_model("mlp", "bp"), IMAGES) == {}
    a = torch.tensor([1.0, 0.0])
    assert angle_degrees(a, a) == 0 and angle_degrees(a, torch.tensor([0.0, 2.0])) == 90
    assert angle_degrees(a, -a) == 180 and angle_degrees(a, torch.tensor([1.0, 1.0])) == pytest.approx(45)
