"""Direct Kolen–Pollack (Webster et al. 2020): DFA whose feedback matrices learn with ∇B_l = eᵀ h_l.

The DFA objective already has gradient hᵀe with respect to B; making B a parameter is all it takes.
"""

from .dfa import DFA


class DKP(DFA):
    name = "dkp"
    trainable_feedback = True
    # Reference settings: forward SGD-Nesterov lr 5e-4 momentum 0.9; feedback Adam lr 1e-4, wd 1e-6.
    defaults = {"optimizer": "nesterov", "lr": 5e-4}
