"""numpy_impl.buffers_kept, the one helper that puts running statistics back after forwards run
only to look (finite differences over a Sequential, byo's probes of one adapted layer): back as
they were, written into whichever arrays hold them afterwards (a user's layer that rebinds its
running_mean on every forward too)."""
import numpy as np
from examples_loader import load_example

from crosscheck.check.byo.norm import UserNorm
from numpy_impl import BatchNorm1d, Linear, Sequential, buffers_kept

BN = load_example("byo_batchnorm_rowmajor")


def test_a_sequentials_running_statistics_are_put_back():
    rng = np.random.default_rng(0)
    model = Sequential([Linear(3, 4), BatchNorm1d(4)]).train()
    model[0].params["weight"][...] = rng.normal(size=(4, 3))
    before = {k: v.copy() for k, v in model.buffer_dict().items()}
    with buffers_kept(model):
        for _ in range(2):
            model.forward(rng.normal(size=(5, 3)))
        assert not np.array_equal(model.buffer_dict()["1.running_mean"], before["1.running_mean"])
    assert all(np.array_equal(model.buffer_dict()[k], v) for k, v in before.items())


def test_a_users_layer_that_rebinds_its_statistics_gets_them_back():
    rng = np.random.default_rng(1)
    obj = BN.BatchNorm1d(4, rng)
    mean, var = obj.running_mean.copy(), obj.running_var.copy()
    layer = UserNorm(obj, 0)
    with buffers_kept(layer):
        layer.forward(rng.normal(size=(6, 4)))
        assert not np.array_equal(obj.running_mean, mean)  # a new array, bound by the user's forward
    assert np.array_equal(obj.running_mean, mean) and np.array_equal(obj.running_var, var)
