"""The same SNN (784-hidden-10, direct input repeated over T, non-spiking mean readout) in SpikingJelly
and snnTorch, for `gpu.py`: each builder returns {"forward", "bptt"} callables, or None when the
library does not import. Only the benchmarks use them; bioplaus never imports them."""

import importlib.metadata
import inspect

import torch
import torch.nn.functional as F
from torch import nn

TAU, THRESHOLD = 5.0, 0.5  # bioplaus's `fast` preset: decay 0.8, gain 0.2 per step


def versions() -> str:
    found = []
    for package in ("spikingjelly", "snntorch"):
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{package} not installed")
    return ", ".join(found)


def _steps(run, params, batch, device):
    """{"forward": no-grad pass in eval mode, "bptt": forward, cross-entropy, backward, Adam step}."""
    g = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 784, generator=g).to(device)
    labels = torch.randint(0, 10, (batch,), generator=g).to(device)
    optimizer = torch.optim.Adam(params, lr=1e-3, **({"fused": True} if device.type == "cuda" else {}))

    def forward():
        with torch.no_grad():
            run(images)

    def bptt():
        loss = F.cross_entropy(run(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return {"forward": forward, "bptt": bptt}


def _linears(hidden, device):
    widths = [784, *hidden, 10]
    return nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:])).to(device)


def _jelly_node(neuron, surrogate, device):
    """A multi-step LIFNode. SpikingJelly 2 picks its fused kernels itself; before 2, the fastest of the
    `backend`s that runs here."""
    options = dict(tau=TAU, v_threshold=THRESHOLD, v_reset=0.0, detach_reset=True,
                   surrogate_function=surrogate.Sigmoid(), step_mode="m")
    backends = ("cupy", "torch") if "backend" in inspect.signature(neuron.LIFNode).parameters else (None,)
    for backend in backends:
        try:
            node = neuron.LIFNode(**options, **({} if backend is None else {"backend": backend})).to(device)
            node(torch.zeros(2, 1, 4, device=device))
            node.reset()
            return node
        except (ImportError, NotImplementedError, AssertionError, RuntimeError):  # that backend is absent here
            continue
    raise RuntimeError("no SpikingJelly LIF backend runs here")


def spikingjelly(hidden, batch, steps, device):
    try:
        from spikingjelly.activation_based import functional, neuron, surrogate
    except ImportError:
        return None
    linears = _linears(hidden, device)
    nodes = nn.ModuleList(_jelly_node(neuron, surrogate, device) for _ in hidden)

    def run(images):
        h = images.unsqueeze(0).expand(steps, *images.shape)  # [T, B, 784]
        for linear, node in zip(linears, nodes):
            h = node(linear(h))
        logits = linears[-1](h).mean(0)
        functional.reset_net(nodes)
        return logits
    return _steps(run, linears.parameters(), batch, device)


def snntorch(hidden, batch, steps, device):
    try:
        import snntorch as snn
    except ImportError:
        return None
    linears = _linears(hidden, device)
    leaky = [snn.Leaky(beta=1 - 1 / TAU, threshold=THRESHOLD, reset_mechanism="zero") for _ in hidden]

    def run(images):
        membranes = [lif.init_leaky() for lif in leaky]
        total = 0.0
        for _ in range(steps):
            h = images
            for i, lif in enumerate(leaky):
                h, membranes[i] = lif(linears[i](h) / TAU, membranes[i])
            total = total + linears[-1](h)
        return total / steps
    return _steps(run, linears.parameters(), batch, device)


BUILDERS = {"SpikingJelly": spikingjelly, "snnTorch": snntorch}
