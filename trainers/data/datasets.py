"""Datasets as tensors in pixel space [0, 1]: images (N, C, H, W) float32 and labels (N,) int64.

Normalisation is the model's first layer, so an attack's epsilon means pixels for every dataset.
"""

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from trainers.errors import ConfigError, DataError, unknown_name
from trainers.data.formats import read_cifar_batch, read_idx
from trainers.data.splits import RAW, split_indices

SPLITS = ("train", "test")
VALIDATION_SEED = 0  # one validation slice per dataset, the same for every run, seed and rule
# Where system packages put datasets (Debian's dataset-fashion-mnist); BIOPLAUS_SYSTEM_DATASETS points
# elsewhere, e.g. at an empty folder to see what a machine without them sees.
SYSTEM_DATASETS = "/usr/share/datasets"


def system_dataset_folder(dataset: str) -> Path:
    """The folder a system package installs `dataset` into (read when no --data-dir is given)."""
    return Path(os.environ.get("BIOPLAUS_SYSTEM_DATASETS") or SYSTEM_DATASETS) / dataset


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset looks like and how to read it: `read(split, data_dir)` -> uint8/float arrays."""
    input_shape: tuple
    num_classes: int
    read: Callable
    needs_files: bool


def _bundled(dataset, scale):
    """A bundled dataset's fixed stratified split (trainers/data/splits.py), pixels divided by `scale`."""
    def read(split, data_dir):
        x, y = RAW[dataset]()
        idx = split_indices(dataset, split)
        side = int(round(x.shape[1] ** 0.5))
        return (x[idx] / scale).reshape(-1, 1, side, side), y[idx]
    return read


def _find(folders, stem, dataset):
    for folder in folders:
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                return folder / name
    where = ", ".join(str(f) for f in folders) or "(no folder given)"
    debian = " or apt-get install dataset-fashion-mnist" if dataset == "fashion-mnist" else ""
    raise DataError(f"{dataset}: {stem}[.gz] not found in {where}; put the standard files there "
                    f"or pass --data-dir DIR (the folder holding them){debian}")


def _idx_reader(dataset, default_folder=None):
    def read(split, data_dir):
        folders = []
        if data_dir is not None:
            base = Path(data_dir)
            folders += [base, base / dataset, base / dataset.upper() / "raw"]
        elif default_folder is not None:
            folders.append(system_dataset_folder(default_folder))
        prefix = "train" if split == "train" else "t10k"
        images_path = _find(folders, f"{prefix}-images-idx3-ubyte", dataset)
        images = read_idx(images_path)
        if images.dtype.kind == "f" and not np.isfinite(images).all():
            raise DataError(f"{images_path} holds NaN or infinite pixels; re-download it or clean the file")
        labels = read_idx(_find(folders, f"{prefix}-labels-idx1-ubyte", dataset))
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataError(f"{dataset}: {prefix} images have shape {images.shape}, expected (N, 28, 28)")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(f"{dataset}: {len(images)} {prefix} images but labels of shape {labels.shape}")
        return images[:, None] / np.float32(255.0), labels
    return read


def _cifar10(split, data_dir):
    if data_dir is None:
        raise DataError("cifar10: no data folder given; download the CIFAR-10 python version and "
                        "pass --data-dir DIR (the folder holding cifar-10-batches-py/ or data_batch_1..5)")
    base = Path(data_dir)
    folder = base / "cifar-10-batches-py" if (base / "cifar-10-batches-py").is_dir() else base
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataError(f"cifar10: {', '.join(missing)} not found in {folder}; pass --data-dir DIR "
                        "(the folder holding cifar-10-batches-py/ from the CIFAR-10 python version)")
    batches = [read_cifar_batch(folder / n) for n in names]
    return (np.concatenate([b[0] for b in batches]) / np.float32(255.0),
            np.concatenate([b[1] for b in batches]))


