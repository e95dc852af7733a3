"""`wrap`: a researcher's own `nn.Module` as a bioplaus network. Its blocks are submodules named as in
`named_modules()` ("layer1", "layer2.1", "fc"); hooks read their outputs (BP, features, Jacobians) and cut
the graph at their inputs (DFA, DKP), and FA swaps each weight layer's backward weight, so every rule trains
the module through its own forward, on the module's own weights (no copies).
"""

from contextlib import contextmanager

import torch
from torch import nn

from trainers.devices import eval_mode
from trainers.errors import ConfigError
from trainers.nets.base import WEIGHT_LAYERS, LocalSignal, NetworkBase, check_network, zero_images
from trainers.rules import get_rule


class WrappedNetwork(NetworkBase):
    """`module` (its forward gives logits, or `output(its result)` does) with `blocks` its named submodules in
    the order they run; `norm` is applied to the images first (nn.Identity: none)."""

    def __init__(self, module: nn.Module, blocks, input_shape, num_classes: int, rule, output=None,
                 norm: nn.Module | None = None, kind: str = "wrap", options: dict | None = None):
        named = dict(module.named_modules())
        super().__init__(kind, rule, norm or nn.Identity(), {name: named[name] for name in blocks}, input_shape,
                         num_classes, dict(options or {}), owned=False)
        self.module, self.output = module, output

    def forward(self, images):
        out = self.module(self.norm(images))
        return out if self.output is None else self.output(out)

    def weight_layers(self) -> dict[str, nn.Module]:
        """As `NetworkBase.weight_layers`, in the module's order, plus the layers outside every block (a stem
        before the first block) by their path in the module."""
        inside = {id(layer): name for name, layer in super().weight_layers().items()}
        return {inside.get(id(m), path): m for path, m in self.module.named_modules() if isinstance(m, WEIGHT_LAYERS)}

    def block_outputs(self, images):
        """(logits, {hidden block: its output}) of the true network, every tensor in the autograd graph."""
        outputs = {}
        with _hooks(self, keep=outputs):
            logits = self(images)
        return logits, outputs

    def local_pass(self, images, use_g: bool = False):
        """(logits, [LocalSignal per hidden block]) with every block's input detached but the first's, so a
        block learns from what reaches its output (drive(P) = (h_l · P).sum(): δ_l = P ⊙ f′ through the
        block's own layers, residual paths inside it included)."""
        if use_g:
            raise ConfigError(f"aDFA's g replaces a spiking neuron's derivative; model {self.kind!r} has none")
        outputs = {}
        with _hooks(self, keep=outputs, cut=list(self.blocks)[1:]):
            logits = self(images)
        hidden = []
        for name in self.hidden_names:
            flat = outputs[name].flatten(1)
            hidden.append(LocalSignal(name, flat, lambda projected, flat=flat: (flat * projected).sum()))
        return logits, hidden


@contextmanager
def _hooks(model: WrappedNetwork, keep: dict, cut=()):
    """Forward hooks that put each hidden block's output in `keep` (one output per block and pass), and pre-hooks
    that detach the inputs of the blocks in `cut`."""
    def keeper(name):
        def hook(_module, _inputs, output):
            if name in keep:
                raise ConfigError(f"block {name!r} ran twice in one forward pass; a block must run once")
            if not isinstance(output, torch.Tensor):
                raise ConfigError(f"block {name!r} returned {type(output).__name__}; a block must return one tensor")
            keep[name] = output
        return hook

    def detach(_module, inputs):
        return tuple(x.detach() if isinstance(x, torch.Tensor) else x for x in inputs)

    handles = [model.blocks[name].register_forward_hook(keeper(name)) for name in model.hidden_names]
    handles += [model.blocks[name].register_forward_pre_hook(detach) for name in cut]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _check_names(module: nn.Module, blocks) -> list[str]:
    """The block names as a list: each a distinct submodule, none inside another; one ConfigError otherwise."""
    if isinstance(blocks, str) or not blocks:
        raise ConfigError(f"blocks must be a list of submodule names, e.g. ['layer1', 'layer2', 'fc']; got {blocks!r}")
    blocks, named = [str(b) for b in blocks], dict(module.named_modules())
    unknown = [b for b in blocks if b not in named or b == ""]
    if unknown:
        raise ConfigError(f"{type(module).__name__} has no submodule {', '.join(map(repr, unknown))}; its children "
                          f"are {', '.join(name for name, _ in module.named_children())} (names as in named_modules())")
    if len(set(blocks)) < len(blocks):
        raise ConfigError(f"blocks name a submodule twice: {blocks}")
    nested = [(a, b) for a in blocks for b in blocks if b.startswith(a + ".")]
    if nested:
        raise ConfigError(f"block {nested[0][1]!r} lies inside block {nested[0][0]!r}; blocks may not overlap")
    return blocks


