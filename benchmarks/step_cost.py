"""What one training step of each rule costs on the SNN, relative to BPTT: time and peak memory at several T.

    python benchmarks/step_cost.py [--batch-size 128] [--time-steps 10,25,100] [--repeats 7] [--device auto]

SNN 784-1000-250-100-10, direct encoding, the trainer's own `train_step` with Adam (`throughput.step_parts`).
Time: median over repeats, rules interleaved so that machine load affects them alike. Peak memory: each
(rule, T) in a fresh process; on CUDA `max_memory_allocated` over the steps, on the CPU the growth of the
process's peak resident set (Linux VmHWM, reset after two warm-up steps; glibc returns every freed large
block) over its size before the measured steps. The DFA family's ratios are
what its algorithm promises: no backward pass through the network or through time. The readout control
(hidden blocks frozen, one forward without their graph) is the floor any rule's step stands on.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

import torch

from trainers import resolve_device

from throughput import steps_seconds, training_step

RULES = ("bp", "dfa", "adfa", "dkp", "readout")  # readout: the control, only the output block learns
HIDDEN = "1000,250,100"


def _step(rule, steps, batch, device):
    return training_step("snn", (1, 28, 28), {"hidden": HIDDEN, "time_steps": steps}, rule, batch, device)


def times(steps, batch, repeats, device) -> dict:
    """{rule: ms per step} at `steps` time steps."""
    calls = {rule: _step(rule, steps, batch, device) for rule in RULES}
    for call in calls.values():
        steps_seconds(call, 2, device)  # warm-up: allocator, optimiser state
    samples = {rule: [] for rule in RULES}
    for _ in range(repeats):
        for rule, call in calls.items():
            samples[rule].append(steps_seconds(call, 1, device) * 1e3)
    return {rule: statistics.median(values) for rule, values in samples.items()}


def _resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()


def _peak_resident_bytes() -> int:
    """VmHWM: the process's peak resident set since start or since the last reset through clear_refs."""
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def peak_bytes(rule, steps, batch, device) -> int:
    """Memory one step of `rule` adds at its peak (run in a process of its own: see the module's doc)."""
    call = _step(rule, steps, batch, device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        steps_seconds(call, 2, device)
        return torch.cuda.max_memory_allocated(device) - before
    steps_seconds(call, 2, device)  # warm-up: the libraries' own first-call buffers are not the step's
    Path("/proc/self/clear_refs").write_text("5")  # Linux: the peak resident set starts again from now
    before = _resident_bytes()
    steps_seconds(call, 2, device)
    return _peak_resident_bytes() - before


def peak_in_child(rule, steps, batch, device) -> int:
    code = ("import sys, json; sys.path.insert(0, %r); import step_cost, torch; "
            "print(json.dumps(step_cost.peak_bytes(%r, %d, %d, torch.device(%r))))"
            % (str(Path(__file__).parent), rule, steps, batch, str(device)))
    # a fixed mmap threshold: glibc maps every large tensor and unmaps it when freed, so the resident set
    # follows the live tensors (its default raises the threshold after frees and keeps freed memory)
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return json.loads(done.stdout.splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--time-steps", default="10,25,100")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(f"SNN 784-{HIDDEN.replace(',', '-')}-10, batch {args.batch_size}, {device.type}: one training step per rule")
    print(f"{'T':>4} {'rule':<6} {'ms':>9} {'BPTT / rule':>12} {'peak MiB':>10} {'rule / BPTT':>12}")
    for steps in (int(t) for t in args.time_steps.split(",")):
        ms = times(steps, args.batch_size, args.repeats, device)
        peaks = {rule: peak_in_child(rule, steps, args.batch_size, device) for rule in RULES}
        for rule in RULES:
            print(f"{steps:>4} {rule:<6} {ms[rule]:>9.1f} {ms['bp'] / ms[rule]:>11.2f}x {peaks[rule] / 2**20:>10.1f} "
                  f"{peaks[rule] / peaks['bp']:>12.2f}")
    print("targets: DFA/aDFA/DKP step >= 1.5x faster than BPTT; its peak memory <= 1/2 of BPTT's at T = 25")


if __name__ == "__main__":
    main()