DATASETS = {
    "digits": DatasetSpec((1, 8, 8), 10, _bundled("digits", 16.0), needs_files=False),
    "mnist-5k": DatasetSpec((1, 28, 28), 10, _bundled("mnist-5k", 255.0), needs_files=False),
    "fashion-mnist": DatasetSpec((1, 28, 28), 10, _idx_reader("fashion-mnist", "fashion-mnist"), True),
    "mnist": DatasetSpec((1, 28, 28), 10, _idx_reader("mnist"), needs_files=True),
    "cifar10": DatasetSpec((3, 32, 32), 10, _cifar10, needs_files=True),
}


def dataset_spec(name: str) -> DatasetSpec:
    """The DatasetSpec registered under `name`, or a ConfigError listing the valid names."""
    if name not in DATASETS:
        raise unknown_name("dataset", name, DATASETS)
    return DATASETS[name]


@lru_cache(maxsize=8)
def _load_arrays(name, split, data_dir):
    spec = dataset_spec(name)
    images, labels = spec.read(split, data_dir)
    images = np.ascontiguousarray(images, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= spec.num_classes):
        raise DataError(f"{name}: labels span {labels.min()}..{labels.max()}, "
                        f"expected 0..{spec.num_classes - 1}; the label file is corrupt")
    return images, labels


def load_dataset(name: str, split: str, data_dir=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a dataset split as (images (N, C, H, W) float32 in [0, 1], labels (N,) int64)."""
    if split not in SPLITS:
        raise unknown_name("split", split, SPLITS)
    images, labels = _load_arrays(name, split, None if data_dir is None else str(Path(data_dir)))
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.copy())


def stratified_sample(labels, per_class: int, seed: int = 0) -> torch.Tensor:
    """Indices of `per_class` examples of every class, grouped by class in ascending order.

    The choice within a class is random but fixed by `seed`, so analyses see the same images.
    """
    labels = torch.as_tensor(labels)
    if per_class < 1:
        raise ConfigError(f"per_class must be a positive integer, got {per_class}")
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for cls in torch.unique(labels).tolist():
        members = torch.nonzero(labels == cls).flatten()
        if len(members) < per_class:
            raise ConfigError(f"class {cls} has only {len(members)} examples, fewer than "
                              f"per_class={per_class}; pass a smaller per_class")
        pick = members[torch.randperm(len(members), generator=generator)[:per_class]]
        chosen.append(pick.sort().values)
    return torch.cat(chosen)


def check_fraction(fraction) -> None:
    """ConfigError unless `fraction` is a validation fraction, 0 ≤ fraction < 1."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise ConfigError(f"--validation must be a fraction from 0 to below 1, got {fraction!r}")


def validation_split(labels, fraction: float, seed: int = VALIDATION_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, validation indices) of a training split, both sorted: `fraction` of every class
    (at least one image of a class that has two) is held out, chosen at random but fixed by `seed`.

    Selection (learning rates, recipes) reads the validation slice; the test split gives final numbers only.
    """
    labels = torch.as_tensor(labels)
    check_fraction(fraction)
    generator = torch.Generator().manual_seed(seed)
    held = [torch.zeros(0, dtype=torch.int64)]
    for cls in torch.unique(labels).tolist() if fraction > 0 else []:
        members = torch.nonzero(labels == cls).flatten()
        size = min(max(1, round(fraction * len(members))), len(members) - 1)
        held.append(members[torch.randperm(len(members), generator=generator)[:size]])
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[torch.cat(held)] = False
    return torch.nonzero(keep).flatten(), torch.nonzero(~keep).flatten()


def channel_stats(images: torch.Tensor) -> tuple[list, list]:
    """Per-channel mean and standard deviation of (N, C, H, W) images, for the model's Normalize layer."""
    flat = images.transpose(0, 1).reshape(images.shape[1], -1).double()
    return flat.mean(1).tolist(), flat.std(1).clamp_min(1e-6).tolist()
