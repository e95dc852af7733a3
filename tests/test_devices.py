"""Devices: 'auto' resolves to what is there, 'cuda' without a GPU is one clear error, and eval mode is
entered and left as found, even when the body fails."""

import pytest
import torch

from trainers import ConfigError, build_model, eval_mode, model_device, resolve_device


def test_auto_resolves_to_cuda_only_where_a_gpu_is(monkeypatch):
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="--device cuda was asked for but no CUDA GPU is available; pass --device cpu"):
        resolve_device("cuda")


@pytest.mark.parametrize("training", [True, False])
def test_eval_mode_restores_the_mode_it_found_even_after_an_error(training):
    model = build_model("cnn", "bp", (1, 8, 8), 10).train(training)
    with eval_mode(model) as inside:
        assert inside is model and not model.training and not model.blocks.conv1[1].training  # BatchNorm too
    assert model.training is training
    with pytest.raises(RuntimeError), eval_mode(model):
        raise RuntimeError
    assert model.training is training
    assert model_device(model) == torch.device("cpu")
