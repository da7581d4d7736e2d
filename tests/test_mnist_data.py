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


def _rewrite(root, name, array):
    from mnist_cnn.data import write_idx
    write_idx(root / "MNIST" / "raw" / name, array)


@pytest.mark.parametrize("split", ["train", "t10k"])
def test_a_label_out_of_range_is_named_before_training(tmp_path, split):
    """Found when loading (the test set's too), not at the first evaluation."""
    write_tiny_mnist(tmp_path)
    labels = np.zeros(200 if split == "train" else 100, dtype=np.uint8)
    labels[7] = 10
    _rewrite(tmp_path, f"{split}-labels-idx1-ubyte", labels)
    with pytest.raises(DataError, match=f"{split}-labels-idx1-ubyte has label 10 at index 7"):
        load_mnist(str(tmp_path), download=False)


def test_images_of_the_wrong_size_are_named(tmp_path):
    write_tiny_mnist(tmp_path)
    _rewrite(tmp_path, "train-images-idx3-ubyte", np.zeros((200, 28, 27), dtype=np.uint8))
    with pytest.raises(DataError, match="train-images-idx3-ubyte holds 28x27 images, expected 28x28"):
        load_mnist(str(tmp_path), download=False)


def test_a_folder_where_a_file_should_be_is_named(tmp_path):
    write_tiny_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    path.unlink()
    path.mkdir()
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte is not a file"):
        load_mnist(str(tmp_path), download=False)


def test_bad_data_is_one_line_from_the_trainer(tmp_path, capsys):
    from mnist_cnn import train
    write_tiny_mnist(tmp_path)
    _rewrite(tmp_path, "t10k-labels-idx1-ubyte", np.full(100, 12, dtype=np.uint8))
    assert train.main(["--data-dir", str(tmp_path), "--logdir", str(tmp_path / "r"), "--checkpoint-dir",
                       str(tmp_path / "c"), "--steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mnist_cnn: MNIST: ") and "label 12 at index 0" in err and "\n" not in err


def test_a_server_that_never_answers_times_out(tmp_path, monkeypatch):
    """A download from a server that accepts the connection and then says nothing fails in
    one line after the timeout instead of hanging."""
    import socket
    import torchvision.datasets
    from mnist_cnn import data
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)  # accepted by the kernel, never answered
    try:
        monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [f"http://127.0.0.1:{server.getsockname()[1]}/"])
        monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT_S", 0.3)
        with pytest.raises(DataError) as info:
            load_mnist(str(tmp_path / "empty"))
    finally:
        server.close()
    message = str(info.value)
    assert "could not be downloaded" in message and "timed out" in message and "\n" not in message
    assert socket.getdefaulttimeout() is None  # put back
