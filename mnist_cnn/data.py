"""MNIST through torchvision, checked first so that bad files give one clear message."""
from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

import numpy as np
import torch

DATA_ENV = "MNIST_DATA_DIR"  # overrides the default --data-dir
DEFAULT_DATA_DIR = "./data"
FILES = {  # name -> (IDX magic, number of dimensions)
    "train-images-idx3-ubyte": (2051, 3),
    "train-labels-idx1-ubyte": (2049, 1),
    "t10k-images-idx3-ubyte": (2051, 3),
    "t10k-labels-idx1-ubyte": (2049, 1),
}
MEAN, STD = 0.1307, 0.3081  # of the MNIST training pixels in [0, 1]
IMAGE_SHAPE = (28, 28)
DOWNLOAD_TIMEOUT_S = 30.0  # per connection and read: a server that accepts and never answers fails


class DataError(Exception):
    """MNIST is missing or broken; the message says what to do."""


def default_data_dir() -> str:
    return os.environ.get(DATA_ENV, DEFAULT_DATA_DIR)


def check_idx(path: Path) -> int:
    """Validate an uncompressed IDX file's header and length; return its item count."""
    magic_expected, ndim = FILES[path.name]
    if not path.is_file():
        raise DataError(f"MNIST: {path} is not a file; put the uncompressed IDX file {path.name} there")
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            header = f.read(4 + 4 * ndim)
    except OSError as err:
        raise DataError(_unreadable(path, err)) from None
    if len(header) < 4 + 4 * ndim:
        raise DataError(f"MNIST: {path} is truncated: {size} bytes, too short for its header")
    magic, *dims = struct.unpack(f">{1 + ndim}I", header)
    if magic != magic_expected:
        raise DataError(f"MNIST: {path} is not an uncompressed IDX file (magic {magic:#x}, "
                        f"expected {magic_expected:#x}); gunzip it if it is compressed")
    if ndim == 3 and tuple(dims[1:]) != IMAGE_SHAPE:
        raise DataError(f"MNIST: {path} holds {dims[1]}x{dims[2]} images, expected 28x28")
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if size != expected:
        raise DataError(f"MNIST: {path} is corrupt or truncated: {size} bytes, its header promises {expected}")
    return dims[0]


def _raw_dir(data_dir: str) -> Path:
    return Path(data_dir) / "MNIST" / "raw"


def load_mnist(data_dir: str | None = None, download: bool = True):
    """(train_x, train_y, test_x, test_y): images as float32 (N, 1, 28, 28), normalised;
    labels int64. Files are read by torchvision.datasets.MNIST from <data_dir>/MNIST/raw.
    A file or folder that cannot be read (permissions, an I/O error) is a DataError naming it."""
    data_dir = data_dir or default_data_dir()
    for folder in (Path(data_dir), Path(data_dir) / "MNIST", _raw_dir(data_dir)):
        if folder.exists() and not folder.is_dir():
            raise DataError(f"MNIST: {folder} is a file, not a folder; point --data-dir or ${DATA_ENV} "
                            f"at a folder that has MNIST/raw/ inside")
    try:
        return _load_mnist(data_dir, download)
    except OSError as err:
        raise DataError(_unreadable(err.filename or _raw_dir(data_dir), err)) from None


def _unreadable(path, err: OSError) -> str:
    why = "; check its permissions and those of the folders above it" if isinstance(err, PermissionError) else ""
    return f"MNIST: cannot read {path}: {err.strerror or err}{why}"


def _load_mnist(data_dir: str | None, download: bool):
    from torchvision.datasets import MNIST
    data_dir = data_dir or default_data_dir()
    raw = _raw_dir(data_dir)
    present = [name for name in FILES if (raw / name).exists()]
    if len(present) < len(FILES) and not download:
        raise DataError(_missing_message(raw))
    for name in present:
        check_idx(raw / name)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # torchvision's urlopen has no timeout of its own
    try:
        train = MNIST(data_dir, train=True, download=download)
        test = MNIST(data_dir, train=False, download=download)
    except Exception as err:  # no network, a refused download, a broken file
        if isinstance(err, PermissionError) or (isinstance(err, OSError) and len(present) == len(FILES)):
            raise  # unreadable, not missing: named by load_mnist
        if len(present) < len(FILES):
            raise DataError(_missing_message(raw, err)) from None
        raise DataError(f"MNIST: could not read the files in {raw}: {err}") from None
    finally:
        socket.setdefaulttimeout(previous)
    for name in FILES:
        check_idx(raw / name)  # a download may have just put them there
    for split, prefix in ((train, "train"), (test, "t10k")):  # both, before any training
        if len(split.data) != len(split.targets):
            raise DataError(f"MNIST: {raw}/{prefix}-images-idx3-ubyte and its labels hold "
                            f"{len(split.data)} and {len(split.targets)} items; they must match")
        bad = ((split.targets < 0) | (split.targets > 9)).nonzero()
        if len(bad):
            i = int(bad[0])
            raise DataError(f"MNIST: {raw}/{prefix}-labels-idx1-ubyte has label {int(split.targets[i])} "
                            f"at index {i} ({len(bad)} bad in all); labels must be 0-9")
    return (_images(train.data), train.targets.long(), _images(test.data), test.targets.long())


def _images(data: torch.Tensor) -> torch.Tensor:
    return ((data.float() / 255.0 - MEAN) / STD).unsqueeze(1).contiguous()


def _missing_message(raw: Path, err: Exception | None = None) -> str:
    why = f" ({type(err).__name__}: {str(err).splitlines()[0][:120]})" if err else ""
    return (f"MNIST: files not found in {raw} and could not be downloaded{why}. Put the four "
            f"uncompressed IDX files ({', '.join(FILES)}) there, or point --data-dir or "
            f"${DATA_ENV} at a folder that has MNIST/raw/ inside")


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (for tests and tiny synthetic data sets)."""
    magic = 2051 if array.ndim == 3 else 2049
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack(f">{1 + array.ndim}I", magic, *array.shape))
        f.write(np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def load_test_batch(data_dir: str | None, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The first n normalised test images (float64, (n, 1, 28, 28)) and labels; None when the
    files are not there. For a handful of images this reads the validated IDX files directly:
    importing torchvision and decoding all 10,000 images would cost the crosscheck ~3 s."""
    raw = _raw_dir(data_dir or default_data_dir())
    images, labels = raw / "t10k-images-idx3-ubyte", raw / "t10k-labels-idx1-ubyte"
    if not (images.exists() and labels.exists()):
        return None
    n = min(n, check_idx(images), check_idx(labels))
    pixels = np.fromfile(images, dtype=np.uint8, count=n * 28 * 28, offset=16).reshape(n, 1, 28, 28)
    y = np.fromfile(labels, dtype=np.uint8, count=n, offset=8).astype(np.int64)
    return (pixels / 255.0 - MEAN) / STD, y
