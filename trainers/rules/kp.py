"""Kolen–Pollack (Kolen & Pollack 1994; Akrout et al. 2019): FA whose backward weights learn. Through FA's
objective, B_l's gradient is δ_lᵀ x_l, exactly W_l's, so B_l takes W_l's update; B and W sit in one optimiser
(the forward one: same law, learning rate and schedule) with the same weight decay, so B − W shrinks by that
decay every step and B → W: the layer-wise counterpart of DKP.
"""

from trainers.rules.fa import FA


class KP(FA):
    name = "kp"
    label = "KP"
    color = "#E7298A"  # a magenta (ColorBrewer Dark2), far from the class palette and the other rules
    trainable_feedback = True
    steps_with_forward = True  # B in the forward optimiser (trainers.loop.optim)
    weight_decay = 1e-4  # on W and B when the run asks for none: without it B − W never shrinks
    # SGD-Nesterov: a linear update, so W and B receiving the same gradient move by the same step and their
    # difference decays by (1 − lr · weight_decay) (Adam's normalised steps would not keep that exact)
    defaults = {"optimizer": "nesterov", "lr": 1e-2}
