"""Readers for the standard dataset file formats (IDX as used by MNIST, CIFAR-10 python batches).

Written here because torchvision does not import with the CPU build of torch this project uses.
"""

import gzip
import zlib
import io
import pickle
import struct
from pathlib import Path

import numpy as np

from trainers.errors import DataError

# IDX type codes (http://yann.lecun.com/exdb/mnist/ "THE IDX FILE FORMAT"); data is big-endian.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"cannot read {path}: {exc}; re-download it") from None


def read_idx(path) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed) into a numpy array of its stored shape."""
    path = Path(path)
    data = _read_bytes(path)
    if not data:
        raise DataError(f"{path} is empty (0 bytes); re-download it")
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number); re-download it")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated (header incomplete); re-download it")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(
            f"{path} is truncated or corrupt: header promises {expected} bytes of data for shape "
            f"{shape}, file holds {len(data) - header}; re-download it")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches without running arbitrary code: only numpy array reconstruction."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch: images (N, 3, 32, 32) uint8 and labels (N,) int64."""
    path = Path(path)
    try:
        batch = _NumpyOnlyUnpickler(io.BytesIO(_read_bytes(path)), encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DataError(f"{path} is not a CIFAR-10 python batch ({exc}); re-download it") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DataError(f"{path} holds data of shape {data.shape} with {len(labels)} labels; "
                        "expected (N, 3072) with N labels")
    return data.reshape(-1, 3, 32, 32), labels
