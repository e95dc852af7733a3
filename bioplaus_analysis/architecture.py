"""What a network is and how its rule sends errors back, read from the network itself for the schematic figure:
its blocks in order with each weight layer's shape, and the rule's feedback pathway (BP: the forward weights'
transposes; the FA family: a matrix B per weight layer, from its output back to its input; the DFA family: a
matrix B per hidden block straight from the output error; the readout control: none)."""

from trainers.nets.base import NetworkBase


def feedback_kind(rule) -> str:
    """"transpose" (BP), "layer" (FA, KP, sign symmetry), "direct" (DFA, DKP, aDFA) or "none" (readout)."""
    if rule.true_gradient:
        return "transpose"
    if not rule.trains_hidden:
        return "none"
    return "layer" if rule.layer_wise else "direct"


def architecture(model) -> dict | None:
    """{"blocks": [[block, [[layer, weight shape], ...]], ...], "feedback": {"kind", "learned", "matrices": {name:
    shape}, "symbol", "through" (the rule's names for its pathway)}} of a bioplaus network; None for a module
    trained elsewhere (no rule, no feedback to draw)."""
    if not isinstance(model, NetworkBase):
        return None
    layers = model.weight_layers()
    blocks = [[block, [[name, list(layers[name].weight.shape)] for name in layers
                       if name == block or name.startswith(f"{block}.")]] for block in model.blocks]
    matrices = {name.replace("-", "."): list(tensor.shape)
                for name, tensor in [*model.feedback.named_buffers(), *model.feedback.named_parameters()]}
    return {"blocks": blocks, "input": list(model.input_shape), "classes": model.num_classes,
            "feedback": {"kind": feedback_kind(model.rule), "learned": bool(model.rule.trainable_feedback),
                         "matrices": matrices, "symbol": model.rule.feedback_symbol,
                         "through": model.rule.feedback_through}}
