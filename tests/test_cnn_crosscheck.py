"""The NumPy MNIST CNN against the torch one: every layer, both modes, both dtypes, and 50
Adam steps."""
import numpy as np
import pytest

from crosscheck import TOL_FLOAT32, TOL_FLOAT64
from crosscheck.presets import PRESETS
from crosscheck.check.spec_check import check_spec
from crosscheck.train.lockstep import TrainConfig
from crosscheck.train.trajectory import check_trajectory
from mnist_cnn.spec import cnn_spec
from numpy_impl import OptimSpec

CASES = [(act, dtype, mode) for act in ("relu", "tanh") for dtype in ("float64", "float32")
         for mode in ("eval", "train")]


@pytest.mark.parametrize("act,dtype,mode", CASES, ids=["-".join(c) for c in CASES])
def test_cnn_layers_agree(act, dtype, mode):
    preset = PRESETS["mnist_cnn"]
    x, y = preset.data()
    result = check_spec(preset.make_spec(act), x, y, dtype=dtype, mode=mode, fd=dtype == "float64",
                        fd_samples=3)
    assert result.passed
    tol = TOL_FLOAT64 if dtype == "float64" else TOL_FLOAT32
    for row in result.rows:
        assert row.local is None or row.local.max_rel <= tol, row.label()
        if not row.routing:
            assert row.acc.max_rel <= tol, row.label()
    if dtype == "float64":
        assert not any(r.routing for r in result.rows)  # float64: no routing excuses needed
        assert result.fd.passed
    names = [r.layer_name for r in result.rows]
    assert any("dropout" in n for n in names) and any("maxpool2d" in n for n in names)


def test_cnn_broken_maxpool_is_pinned():
    from numpy_impl.conv import MaxPool2d
    from crosscheck.check.harness import check_pair
    from crosscheck.check.spec_check import build_pair
    from numpy_impl.init import init_state

    class LastMaxPool(MaxPool2d):  # routes ties and maxima to the wrong element
        def backward(self, dy):
            return super().backward(dy)[:, :, ::-1, ::-1].copy()

    spec = cnn_spec("relu", "xavier", dtype="float64")
    np_model, t_model = build_pair(spec, init_state(spec), "float64")
    np_model.layers[5] = LastMaxPool(2)
    import numpy_impl
    np_model = numpy_impl.Sequential(np_model.layers)
    x, y = PRESETS["mnist_cnn"].data()
    result = check_pair(np_model, t_model, x, y, spec.loss)
    assert {r.layer for r in result.rows if not r.local_ok} == {5}


def test_fifty_adam_steps_agree():
    x, y = PRESETS["mnist_cnn"].data()
    rng = np.random.default_rng(0)
    x = np.concatenate([x, rng.normal(size=(32, 1, 28, 28))])  # 40 images, 5 batches of 8
    y = np.concatenate([y, rng.integers(0, 10, 32)])
    result = check_trajectory(cnn_spec("relu", "xavier", dtype="float64"), x, y,
                              TrainConfig(OptimSpec("adam", 1e-3), batch_size=8), 50)
    assert result.loss_rel.max() <= 1e-8, result.summary()
    assert result.passed


SHARED = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.skipif(not (SHARED / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists(),
                    reason="the real MNIST files are not in ../shared/data")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cnn_on_real_mnist_images(dtype):
    from mnist_cnn.data import load_test_batch
    x, y = load_test_batch(str(SHARED), 8)
    assert y.tolist() == [7, 2, 1, 0, 4, 1, 4, 9]  # the first test labels
    result = check_spec(cnn_spec("relu", "xavier", dtype="float64"), x, y, dtype=dtype, mode="train",
                        fd=False)
    assert result.passed
    assert max(result.worst("forward"), result.worst("gradient")) <= (1e-10 if dtype == "float64" else 1e-4)
