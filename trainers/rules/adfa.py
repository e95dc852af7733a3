"""Augmented DFA (Zhang et al. 2024): DFA for spiking networks with the neuron's derivative f′
replaced by a chosen function g of the input current, δ_l,t = (B_l e) ⊙ g(I_l,t − θ).

g is the model option `g` (see `trainers.snn.surrogates`), so it is saved with the run.
"""

from trainers.rules.dfa import DFA


class ADFA(DFA):
    name = "adfa"
    label = "aDFA"
    color = "#CC79A7"  # Okabe & Ito reddish purple
    uses_g = True
    spiking = True  # g replaces a spiking neuron's derivative
    feedback_through = "B, times g(I − θ)\nfor the spike derivative"  # the schematic's words for it