def _dry_run(model: WrappedNetwork) -> torch.Tensor:
    """One eval-mode pass of zeros that checks the blocks run once each, in the given order, and that no
    weights run outside the blocks after the first (no rule would train them); returns the logits."""
    order, late = [], []
    owned = {id(m) for block in model.blocks.values() for m in block.modules()}

    def seen(module, _inputs):
        if module in model.blocks.values():
            order.append(next(n for n, b in model.blocks.items() if b is module))
        elif order and id(module) not in owned and any(True for _ in module.parameters(recurse=False)):
            late.append(module)
    handles = [m.register_forward_pre_hook(seen) for m in model.module.modules()]
    try:
        with torch.no_grad(), eval_mode(model):
            logits = model(zero_images(model, 2))
    finally:
        for handle in handles:
            handle.remove()
    if order != list(model.blocks):
        raise ConfigError(f"the blocks ran in the order {order}, not {list(model.blocks)}; name each block once, "
                          "in the order the forward pass runs them")
    if late:
        names = [n for n, m in model.module.named_modules() if m in late]
        raise ConfigError(f"layers with weights run after block {list(model.blocks)[0]!r} outside every block "
                          f"({', '.join(names)}); no rule but BP would train them: put them inside a block")
    return logits


def wrapped_network(module: nn.Module, blocks, input_shape, rule, num_classes: int | None = None, output=None,
                    norm: nn.Module | None = None, kind: str = "wrap", options: dict | None = None) -> WrappedNetwork:
    """`module` as a network trained by the Rule object `rule`, checked by one pass of zeros, without feedback
    yet (`build_model` and `wrap` draw it)."""
    if not isinstance(module, nn.Module):
        raise ConfigError(f"a network is an nn.Module, got {type(module).__name__}")
    if len(tuple(input_shape)) != 3:
        raise ConfigError(f"input_shape must be (channels, height, width), got {tuple(input_shape)}")
    network = WrappedNetwork(module, _check_names(module, blocks), input_shape, num_classes or 0, rule, output,
                             norm, kind, options)
    logits = _dry_run(network)
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or len(logits) != 2:
        raise ConfigError(f"the module's output must be logits [batch, classes] (or pass output= to pick them); "
                          f"got {type(logits).__name__} {tuple(getattr(logits, 'shape', ()))}")
    if num_classes is not None and logits.shape[1] != num_classes:
        raise ConfigError(f"the module gives {logits.shape[1]} logits but num_classes is {num_classes}")
    network.num_classes = int(logits.shape[1])
    return network


def wrap(module: nn.Module, blocks, input_shape, rule: str = "bp", num_classes: int | None = None, output=None,
         seed: int = 0, norm: nn.Module | None = None) -> WrappedNetwork:
    """`module` as a network trained by `rule`, its `blocks` the submodules named (as in `named_modules()`) whose
    outputs the rules and analyses see, in forward order; the last gives the logits. `input_shape` is (channels,
    height, width); `output` turns the module's output into logits; `norm` is applied to the images first; the
    rule's feedback is drawn from `seed`. The weights stay the module's own. A failed check raises one
    ConfigError naming what to change."""
    network = wrapped_network(module, blocks, input_shape, get_rule(rule, "wrap", spiking=False), num_classes,
                              output, norm)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network.rule.init_feedback(network)
    check_network(network)
    return network
