"""Direct Kolen–Pollack (Webster et al. 2020): DFA whose feedback matrices learn with ∇B_l = eᵀ h_l.

The DFA objective already has gradient hᵀe with respect to B; making B a parameter is all it takes.
"""

from .dfa import DFA


class DKP(DFA):
    name = "dkp"
    trainable_feedback = True
    # Reference optimisers: forward SGD-Nesterov (momentum 0.9), feedback Adam lr 1e-4, wd 1e-6. The
    # reference forward lr is 5e-4 at a constant rate; under our one-cycle schedule and batch-mean loss
    # a peak of 2e-3 learns in a few epochs (`--lr 5e-4 --schedule constant` restores the reference).
    defaults = {"optimizer": "nesterov", "lr": 2e-3}
