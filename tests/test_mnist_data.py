"""MNIST loading: tiny IDX files through the real code path; clear errors for bad files."""
import pathlib

import numpy as np
import pytest
import torch

from mnist_cnn.data import DataError, load_mnist
from mnist_helpers import write_tiny_mnist

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


def test_tiny_files_load(tmp_path):
    write_tiny_mnist(tmp_path)
    tx, ty, vx, vy = load_mnist(str(tmp_path))
    assert tx.shape == (200, 1, 28, 28) and tx.dtype == torch.float32
    assert vx.shape == (100, 1, 28, 28) and vy.dtype == torch.int64
    assert int(ty.max()) <= 9


def test_truncated_file_is_named(tmp_path):
    write_tiny_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte is corrupt or truncated"):
        load_mnist(str(tmp_path))


def test_compressed_file_is_named(tmp_path):
    write_tiny_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"\x1f\x8b\x08\x00" + path.read_bytes())
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte is not an uncompressed IDX file"):
        load_mnist(str(tmp_path))


def test_missing_files_say_where_to_put_them(tmp_path, monkeypatch):
    import torchvision.datasets

    def no_network(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", no_network)
    with pytest.raises(DataError) as info:
        load_mnist(str(tmp_path / "empty"))
    message = str(info.value)
    assert "MNIST/raw" in message and "train-images-idx3-ubyte" in message and "MNIST_DATA_DIR" in message
    assert "\n" not in message


@pytest.mark.skipif(not (SHARED / "MNIST" / "raw" / "train-labels-idx1-ubyte").exists(),
                    reason="the real MNIST files are not in ../shared/data")
def test_real_mnist_loads_offline():
    tx, ty, vx, vy = load_mnist(str(SHARED), download=False)
    assert tx.shape == (60000, 1, 28, 28) and vx.shape == (10000, 1, 28, 28)
    assert ty[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert abs(float(tx.mean())) < 1e-3 and abs(float(tx.std()) - 1) < 1e-3
    assert np.bincount(vy.numpy()).min() > 800
