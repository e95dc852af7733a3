"""Direct Kolen–Pollack (Webster et al. 2020): DFA whose feedback matrices learn with ∇B_l = eᵀ h_l."""

from trainers.rules.dfa import DFA


class DKP(DFA):
    name = "dkp"
    label = "DKP"
    color = "#009E73"  # Okabe & Ito bluish green
    trainable_feedback = True
    # Reference optimisers: forward SGD-Nesterov (momentum 0.9), feedback Adam lr 1e-4, wd 1e-6. The
    # reference forward lr is 5e-4 at a constant rate; under our one-cycle schedule and batch-mean loss
    # a peak of 1e-3 learns in a few epochs and stays stable for ten (2e-3 spikes on Fashion-MNIST;
    # `--lr 5e-4 --schedule constant` restores the reference).
    defaults = {"optimizer": "nesterov", "lr": 1e-3}

    def feedback_objective(self, model, hidden, e):
        """Σ_l (B_l · stopgrad(h_lᵀ e)).sum(): its gradient with respect to B_l (D_l, K) is h_lᵀ e.

        h_l is the block's output: post-activation in a CNN or MLP, firing rate in a spiking network."""
        # eᵀh then a transposed view: about 3x faster on CPU than the (D_l, N) @ (N, K) product.
        return sum((model.feedback[s.name] * (e.T @ s.activity.detach()).T).sum() for s in hidden)
