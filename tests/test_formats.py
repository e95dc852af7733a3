import pickle

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from trainers.errors import DataError
from trainers.data.formats import read_cifar_batch, read_idx

from conftest import write_cifar_like, write_idx


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float32])
def test_idx_round_trip(tmp_path, name, dtype):
    array = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    if dtype == np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    got = read_idx(write_idx(tmp_path / name, array))
    assert got.shape == (2, 3, 4) and got.dtype == array.dtype
    np.testing.assert_array_equal(got, array)


def test_idx_header_is_big_endian(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 8, 9]))  # 1-D, 3 bytes
    np.testing.assert_array_equal(read_idx(path), [7, 8, 9])


def test_idx_bad_magic(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(b"\x01\x02\x03\x04hello")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(path)


def test_idx_truncated(tmp_path):
    path = write_idx(tmp_path / "x.idx", np.zeros((4, 5), np.uint8))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DataError, match="truncated or corrupt: header promises 20 bytes"):
        read_idx(path)


def test_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "x.idx.gz"
    path.write_bytes(b"\x1f\x8b" + b"garbage")
    with pytest.raises(DataError, match="cannot read"):
        read_idx(path)


def test_cifar_batch_reads_channels_first(tmp_path):
    written = write_cifar_like(tmp_path)
    images, labels = read_cifar_batch(tmp_path / "test_batch")
    assert images.shape == (4, 3, 32, 32) and images.dtype == np.uint8
    # CIFAR rows are the red plane, then green, then blue, each 32x32 row-major.
    np.testing.assert_array_equal(images[1, 2, 3, 4], written["test"][0][1, 2 * 1024 + 3 * 32 + 4])
    np.testing.assert_array_equal(labels, written["test"][1])


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_cifar_refuses_code_in_pickles(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}))
    with pytest.raises(DataError, match="not a CIFAR-10 python batch .*refusing to load builtins.print"):
        read_cifar_batch(path)


def test_cifar_wrong_shape(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DataError, match=r"expected \(N, 3072\)"):
        read_cifar_batch(path)


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(0, 5), min_size=1, max_size=4),
       dtype=st.sampled_from([np.uint8, np.int32, np.float32]), gz=st.booleans(), seed=st.integers(0, 99))
def test_idx_round_trip_any_shape(tmp_path_factory, shape, dtype, gz, seed):
    rng = np.random.default_rng(seed)
    array = (rng.integers(0, 255, size=shape) if dtype == np.uint8 else rng.normal(size=shape) * 1e4).astype(dtype)
    path = tmp_path_factory.mktemp("idx") / ("a.gz" if gz else "a")
    np.testing.assert_array_equal(read_idx(write_idx(path, array)), array)
