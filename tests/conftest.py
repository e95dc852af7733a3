"""Shared fixtures: tiny files in the real dataset formats, written independently of the readers, and
the devices that tests which matter on both run on (CUDA too where a GPU is present).

Under pytest-xdist (`make test` runs one worker per core) each worker computes on one thread (torch,
OpenMP and BLAS, and the processes the tests start): workers with several threads each oversubscribe
the cores, and scikit-learn's t-SNE then stalls."""

import gzip
import json
import os
import pickle
import struct

if os.environ.get("PYTEST_XDIST_WORKER"):  # before numpy, torch and scikit-learn load their thread pools
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_name] = "1"

import numpy as np
import pytest
import torch

from trainers import keep_freed_memory

if os.environ.get("PYTEST_XDIST_WORKER"):
    from threadpoolctl import threadpool_limits
    torch.set_num_threads(1)
    threadpool_limits(1)

keep_freed_memory()  # as the `bioplaus` command does: large tensors reused, not faulted in afresh

# The files that take longest (seconds of one worker, `pytest --durations=0` summed per file, 2 cores), run first:
# `make test` hands whole files to its workers in collection order (--dist loadfile, --no-loadscope-reorder), so the
# long ones start at once and the short ones fill in, and both workers end together.
LONGEST_FIRST = ("test_compare.py", "test_jobs.py", "test_readme.py", "test_figures.py", "test_distributed.py",
                 "test_analyze.py", "test_factories.py", "test_interrupts.py")


def pytest_collection_modifyitems(items):
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest in their own order

# Sends SIGTERM to its own process from inside training step 30: step 9 of epoch 2 (digits: 1295 training
# images after the validation slice, 21 steps of 64).
SELF_KILL = """
import os, signal, sys
import trainers.loop.steps as steps
from bioplaus_analysis.commands.cli import main
original, calls = steps.train_step, [0]
def step(*args):
    calls[0] += 1
    if calls[0] == 30:
        os.kill(os.getpid(), signal.SIGTERM)
    return original(*args)
steps.train_step = step
sys.exit(main(sys.argv[1:]))
"""


DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Each device this machine has: the CPU, and CUDA where a GPU is present."""
    return torch.device(request.param)


IDX_CODES = {np.uint8: 0x08, np.int32: 0x0C, np.float32: 0x0D}


def write_idx(path, array, compress=None):
    """Write `array` as an IDX file (big-endian header and data), gzip-compressed if the name ends .gz."""
    array = np.asarray(array)
    header = bytes([0, 0, IDX_CODES[array.dtype.type], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    if compress if compress is not None else str(path).endswith(".gz"):
        payload = gzip.compress(payload)
    path.write_bytes(payload)
    return path


def write_mnist_like(folder, n_train=20, n_test=10, seed=0, gz=True):
    """A tiny MNIST in IDX format; returns the arrays written as {split: (images, labels)}."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out, ext = {}, ".gz" if gz else ""
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels)
        out[split] = (images, labels)
    return out


def write_cifar_like(folder, per_batch=4, seed=0):
    """A tiny CIFAR-10 python version (data_batch_1..5, test_batch); returns {split: (data, labels)}."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {"train": ([], []), "test": ([], [])}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = list(rng.integers(0, 10, size=per_batch))
        with open(folder / name, "wb") as handle:
            pickle.dump({b"data": data, b"labels": [int(v) for v in labels]}, handle)
        split = "test" if name == "test_batch" else "train"
        out[split][0].append(data)
        out[split][1].extend(labels)
    return {k: (np.concatenate(v[0]), np.array(v[1])) for k, v in out.items()}


@pytest.fixture
def mnist_dir(tmp_path):
    folder = tmp_path / "data"
    return folder, write_mnist_like(folder)


def _train_digits_runs(root) -> dict:
    from trainers import TrainConfig, train
    runs = {}
    for rule in ("bp", "dfa", "dkp", "fa"):
        config = TrainConfig(model="cnn", rule=rule, dataset="digits", epochs=4, seed=0)
        runs[f"cnn-{rule}"] = train(config, root / f"cnn-{rule}", progress=False)
    config = TrainConfig(model="snn", rule="dfa", dataset="digits", epochs=2, seed=0,
                         model_options={"hidden": "64", "time_steps": 8})
    runs["snn-dfa"] = train(config, root / "snn-dfa", progress=False)
    return runs


@pytest.fixture(scope="session")
def digits_runs(tmp_path_factory):
    """Trained runs on `digits` for the analysis tests: {name: run folder}; CNNs by BP, DFA, DKP and
    FA (4 epochs) and a small direct-encoded SNN by DFA (2 epochs). Tests only read them. Under
    pytest-xdist the first worker to ask trains them into the session's shared folder; the others wait
    for it (a file lock) and read the same runs."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return _train_digits_runs(tmp_path_factory.mktemp("digits-runs"))
    from filelock import FileLock
    root = tmp_path_factory.getbasetemp().parent / "digits-runs"  # this session's folder, shared by its workers
    with FileLock(f"{root}.lock"):
        if (root / "runs.json").is_file():
            return {name: root / name for name in json.loads((root / "runs.json").read_text())}
        runs = _train_digits_runs(root)
        (root / "runs.json").write_text(json.dumps(list(runs)))
    return runs
