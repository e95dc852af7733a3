"""Representational dynamics: a fixed class-balanced probe set whose every hidden block's RDM is recorded at
initialisation and after every epoch, beside the weight alignment, in the run's dynamics.npz.

The RDMs (1 − Pearson r between the probes' block outputs; spike counts in a spiking network) are stored
as condensed upper triangles in float32: about 20 kB per block and epoch for 100 probes, where the
features themselves would take megabytes.
"""

import io
from pathlib import Path

import numpy as np
import torch

from trainers.devices import eval_mode
from trainers.precision import full_precision
from trainers.store.runfiles import DYNAMICS, atomic_write


def correlation_rdm(features: torch.Tensor) -> torch.Tensor:
    """[n, n] float64 RDM, 1 − Pearson r between the rows of `features` [n, ...]; a constant row (a silent
    layer) correlates with nothing, so its dissimilarity to every other row is 1."""
    x = features.reshape(len(features), -1).double()
    x = x - x.mean(1, keepdim=True)
    norm = x.norm(dim=1, keepdim=True)
    x = torch.where(norm > 0, x / norm.clamp_min(1e-300), torch.zeros_like(x))
    rdm = 1.0 - x @ x.T
    rdm = (rdm + rdm.T) / 2.0
    return rdm.fill_diagonal_(0.0)


def condensed(rdm) -> np.ndarray:
    """The upper triangle (above the diagonal) of a square RDM, row by row: n(n − 1)/2 values."""
    rdm = np.asarray(rdm)
    return rdm[np.triu_indices(len(rdm), k=1)]


def square(values) -> np.ndarray:
    """The square float64 RDM of a condensed upper triangle (`condensed`'s inverse)."""
    values = np.asarray(values, dtype=np.float64)
    n = int(round((1 + np.sqrt(1 + 8 * len(values))) / 2))
    rdm = np.zeros((n, n))
    rdm[np.triu_indices(n, k=1)] = values
    return rdm + rdm.T


@torch.no_grad()
def probe_rdms(model, images) -> dict[str, np.ndarray]:
    """{hidden block: condensed float32 RDM} of the probes, in eval mode and full float32: block outputs
    after activation in a CNN or MLP, spike counts in a spiking network (as the analysis records them)."""
    with full_precision(), eval_mode(model):
        _, outputs = model.block_outputs(images)
    spiking = model.spiking
    return {name: condensed(correlation_rdm(out.sum(0) if spiking else out).cpu().numpy()).astype(np.float32)
            for name, out in outputs.items()}


class Dynamics:
    """The per-epoch record of one run: `epochs`, and per block its probe RDMs (`rdm/<block>`, one row per
    epoch) and weight alignment in degrees (`align/<block>`), with the probes' `labels`."""

    def __init__(self, labels, split: str, rows=None):
        self.labels, self.split = np.asarray(labels), split
        self.rows = list(rows or [])  # (epoch, {key: value}) in epoch order

    def record(self, epoch: int, rdms: dict, alignment: dict) -> None:
        self.rows.append((epoch, {**{f"rdm/{k}": v for k, v in rdms.items()},
                                  **{f"align/{k}": np.float64(v) for k, v in alignment.items()}}))

    def resume(self, run_dir, first_epoch: int) -> None:
        """The rows a resumed run already wrote to dynamics.npz (if any) before epoch `first_epoch`."""
        self.rows = Dynamics.load(run_dir).rows if (Path(run_dir) / DYNAMICS).exists() else []
        self.keep_before(first_epoch)

    def keep_before(self, epoch: int) -> None:
        """Drop the rows of `epoch` and later (a resumed run records them again)."""
        self.rows = [(e, row) for e, row in self.rows if e < epoch]

    def save(self, run_dir) -> None:
        arrays = {"epochs": np.array([e for e, _ in self.rows]), "labels": self.labels, "split": np.array(self.split)}
        for key in self.rows[0][1]:
            arrays[key] = np.stack([row[key] for _, row in self.rows])
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        atomic_write(Path(run_dir) / DYNAMICS, buffer.getvalue())

    @classmethod
    def load(cls, run_dir) -> "Dynamics":
        arrays = read_dynamics(run_dir)
        keys = [k for k in arrays if "/" in k]
        rows = [(int(e), {k: arrays[k][i] for k in keys}) for i, e in enumerate(arrays["epochs"])]
        return cls(arrays["labels"], str(arrays["split"]), rows)


def read_dynamics(run_dir) -> dict | None:
    """{name: array} of a run's dynamics.npz (the names `Dynamics` writes), or None for a run without one."""
    path = Path(run_dir) / DYNAMICS
    if not path.is_file():
        return None
    with np.load(path) as data:
        return {key: data[key] for key in data.files}
