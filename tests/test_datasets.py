import numpy as np
import pytest
import torch

from trainers import ConfigError, DataError, load_dataset, stratified_sample
from trainers.data.datasets import DATASETS, system_dataset_folder, channel_stats

from conftest import write_cifar_like, write_idx, write_mnist_like


def test_digits_split_is_pixel_space_and_stratified():
    x_train, y_train = load_dataset("digits", "train")
    x_test, y_test = load_dataset("digits", "test")
    assert x_train.shape == (1437, 1, 8, 8) and x_test.shape == (360, 1, 8, 8)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert x_train.min() == 0 and x_train.max() == 1
    assert torch.bincount(y_test).min() >= 35


def test_mnist_5k_is_a_fixed_stratified_4000_1000_split():
    x_train, y_train = load_dataset("mnist-5k", "train")
    x_test, y_test = load_dataset("mnist-5k", "test")
    assert x_train.shape == (4000, 1, 28, 28) and x_test.shape == (1000, 1, 28, 28)
    assert torch.bincount(y_train).tolist() == [400] * 10
    assert torch.bincount(y_test).tolist() == [100] * 10
    assert 0 <= x_train.min() and x_train.max() == 1
    again, _ = load_dataset("mnist-5k", "train")
    assert torch.equal(again, x_train)
    again[0] = 5  # callers get their own copy
    assert load_dataset("mnist-5k", "train")[0].max() == 1


@pytest.mark.parametrize("dataset, scale", [("digits", 16.0), ("mnist-5k", 255.0)])
def test_bundled_splits_are_scikit_learns_stratified_split(dataset, scale):
    """splits.npz holds train_test_split's indices (so loading needs no scikit-learn): the images and labels
    equal those of load_digits / mnist_data split by scikit-learn, in the same order."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from trainers.data.splits import RAW, TEST_SIZES, sklearn_split, split_indices
    x, y = RAW[dataset]()
    if dataset == "digits":  # read from scikit-learn's file without it: the same arrays as load_digits
        sk_x, sk_y = load_digits(return_X_y=True)
        assert np.array_equal(sk_x, x) and np.array_equal(sk_y, y)
    train, test = sklearn_split(y, TEST_SIZES[dataset])
    assert np.array_equal(split_indices(dataset, "train"), train) and np.array_equal(split_indices(dataset, "test"), test)
    x_train, x_test, y_train, y_test = train_test_split(x / scale, y, test_size=TEST_SIZES[dataset], stratify=y,
                                                        random_state=0)
    for split, images, labels in (("train", x_train, y_train), ("test", x_test, y_test)):
        loaded_x, loaded_y = load_dataset(dataset, split)
        assert torch.equal(loaded_x.flatten(1), torch.from_numpy(images.astype(np.float32)))
        assert torch.equal(loaded_y, torch.from_numpy(labels))


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_from_data_dir(tmp_path, gz):
    written = write_mnist_like(tmp_path / "d", gz=gz)
    images, labels = load_dataset("mnist", "test", tmp_path / "d")
    assert images.shape == (10, 1, 28, 28)
    np.testing.assert_allclose(images[:, 0].numpy(), written["test"][0] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(labels.numpy(), written["test"][1])


def test_fashion_mnist_in_a_subfolder_of_data_dir(tmp_path):
    written = write_mnist_like(tmp_path / "fashion-mnist")
    images, labels = load_dataset("fashion-mnist", "train", tmp_path)
    assert images.shape == (20, 1, 28, 28)
    np.testing.assert_array_equal(labels.numpy(), written["train"][1])


def test_missing_files_name_the_file_and_the_flag(tmp_path):
    with pytest.raises(DataError, match=r"mnist: train-images-idx3-ubyte\[.gz\] not found in .*--data-dir"):
        load_dataset("mnist", "train", tmp_path)


def test_mnist_without_data_dir_says_where_to_put_files():
    with pytest.raises(DataError, match="--data-dir"):
        load_dataset("mnist", "train")


def test_wrong_image_shape(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((3, 8, 8), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    with pytest.raises(DataError, match=r"shape \(3, 8, 8\), expected \(N, 28, 28\)"):
        load_dataset("mnist", "test", tmp_path)


def test_label_count_mismatch(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="3 t10k images but labels of shape"):
        load_dataset("mnist", "test", tmp_path)


def test_labels_out_of_range(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([3, 12], np.uint8))
    with pytest.raises(DataError, match=r"labels span 3..12, expected 0..9"):
        load_dataset("mnist", "test", tmp_path)


def test_cifar10_from_data_dir(tmp_path):
    written = write_cifar_like(tmp_path / "cifar-10-batches-py")
    images, labels = load_dataset("cifar10", "train", tmp_path)
    assert images.shape == (20, 3, 32, 32)
    np.testing.assert_allclose(images.reshape(20, -1).numpy(), written["train"][0] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(labels.numpy(), written["train"][1])


def test_cifar10_missing_batches(tmp_path):
    write_cifar_like(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3 not found"):
        load_dataset("cifar10", "train", tmp_path)


def test_unknown_dataset_and_split_list_valid_names():
    with pytest.raises(ConfigError, match="unknown dataset 'imagenet'; choose one of: cifar10, digits"):
        load_dataset("imagenet", "train")
    with pytest.raises(ConfigError, match="unknown split 'val'; choose one of: test, train"):
        load_dataset("digits", "val")


def test_registry_shapes():
    assert DATASETS["cifar10"].input_shape == (3, 32, 32)
    assert DATASETS["digits"].input_shape == (1, 8, 8)


def test_stratified_sample_k_per_class_grouped_and_seeded():
    labels = torch.tensor([0, 1, 2] * 10)
    idx = stratified_sample(labels, 4, seed=3)
    assert labels[idx].tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert torch.equal(idx, stratified_sample(labels, 4, seed=3))
    assert not torch.equal(idx, stratified_sample(labels, 4, seed=4))
    assert len(set(idx.tolist())) == 12


def test_stratified_sample_too_few():
    with pytest.raises(ConfigError, match="class 1 has only 1 examples"):
        stratified_sample(torch.tensor([0, 0, 1]), 2)


def test_channel_stats():
    images = torch.zeros(2, 3, 2, 2)
    images[:, 1] = 1.0
    images[0, 2] = 2.0
    mean, std = channel_stats(images)
    assert mean == pytest.approx([0.0, 1.0, 1.0])
    assert std[2] == pytest.approx(np.std([2] * 4 + [0] * 4, ddof=1))


@pytest.mark.skipif(not system_dataset_folder("fashion-mnist").is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_the_debian_package():
    images, labels = load_dataset("fashion-mnist", "test")
    assert images.shape == (10000, 1, 28, 28) and torch.bincount(labels).tolist() == [1000] * 10
    assert images.min() == 0 and images.max() == 1


def test_idx_images_with_nan_name_the_file(tmp_path):
    from trainers import DataError
    from trainers.data.datasets import _load_arrays
    from conftest import write_idx
    written = write_mnist_like(tmp_path)
    images = written["train"][0].astype(np.float32)
    images[3, 4, 5] = np.nan
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    _load_arrays.cache_clear()
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz holds NaN or infinite pixels"):
        load_dataset("mnist", "train", tmp_path)
