"""Tiny MNIST-format data sets written through the same IDX code the trainer reads."""
import numpy as np

from mnist_cnn.data import FILES, write_idx


def write_tiny_mnist(root, n_train=200, n_test=100, seed=0):
    """Digits drawn as a bright bar whose row depends on the label, plus noise."""
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        images[np.arange(n), 2 + 2 * labels, 4:24] = 255
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    assert all((raw / name).exists() for name in FILES)
    return root


STEPS_PER_EPOCH = 20  # write_tiny_mnist's 200 training images, batch 10


def run_args(data_dir, tmp_path, *extra, summaries: bool = False) -> list[str]:
    """The trainer's flags for a short run named 't' on tiny data, its folders under tmp_path."""
    return ["--data-dir", str(data_dir), "--logdir", str(tmp_path / "runs"), "--checkpoint-dir",
            str(tmp_path / "ckpt"), "--batch-size", "10", "--run-name", "t",
            *([] if summaries else ["--no-summaries"]), *extra]
