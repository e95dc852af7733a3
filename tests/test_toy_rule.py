"""Adding a learning rule is one class and one registry line: a toy rule defined here trains, is analysed
and is drawn in its own colour, with no edit anywhere else."""

import math

import numpy as np
import torch
from PIL import Image

from bioplaus_analysis import analyze
from bioplaus_analysis.figures import draw_figures, load_analysis
from trainers import RULES, TrainConfig, train
from trainers.rules.dfa import DFA
from trainers.store.runfiles import read_metrics


class SignDFA(DFA):
    """DFA whose feedback entries are ±1/√K (a sign-only B): a rule the package does not ship."""
    name = "sign-dfa"
    label = "sDFA"
    color = "#56B4E9"  # Okabe & Ito sky blue

    def init_feedback(self, model) -> None:
        super().init_feedback(model)
        for name in model.hidden_names:
            feedback = model.feedback[name]
            feedback.copy_(torch.where(feedback >= 0, 1.0, -1.0) / math.sqrt(model.num_classes))


def _has_colour(png, hex_colour: str) -> bool:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    pixels = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3)
    return bool((np.abs(pixels.astype(int) - rgb).max(1) <= 2).any())


def test_a_rule_defined_in_one_class_trains_analyses_and_draws_in_its_colour(tmp_path, monkeypatch):
    monkeypatch.setitem(RULES, SignDFA.name, SignDFA())  # the one registry line
    runs = [train(TrainConfig(model="cnn", rule=rule, dataset="digits", epochs=3, seed=0), tmp_path / rule,
                  progress=False) for rule in ("bp", "sign-dfa")]
    assert read_metrics(runs[1])[-1]["test_acc"] > 0.5  # chance is 0.1
    feedback = torch.load(runs[1] / "model.pt", weights_only=True)["model"]["feedback.fc1"]
    assert torch.allclose(feedback.abs(), torch.full_like(feedback, 1 / math.sqrt(10)))
    out = analyze(runs, tmp_path / "analysis", per_class=3, eval_per_class=5, embeddings=["pca"], eps=[0.0, 0.1],
                  pgd_steps=1, progress=False)
    groups = load_analysis(out).groups()
    assert [(g.rule, g.label, g.color) for g in groups] == [("bp", "BP", "#000000"), ("sign-dfa", "sDFA", "#56B4E9")]
    names = ["cosine-to-bp", "gradient-snr", "robustness", "rsa-summary"]  # figures that draw a curve or mark per rule
    drawn = draw_figures(out, tmp_path / "figures", names=names, progress=False)
    assert list(drawn) == names
    assert _has_colour(drawn["gradient-snr"][1], SignDFA.color)
    assert not _has_colour(drawn["gradient-snr"][1], RULES["fa"].color)  # a rule not analysed is not drawn
