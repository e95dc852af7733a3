"""The network's Jacobian from each hidden block's output to the logits, averaged over a batch: the
forward path that a direct feedback matrix B_l (DFA, aDFA, DKP) stands in for."""

import torch


def mean_jacobians(model, images) -> dict[str, torch.Tensor]:
    """{hidden block: J_l [classes, D_l]}, the mean over `images` of ∂logits/∂h_l with h_l the block's output
    flattened. In a spiking network h_l is the block's firing rate: ∂/∂rate = Σ_t ∂/∂s_t under BPTT's
    surrogate gradient. One backward pass per class, in the model's current mode."""
    with torch.enable_grad():
        logits, outputs = model.block_outputs(images)
        names, classes = list(outputs), logits.shape[1]
        rows = {name: [] for name in names}
        for k in range(classes):
            grads = torch.autograd.grad(logits[:, k].sum(), [outputs[n] for n in names],
                                        retain_graph=k < classes - 1, allow_unused=True)
            for name, grad in zip(names, grads):
                grad = torch.zeros_like(outputs[name]) if grad is None else grad
                if model.spiking:  # spikes [T, batch, ...]: a uniform change of the rate
                    grad = grad.sum(0)
                rows[name].append(grad.flatten(1).mean(0))
    return {name: torch.stack(rows[name]).detach() for name in names}
